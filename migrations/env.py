"""Alembic environment: the URL comes from portal.db.alembic_config (or PORTAL_/DATABASE_URL)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, pool

from portal.models import metadata as portal_metadata

config = context.config
target_metadata = [portal_metadata]
try:  # the evidence log's tables, when that package provides them
    from anchoring.log import metadata as log_metadata

    target_metadata.append(log_metadata)
except ImportError:  # pragma: no cover
    pass
from portal.dashboards.tables import metadata as dashboards_metadata  # noqa: E402
from portal.evidence.tables import metadata as evidence_metadata  # noqa: E402
from portal.flags.tables import metadata as flags_metadata  # noqa: E402
from portal.intake.tables import metadata as intake_metadata  # noqa: E402
from portal.search.tables import metadata as search_metadata  # noqa: E402
from portal.tokens.tables import metadata as tokens_metadata  # noqa: E402

target_metadata.append(evidence_metadata)
target_metadata.append(search_metadata)
target_metadata.append(flags_metadata)
target_metadata.append(intake_metadata)
target_metadata.append(tokens_metadata)
target_metadata.append(dashboards_metadata)

if not config.get_main_option("sqlalchemy.url"):
    from portal.settings import load_settings

    config.set_main_option("sqlalchemy.url", load_settings()["DATABASE_URL"].replace("%", "%%"))


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = engine_from_config(
        config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.", poolclass=pool.NullPool
    )
    with connectable.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
