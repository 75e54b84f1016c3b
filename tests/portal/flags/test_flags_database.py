"""The flags on a real database (SQLite file, then PostgreSQL) holding generated orders and
real imported OCDS: every planted anomaly found, values recomputed from the releases, a partial
refresh equal to a full one, and the page and JSON answering."""

from __future__ import annotations

import json
from collections import defaultdict

import orjson
import pytest
from flags_support import SEED, publish_lines, publish_real, with_flag_tables
from sqlalchemy import select, update
from support import SHARED, make_app

from ocds.catalogue.generate import generate_orders, planted_anomalies
from ocds.summary import process_facts
from portal import queries
from portal.cli import main
from portal.db import app_engine
from portal.flags import Filters, flagged, flags_of_order, refresh, summary, thresholds
from portal.flags.compute import _ORDER_COLUMNS, BUYER_FLAGS, PAIR_FLAGS, SUPPLIER_FLAGS, _order, buyer_hits
from portal.flags.planted import evaluate
from portal.flags.tables import flag_buyer_pairs, flag_buyer_years, flag_facts, flag_hits, flag_state

#: Enough orders for every captured buyer to place five or more (FLAG_MIN_BUYER_ORDERS): with
#: 1,500, one of them places a single order, which no concentration measure can judge.
ORDERS = 3000
REAL_FILES = sorted((SHARED / "real-ocds").glob("*/releases.jsonl"))


@pytest.fixture
def lines() -> list[bytes]:
    return [orjson.dumps(o) + b"\n" for o in generate_orders(ORDERS, SEED)]


def _hits(conn, exclude=()) -> list[tuple]:
    rows = conn.execute(
        select(
            flag_hits.c.flag,
            flag_hits.c.subject,
            flag_hits.c.scope,
            flag_hits.c.ocid,
            flag_hits.c.buyer_id,
            flag_hits.c.supplier_id,
            flag_hits.c.agreement_ocid,
            flag_hits.c.month,
            flag_hits.c.orders,
            flag_hits.c.value,
        ).where(flag_hits.c.flag.not_in(exclude))
    )
    return sorted((*r[:-1], round(r[-1], 6)) for r in rows)


def _rows(conn, exclude=()) -> dict[int, tuple]:
    """Every stored hit, every column, by id."""
    columns = [c for c in flag_hits.c if c.name != "id"]
    query = select(flag_hits.c.id, *columns).where(flag_hits.c.flag.not_in(exclude))
    return {r[0]: tuple(r[1:]) for r in conn.execute(query)}


def _buyer_sums(conn) -> list[tuple]:
    return [sorted(tuple(r) for r in conn.execute(select(t))) for t in (flag_buyer_pairs, flag_buyer_years)]


