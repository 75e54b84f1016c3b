"""Each published row points at its evidence-log entry (``leaf_index``), and migration 0009.

Runs on a real SQLite file and a real PostgreSQL database.
"""

from __future__ import annotations

from builders import example_order
from evidence_builders import order_ocid, publish_examples
from sqlalchemy import create_engine, select, text, update

from anchoring.entries import ProformaEntry, ReleaseEntry, decode_entry
from portal.cli import main
from portal.db import app_engine
from portal.evidence import store
from portal.models import proformas, releases


def _pointers(conn) -> dict[tuple[str, str, str], int]:
    out = {}
    for table, ident in ((releases, releases.c.release_id), (proformas, proformas.c.proforma_id)):
        for row in conn.execute(select(table.c.ocid, ident, table.c.leaf_index)):
            out[(table.name, row[0], row[1])] = row[2]
    return out


def test_every_row_points_at_its_own_entry(app, tmp_path):
    publish_examples(app, tmp_path)
    with app_engine(app).connect() as conn:
        pointers = _pointers(conn)
        entries = store.entries(conn, 0, store.size(conn))
    assert sorted(pointers.values()) == list(range(len(entries)))
    for (table, ocid, ident), index in pointers.items():
        entry = decode_entry(entries[index])
        kind, logged_id = {
            "releases": (ReleaseEntry, "release_id"),
            "proformas": (ProformaEntry, "proforma_id"),
        }[table]
        assert isinstance(entry, kind)
        assert (entry.ocid, getattr(entry, logged_id)) == (ocid, ident)
    # Quotes are logged before the releases that link them.
    for (table, ocid, _), index in pointers.items():
        if table == "proformas":
            assert all(i > index for (t, o, _), i in pointers.items() if t == "releases" and o == ocid)


def test_a_wrong_leaf_index_is_named_by_audit(app, runner, tmp_path):
    publish_examples(app, tmp_path)
    assert runner.invoke(main, ["anchor"]).exit_code == 0
    ocid = order_ocid(example_order("1-single"))
    other = order_ocid(example_order("2-package"))
    with app_engine(app).begin() as conn:
        mine, theirs = (
            conn.execute(select(releases.c.leaf_index).where(releases.c.ocid == o)).scalar_one()
            for o in (ocid, other)
        )
        # Swap the two pointers (through a free value: the index is unique).
        for o, value in ((ocid, -1), (other, mine), (ocid, theirs)):
            conn.execute(update(releases).where(releases.c.ocid == o).values(leaf_index=value))
    result = runner.invoke(main, ["audit"])
    assert result.exit_code == 1
    assert f"{ocid} release" in result.output and "points at another log entry" in result.output
    # The proof endpoint does not prove a release with another release's entry.
    client = app.test_client()
    assert client.get(f"/api/proofs/{ocid}").status_code == 404


def test_migration_0009_moves_the_log_and_keeps_every_proof(app, database_url, tmp_path):
    """Down to 0008 (one row per entry + evidence_leaves) and up again: same log, same rows."""
    from alembic import command

    from portal.db import alembic_config, upgrade

    publish_examples(app, tmp_path)
    engine = app_engine(app)
    with engine.connect() as conn:
        before = _pointers(conn)
        size = store.size(conn)
        entries = store.entries(conn, 0, size)
        root = store.root(conn, size)
    engine.dispose()

    command.downgrade(alembic_config(database_url), "0008")
    plain = create_engine(database_url)
    with plain.connect() as conn:
        old = conn.execute(text("SELECT idx, entry FROM log_entries ORDER BY idx")).all()
        assert [bytes(r.entry) for r in old] == entries
        assert conn.execute(text("SELECT count(*) FROM evidence_leaves")).scalar_one() == size
    plain.dispose()

    upgrade(database_url)
    with engine.connect() as conn:
        assert _pointers(conn) == before
        assert store.entries(conn, 0, size) == entries
        assert store.root(conn, size) == root
        assert store.audit(conn, None) == []


def test_a_row_altered_with_its_hash_is_proven_as_logged(app, runner, tmp_path):
    """Changing a release AND its data_hash column cannot make the portal prove the change:
    the bundle carries what was logged, and the served release fails the release-hash step."""
    import hashlib
    import json

    from anchoring.bundle import ProofBundle, verify_bundle

    publish_examples(app, tmp_path)
    assert runner.invoke(main, ["anchor"]).exit_code == 0
    ocid = order_ocid(example_order("1-single"))
    client = app.test_client()
    original = client.get(f"/api/proofs/{ocid}").get_json()
    with app_engine(app).begin() as conn:
        row = conn.execute(select(releases.c.id, releases.c.data).where(releases.c.ocid == ocid)).one()
        doc = json.loads(row.data)
        doc["tender"]["title"] = "altered"
        from anchoring.canonical import canonical_json

        data = canonical_json(doc)
        conn.execute(
            update(releases)
            .where(releases.c.id == row.id)
            .values(data=data, data_hash=hashlib.sha256(data).hexdigest())
        )
    response = client.get(f"/api/proofs/{ocid}")
    assert response.status_code == 200
    body = response.get_json()
    assert body["hashes"] == original["hashes"] and body["entry"] == original["entry"]
    steps = {s.name: s for s in verify_bundle(ProofBundle.from_dict(body), release=doc)}
    assert not steps["release-hash"].passed
    assert steps["inclusion"].passed
