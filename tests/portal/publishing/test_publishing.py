"""The publishing pipeline end to end on a real SQLite file and a real PostgreSQL database."""

from __future__ import annotations

import orjson
from builders import all_examples, example_order, write_jsonl
from sqlalchemy import create_engine, func, select

from ocds.validate import ReleaseValidator
from portal.models import proformas, records, releases, source_orders
from portal.publishing import import_orders
from portal.queries import compiled_release

PREFIX = "ocds-test01"


def _import(engine, path, **kw):
    return import_orders(engine, path, ocid_prefix=PREFIX, workers=kw.pop("workers", 1), **kw)


def _count(engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_every_shape_publishes_valid_ocds(database_url, tmp_path):
    engine = create_engine(database_url)
    orders = all_examples()
    summary = _import(engine, write_jsonl(tmp_path / "o.jsonl", orders))
    assert summary.rejects == []
    assert summary.new_orders == len(orders)
    validator = ReleaseValidator()
    with engine.connect() as conn:
        rows = conn.execute(select(releases.c.data, releases.c.ocid, releases.c.tags)).all()
        recs = {r.ocid: r for r in conn.execute(select(records)).all()}
    order_ocids = {f"{PREFIX}-{o['orderNumber']}" for o in orders}
    assert order_ocids <= {r.ocid for r in rows}
    for row in rows:
        assert validator.problems(orjson.loads(row.data)) == []
    for ocid in order_ocids:
        rec = recs[ocid]
        assert rec.kind == "order"
        with engine.connect() as conn:
            compiled = compiled_release(conn, ocid)
        assert compiled["tag"] == ["compiled"]
        assert compiled["relatedProcesses"][0]["relationship"] == ["framework"]
        assert rec.agreement_ocid in recs and recs[rec.agreement_ocid].kind == "agreement"
        assert rec.amount is not None and rec.buyer_id and rec.supplier_id
    engine.dispose()


def test_reimport_changes_nothing_and_new_version_is_a_new_release(database_url, tmp_path):
    engine = create_engine(database_url)
    order = example_order("1-single")
    path = write_jsonl(tmp_path / "o.jsonl", [order])
    first = _import(engine, path)
    assert first.rejects == [] and first.published_releases == 2  # agreement + order
    with engine.connect() as conn:
        # Ordered: without ORDER BY the row order is the plan's (an index on data_hash exists).
        by_id = select(releases.c.id, releases.c.data_hash).order_by(releases.c.id)
        before = conn.execute(by_id).all()
    again = _import(engine, path)
    assert again.published_releases == 0 and again.unchanged == 1
    with engine.connect() as conn:
        assert conn.execute(by_id).all() == before

    amended = example_order("1-single", version=2)
    amended["amendments"] = [
        {
            "id": "A1",
            "version": 2,
            "date": "2025-03-10T12:00:00-05:00",
            "rationale": "Cambio de fecha de entrega",
            "changes": [
                {
                    "field": "destinations/0/deliveries/0/dueDate",
                    "previous": "2025-03-14",
                    "new": "2025-03-20",
                }
            ],
        }
    ]
    amended["destinations"][0]["deliveries"][0]["dueDate"] = "2025-03-20"
    result = _import(engine, write_jsonl(tmp_path / "a.jsonl", [amended]))
    assert result.rejects == [], [str(r) for r in result.rejects]
    ocid = f"{PREFIX}-{order['orderNumber']}"
    with engine.connect() as conn:
        tags = [
            r.tags
            for r in conn.execute(
                select(releases.c.tags).where(releases.c.ocid == ocid).order_by(releases.c.id)
            )
        ]
        rec = conn.execute(select(records).where(records.c.ocid == ocid)).one()
        # the first release is untouched
        assert (
            conn.execute(
                select(releases.c.id, releases.c.data_hash)
                .where(releases.c.id.in_([b.id for b in before]))
                .order_by(releases.c.id)
            ).all()
            == before
        )
    assert len(tags) == 2 and "contractAmendment" in tags[1].split(",")
    assert rec.release_count == 2
    compiled = orjson.loads(rec.compiled)
    assert compiled["contracts"][0]["amendments"][0]["id"]
    engine.dispose()


def test_bad_input_is_reported_and_valid_orders_kept(database_url, tmp_path):
    engine = create_engine(database_url)
    good = example_order("1-single")
    negative = example_order("2-package", orderNumber="OC-2025-900001")
    negative["items"][0]["quantity"] = -3
    currency = example_order("3-partial", orderNumber="OC-2025-900002")
    currency["items"][0]["currency"] = "XXY"
    missing = example_order("4-multi-destination", orderNumber="OC-2025-900003")
    del missing["buyer"]
    duplicate = example_order("1-single")
    duplicate["items"][0]["unitPrice"] = 99.0  # same number and version, other content
    lines = [
        good,
        "{not json",
        negative,
        currency,
        missing,
        '["an", "array"]',
        duplicate,
        example_order("5-multi-destination-partial"),
    ]
    summary = _import(engine, write_jsonl(tmp_path / "bad.jsonl", lines))
    by_line = {}
    for r in summary.rejects:
        by_line.setdefault(int(r.line), []).append(r)
    assert set(by_line) == {2, 3, 4, 5, 6, 7}
    assert by_line[2][0].reason.startswith("Line is not valid JSON")
    assert any(r.field == "items/0/quantity" for r in by_line[3])
    assert any(r.field == "items/0/currency" for r in by_line[4])
    assert [(r.field, r.reason) for r in by_line[5]] == [("buyer", "Required field is missing.")]
    assert by_line[7][0].field == "version" and "different content" in by_line[7][0].reason
    assert by_line[3][0].record == "OC-2025-900001"
    # valid orders stored, rejected ones entirely absent (never half-written)
    with engine.connect() as conn:
        numbers = set(conn.execute(select(source_orders.c.order_number)).scalars())
        ocids = set(conn.execute(select(releases.c.ocid)).scalars())
    assert numbers == {good["orderNumber"], lines[-1]["orderNumber"]}
    assert not any("9000" in o for o in ocids)
    engine.dispose()


def test_parallel_workers_give_the_same_result_as_one(sqlite_url, tmp_path):
    from portal.db import upgrade

    orders = [
        example_order(name, orderNumber=f"OC-2025-{i:06d}")
        for i, name in enumerate(["1-single", "2-package", "3-partial"] * 30)
    ]
    path = write_jsonl(tmp_path / "o.jsonl", orders)
    other = f"sqlite:///{tmp_path / 'other.sqlite3'}"
    upgrade(other)
    one, two = create_engine(sqlite_url), create_engine(other)
    s1 = _import(one, path, batch_size=7)
    s2 = _import(two, path, batch_size=7, workers=2)
    assert s1.rejects == s2.rejects == []
    query = select(releases.c.ocid, releases.c.release_id, releases.c.data_hash).order_by(
        releases.c.ocid, releases.c.release_id
    )
    with one.connect() as c1, two.connect() as c2:
        assert c1.execute(query).all() == c2.execute(query).all()
        assert _count(one, proformas) == _count(two, proformas) > 0
    one.dispose()
    two.dispose()


def test_stored_order_pdfs_are_the_ones_their_releases_list(database_url, tmp_path):
    # The worker hashes each PDF once; the writer stores that hash beside the bytes.
    import hashlib

    from portal.documents.listing import order_pdf_sha256
    from portal.models import order_pdfs

    engine = create_engine(database_url)
    orders = all_examples()
    summary = _import(engine, write_jsonl(tmp_path / "o.jsonl", orders), base_url="https://veraz.example")
    assert summary.rejects == []
    with engine.connect() as conn:
        pdfs = conn.execute(
            select(order_pdfs.c.ocid, order_pdfs.c.release_id, order_pdfs.c.sha256, order_pdfs.c.data)
        ).all()
        listed = {
            (r.ocid, r.release_id): order_pdf_sha256(orjson.loads(r.data))
            for r in conn.execute(select(releases.c.ocid, releases.c.release_id, releases.c.data))
        }
    assert len(pdfs) == len(orders)
    for row in pdfs:
        assert bytes(row.data).startswith(b"%PDF-1.4\n")
        assert row.sha256 == hashlib.sha256(row.data).hexdigest() == listed[(row.ocid, row.release_id)]
    engine.dispose()


def test_browse_columns_of_a_release_equal_those_of_its_compiled_release():
    """Why one-release records need no stored compiled release for their browse columns."""
    from ocds.catalogue.generate import generate_orders
    from ocds.catalogue.mapping import map_order
    from ocds.compile import compile_release
    from ocds.summary import browse_columns

    for order in generate_orders(400, 11):
        release = map_order(order, ocid_prefix=PREFIX).order_release
        assert browse_columns(release) == browse_columns(compile_release([release]))


def test_migrations_downgrade_and_upgrade_keep_records(tmp_path):
    from alembic import command

    from portal.db import alembic_config, upgrade

    url = f"sqlite:///{tmp_path / 'm.sqlite3'}"
    upgrade(url)
    engine = create_engine(url)
    _import(engine, write_jsonl(tmp_path / "o.jsonl", all_examples()))
    command.downgrade(alembic_config(url), "0007")  # stores the derived compiled releases
    with engine.connect() as conn:
        assert all(r.compiled for r in conn.execute(select(records.c.compiled)))
    upgrade(url)
    engine.dispose()


def test_an_import_collects_garbage_less_often_and_restores_the_setting(sqlite_url, tmp_path):
    import gc

    from portal.publishing.orders import YOUNG_COLLECTION_THRESHOLD

    engine = create_engine(sqlite_url)
    before = gc.get_threshold()
    during = []
    path = write_jsonl(tmp_path / "o.jsonl", [example_order("1-single")])
    summary = _import(engine, path, progress=lambda _: during.append(gc.get_threshold()))
    assert summary.rejects == [] and summary.new_orders == 1
    assert during and all(t[0] >= YOUNG_COLLECTION_THRESHOLD for t in during)
    assert gc.get_threshold() == before
    engine.dispose()