def test_planted_anomalies_found_and_partial_refresh_equals_full(database_url, tmp_path, lines):
    engine = with_flag_tables(database_url)
    th = thresholds()
    publish_lines(engine, lines[: ORDERS * 2 // 3], tmp_path, "first.jsonl")
    assert refresh(engine, th).full  # the first refresh computes everything
    with engine.connect() as conn:
        last = conn.execute(select(flag_state.c.value).where(flag_state.c.name == "last_release")).scalar()
    publish_lines(engine, lines[ORDERS * 2 // 3 :], tmp_path, "rest.jsonl")
    partial = refresh(engine, th)
    assert not partial.full and partial.processes > 0
    with engine.connect() as conn:
        after_partial = _hits(conn, exclude=SUPPLIER_FLAGS)
        rows_partial = _rows(conn, exclude=SUPPLIER_FLAGS)
        every_row = _rows(conn)
        sums_partial = _buyer_sums(conn)
    # The same partial refresh again recomputes the same groups from the same facts: a partial
    # refresh rewrites only the flags that changed, so every row stays as it was (same id).
    with engine.begin() as conn:
        conn.execute(update(flag_state).where(flag_state.c.name == "last_release").values(value=last))
    again = refresh(engine, th)
    assert not again.full and again.processes == partial.processes and again.hits == partial.hits
    with engine.connect() as conn:
        assert _rows(conn) == every_row
    assert sums_partial  # the per-buyer sums a partial refresh changed in place
    assert refresh(engine, th, full=True).full
    with engine.connect() as conn:
        assert _buyer_sums(conn) == sums_partial  # digit for digit what summing everything gives
        # The supplier flags reuse figures spanning every supplier from the last full refresh.
        assert _hits(conn, exclude=SUPPLIER_FLAGS) == after_partial
        # Every column of every row kept or written equals what the full refresh wrote.
        assert sorted(_rows(conn, exclude=SUPPLIER_FLAGS).values(), key=repr) == sorted(
            rows_partial.values(), key=repr
        )
        result = evaluate(conn, planted_anomalies(ORDERS, SEED))
    for kind in ("split", "overprice", "dominance"):
        entry = result["recall"][kind]
        assert entry["planted"] > 0 and entry["found"] == entry["planted"], (kind, entry)
    engine.dispose()


def test_database_sums_equal_the_measures_over_the_orders(database_url, tmp_path, lines):
    """The per-buyer flags the database's sums give are those of the pure measures run over
    each buyer's orders one by one."""
    engine = with_flag_tables(database_url)
    publish_lines(engine, lines[:1500], tmp_path, "orders.jsonl")
    th = thresholds()
    refresh(engine, th)
    with engine.connect() as conn:
        groups = defaultdict(list)
        for row in conn.execute(select(*_ORDER_COLUMNS).where(flag_facts.c.live.is_(True))):
            order = _order(row)
            if order.buyer_id is not None:
                groups[order.buyer_id].append(order)
        expected = sorted(
            (h["flag"], h["buyer_id"], h["supplier_id"], h["currency"], round(h["value"], 6), h["orders"])
            for group in groups.values()
            for h in buyer_hits(group, th)
        )
        stored = sorted(
            (r.flag, r.buyer_id, r.supplier_id, r.currency, round(r.value, 6), r.orders)
            for r in conn.execute(select(flag_hits).where(flag_hits.c.flag.in_((*BUYER_FLAGS, *PAIR_FLAGS))))
        )
    assert stored == expected and stored
    engine.dispose()


def test_values_recomputed_from_the_releases(database_url, tmp_path, lines):
    engine = with_flag_tables(database_url)
    publish_lines(engine, lines[:600], tmp_path, "orders.jsonl")
    if REAL_FILES:
        publish_real(engine, REAL_FILES)
    refresh(engine, thresholds())
    with engine.connect() as conn:
        single = set()
        for ocid, quotes in conn.execute(select(flag_facts.c.ocid, flag_facts.c.quotes)):
            compiled = queries.compiled_release(conn, ocid)
            facts = process_facts(compiled)
            bids = len(facts["bids"])
            if bids:
                assert quotes == bids, ocid
            if facts["kind"] != "agreement" and facts["status"] != "cancelled" and quotes == 1:
                single.add(ocid)
        flagged_single = {r["ocid"] for r in flagged(conn, "single_quote", limit=100_000)}
        assert flagged_single == single and single
        # Each order's split group, recomputed from its releases: same buyer and supplier,
        # PEN amounts under the threshold whose sum exceeds it.
        for row in flagged(conn, "split", limit=100_000):
            group = [process_facts(queries.compiled_release(conn, o)) for o in row["detail"]["orders"]]
            assert len({(f["buyer"]["id"], f["supplier"]["id"]) for f in group}) == 1
            amounts = [float(f["value"]["amount"]) for f in group]
            assert all(a < 42_800 for a in amounts) and sum(amounts) > 42_800
    engine.dispose()


def test_page_and_json(database_url, tmp_path, lines):
    engine = with_flag_tables(database_url)
    publish_lines(engine, lines[:800], tmp_path, "orders.jsonl")
    refresh(engine, thresholds())
    with engine.connect() as conn:
        counts = {s["code"]: s["count"] for s in summary(conn)}
        split = flagged(conn, "split", limit=1)[0]
    engine.dispose()
    app = make_app(database_url, tmp_path)
    client = app.test_client()
    body = client.get("/api/flags").get_json()
    assert {f["code"]: f["summary"]["count"] for f in body["flags"]} == counts
    one = client.get("/api/flags?flag=split&limit=1").get_json()["flags"][0]["flagged"][0]
    assert one["ocid"] == split["ocid"] and one["links"]["order"].startswith("/contracts/")
    assert client.get(one["links"]["order"]).status_code == 200
    assert client.get(one["links"]["buyer"]).status_code == 200
    mine = client.get(f"/api/flags/orders/{split['ocid']}").get_json()["flags"]
    assert "split" in {f["flag"] for f in mine}
    page = client.get("/flags").get_data(as_text=True)
    assert "Compra fraccionada" in page and "no prueba" in page.lower()
    assert "Split purchase" in client.get("/flags?lang=en").get_data(as_text=True)
    # Kept until the next refresh, then computed again.
    engine = with_flag_tables(database_url)
    publish_lines(engine, lines[800:1000], tmp_path, "more.jsonl")
    refresh(engine, thresholds())
    with engine.connect() as conn:
        later = {s["code"]: s["count"] for s in summary(conn)}
    engine.dispose()
    assert later != counts
    body = client.get("/api/flags").get_json()
    assert {f["code"]: f["summary"]["count"] for f in body["flags"]} == later
    assert client.get("/api/flags?flag=nope").status_code == 400
    assert "from" in client.get("/api/flags?from=2025-13").get_json()["error"]["detail"]
    assert client.get("/api/flags?limt=3").status_code == 400
    buyer = split["buyer_id"]
    only = client.get(f"/api/flags?flag=split&buyer={buyer}").get_json()["flags"][0]["flagged"]
    assert only and {r["buyer_id"] for r in only} == {buyer}
    with app.app_context():
        with app_engine().connect() as conn:
            assert {r["ocid"] for r in flagged(conn, "split", Filters(buyer=buyer), limit=1000)} == {
                r["ocid"] for r in only
            }
            assert flags_of_order(conn, "no-such-ocid") == []
    app_engine(app).dispose()


def test_cli_writes_json_and_csv(database_url, tmp_path, lines):
    engine = with_flag_tables(database_url)
    publish_lines(engine, lines[:500], tmp_path, "orders.jsonl")
    engine.dispose()
    app = make_app(database_url, tmp_path)
    runner = app.test_cli_runner()
    out = tmp_path / "flags.json"
    result = runner.invoke(main, ["flags", "--out", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert len(data["flags"]) >= 10 and data["flagged"]
    assert {"ocid", "buyer_id", "supplier_id", "links"} <= set(data["flagged"][0])
    csv_out = tmp_path / "flags.csv"
    result = runner.invoke(main, ["flags", "--format", "csv", "--out", str(csv_out)])
    assert result.exit_code == 0, result.output
    rows = csv_out.read_text().splitlines()
    assert rows[0].startswith("flag,subject,ocid,buyer_id") and len(rows) == len(data["flagged"]) + 1
    app_engine(app).dispose()
