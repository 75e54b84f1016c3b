"""Orders published through the intake API reach the dashboards' summaries and the red flags by
the watcher's round (portal/derived.py), not by a refresh per request."""

from __future__ import annotations

import json

from builders import example_order
from intake_support import bearer, token
from sqlalchemy import select

from portal import queries
from portal.db import app_engine
from portal.derived import DerivedRefresh
from portal.evidence.audit import audit
from portal.flags.tables import flag_state


def _flags_last_release(engine) -> int | None:
    with engine.connect() as conn:
        value = conn.execute(select(flag_state.c.value).where(flag_state.c.name == "last_release")).scalar()
    return None if value is None else json.loads(value)


def test_the_watchers_round_refreshes_what_intake_orders_change(app, client):
    app.config["FLAGS_AFTER_IMPORT"] = True
    engine = app_engine(app)
    derived = DerivedRefresh()
    assert derived.due(engine, app.config)  # the first round refreshes
    assert not derived.due(engine, app.config)  # nothing new: nothing done

    response = client.post(
        "/api/intake/orders", json=example_order("3-partial"), headers=bearer(token(app, "orders"))
    )
    assert response.status_code == 201, response.get_json()
    with engine.connect() as conn:
        last = queries.last_release_id(conn)
    assert _flags_last_release(engine) != last  # the request itself refreshed nothing

    assert derived.due(engine, app.config)
    assert _flags_last_release(engine) == last
    report = audit(engine, app.config)
    assert report.problems == [], [str(p) for p in report.problems]
    assert not derived.due(engine, app.config)
