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


def test_a_quote_looked_up_before_its_order_says_it_is_logged_and_waiting(app, client):
    """/verify?q=<a quote's hash> before the order citing it is published: the truth (logged on
    arrival, entry N, order not yet published) and the quote's proof, not a dead link."""
    from intake_support import example_quotes

    quote = example_quotes()[0]
    sent = client.post("/api/intake/quotes", json=quote, headers=bearer(token(app, "quotes")))
    assert sent.status_code == 201, sent.get_json()
    (receipt,) = sent.get_json()["receipts"]
    page = client.get(f"/verify?q={receipt['quoteHash']}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert f"entrada {receipt['leafIndex']}" in text and "aún no se ha publicado" in text
    assert "aún no está sellada" in text  # logged, not yet under a checkpoint: said so
    proof = receipt["proofUrl"].split("localhost", 1)[-1]
    assert proof.replace("&", "&amp;") in text
    assert client.get(proof).status_code == 202  # pending, as the page says

    from portal.evidence.sealing import seal

    assert seal(app_engine(app), app.config) is not None  # the next checkpoint
    text = client.get(f"/verify?q={receipt['quoteHash']}").get_data(as_text=True)
    assert "bajo un punto de control firmado" in text and "aún no está sellada" not in text
    english = client.get(f"/verify?q={receipt['quoteHash']}&lang=en").get_data(as_text=True)
    assert f"entry {receipt['leafIndex']}" in english and "not published yet" in english
    assert client.get(proof).status_code == 200


def test_a_checkpoints_evidence_pdf_stays_its_record_after_the_order_arrives(app, client, runner):
    """A quote sealed and anchored before its order exists: the checkpoint's evidence PDF shows
    no order number, and still does when the audit renders it again after the order arrives."""
    from intake_support import example_quotes

    from portal.cli import main

    (quote, _) = example_quotes()
    assert (
        client.post("/api/intake/quotes", json=quote, headers=bearer(token(app, "quotes"))).status_code == 201
    )
    anchored = runner.invoke(main, ["anchor"])  # seals, anchors, signs the evidence PDF
    assert anchored.exit_code == 0, anchored.output
    order = client.post(
        "/api/intake/orders", json=example_order("3-partial"), headers=bearer(token(app, "orders"))
    )
    assert order.status_code == 201, order.get_json()
    report = audit(app_engine(app), app.config)
    assert report.problems == [], [str(p) for p in report.problems]
