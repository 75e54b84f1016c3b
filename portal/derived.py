"""Keeping what is derived from the published data current when no import command runs.

``veraz import-orders``, ``import-ocds`` and ``demo`` refresh the dashboards' summary tables and
the red flags when they finish. Orders published through the intake API arrive one request at a
time, and a refresh per request would cost more than the request; ``veraz anchor --watch`` (the
process that seals the log every few seconds) refreshes them instead, once per change of the
last published release. Until then the dashboards read ``records`` (their summaries are used only
when current) and ``veraz audit`` says the flags are behind: nothing stale is shown as current.
"""

from __future__ import annotations

import logging

from sqlalchemy import Engine, inspect

from portal import queries

log = logging.getLogger(__name__)


class DerivedRefresh:
    """One watcher's memory of the last release it refreshed the derived tables for."""

    def __init__(self) -> None:
        self.seen: int | None = None

    def due(self, engine: Engine, config: dict) -> bool:
        """Refresh the dashboards' summaries and (with FLAGS_AFTER_IMPORT) the red flags when
        releases were published since the last round; True when a refresh ran."""
        from portal.dashboards import rollup
        from portal.flags import refresh, thresholds

        with engine.connect() as conn:
            last = queries.last_release_id(conn)
        if last == self.seen:
            return False
        tables = set(inspect(engine).get_table_names())
        if "dash_state" in tables:
            rollup.refresh(engine)
        if config.get("FLAGS_AFTER_IMPORT") and "flag_state" in tables:
            refresh(engine, thresholds(config))
        self.seen = last
        return True
