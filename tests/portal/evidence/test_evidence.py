"""Evidence end to end: publish -> log -> seal -> anchor (embedded chain, embedded TSA) -> prove.

Runs on a real SQLite file and a real PostgreSQL database, the real py-evm chain, the real
embedded TSA and the real ``openssl ts -verify``.
"""

from __future__ import annotations

import hashlib
import json

import orjson
from builders import example_order
from evidence_builders import (
    openssl_verify_token,
    order_ocid,
    publish_examples,
    schema_validator,
)
from sqlalchemy import func, select, update

from anchoring.bundle import ProofBundle, verify_bundle
from anchoring.bundle_network import verify_timestamps
from portal.cli import main
from portal.db import app_engine
from portal.evidence import store
from portal.evidence.tables import anchors
from portal.models import proformas, releases


def _count(app, table) -> int:
    with app_engine(app).connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_every_release_and_proforma_is_logged_in_the_publishing_transaction(app, tmp_path):
    publish_examples(app, tmp_path)
    with app_engine(app).connect() as conn:
        size = store.size(conn)
    assert size == _count(app, releases) + _count(app, proformas)
    # The same data again publishes nothing and logs nothing.
    publish_examples(app, tmp_path, name="again")
    with app_engine(app).connect() as conn:
        assert store.size(conn) == size


def test_pending_before_sealing(app, client, tmp_path):
    publish_examples(app, tmp_path)
    ocid = order_ocid(example_order("2-package"))
    response = client.get(f"/api/proofs/{ocid}")
    assert response.status_code == 202
    body = response.get_json()
    assert body["status"] == "pending"
    assert "inclusionProof" not in body and "checkpoint" not in body
    schema_validator().validate(body)
    steps = {s.name: s for s in verify_bundle(ProofBundle.from_dict(body))}
    assert steps["leaf-hash"].passed and steps["entry"].passed
    assert steps["inclusion"].status == "FAIL"


def test_seal_anchor_and_prove(app, client, runner, tmp_path):
    publish_examples(app, tmp_path)
    result = runner.invoke(main, ["anchor"])
    assert result.exit_code == 0, result.output
    with app_engine(app).connect() as conn:
        rows = conn.execute(select(anchors.c.type, anchors.c.status)).all()
    assert sorted(rows) == [("evm", "done"), ("rfc3161", "done")]

    order = example_order("2-package")
    ocid = order_ocid(order)
    response = client.get(f"/api/proofs/{ocid}")
    assert response.status_code == 200
    body = response.get_json()
    schema_validator().validate(body)
    assert body["status"] == "complete"
    assert body["hashes"]["document"] is None
    assert len(body["proformas"]) == len(order["proformas"]) == 2
    assert body["hashes"]["proformas"] is not None
    assert {a["type"] for a in body["anchors"]} == {"evm", "rfc3161"}

    # Byte-exact round trip of the bundle value.
    bundle = ProofBundle.from_json(response.data)
    assert bundle.to_json() == response.data
    assert ProofBundle.from_json(bundle.to_json()) == bundle

    # Every pure step passes with the published release.
    release = client.get(f"/api/releases/{body['releaseId']}?ocid={ocid}").get_json()["releases"][0]
    assert hashlib.sha256(orjson.dumps(release, option=orjson.OPT_SORT_KEYS)).hexdigest()
    steps = verify_bundle(bundle, release=release)
    assert [s.name for s in steps if not s.passed] == ["document-hash"]  # SKIP: no PDF given
    ca = client.get("/api/log/tsa-ca.pem").data
    assert [s.status for s in verify_timestamps(bundle, ca)] == ["PASS"]

    # The real openssl accepts the token over the checkpoint note.
    done = openssl_verify_token(tmp_path, body, ca)
    assert done.returncode == 0 and "Verification: OK" in done.stdout, done.stdout + done.stderr

    # An earlier release of the same ocid by ?release=.
    with app_engine(app).connect() as conn:
        ids = conn.execute(select(releases.c.release_id).where(releases.c.ocid == ocid)).scalars()
        first = sorted(ids)[0]
    other = client.get(f"/api/proofs/{ocid}?release={first}")
    assert other.status_code == 200 and other.get_json()["releaseId"] == first
    assert client.get(f"/api/proofs/{ocid}?release=nope").status_code == 404
    assert client.get("/api/proofs/ocds-none-1").status_code == 404


def test_new_entries_get_a_newer_checkpoint(app, client, runner, tmp_path):
    publish_examples(app, tmp_path, [example_order("1-single")], name="a")
    assert runner.invoke(main, ["anchor"]).exit_code == 0
    publish_examples(app, tmp_path, [example_order("2-package")], name="b")
    ocid = order_ocid(example_order("2-package"))
    assert client.get(f"/api/proofs/{ocid}").status_code == 202
    assert runner.invoke(main, ["anchor"]).exit_code == 0
    # Nothing pending: no new checkpoint, still exit 0.
    assert runner.invoke(main, ["anchor"]).exit_code == 0
    history = client.get("/api/log/checkpoints").get_json()["checkpoints"]
    assert len(history) == 2 and history[0]["treeSize"] > history[1]["treeSize"]
    body = client.get(f"/api/proofs/{ocid}").get_json()
    assert body["treeSize"] == history[0]["treeSize"]


def test_chain_and_tsa_down_leave_anchors_pending_with_backoff(database_url, tmp_path):
    from support import make_app

    app = make_app(
        database_url,
        tmp_path,
        EVM_RPC_URL="http://127.0.0.1:9",
        EVM_CHAIN_ID=31337,
        EVM_CONTRACT_ADDRESS="0x" + "11" * 20,
        EVM_KEY_FILE=str(tmp_path / "none.key"),
        TSA_URL="http://127.0.0.1:9/tsa",
        TSA_CA_FILE=str(tmp_path / "none.pem"),
        ANCHOR_TIMEOUT=2,
        ANCHOR_RETRY_BASE=30,
    )
    try:
        publish_examples(app, tmp_path)
        result = app.test_cli_runner().invoke(main, ["anchor"])
        assert result.exit_code == 1
        assert "still pending" in result.output
        with app_engine(app).connect() as conn:
            rows = conn.execute(select(anchors)).mappings().all()
        assert {r["status"] for r in rows} == {"failed-retrying"}
        assert all(r["attempts"] == 1 and r["last_error"] for r in rows)
        # The portal keeps serving and shows them as pending; no error text is published.
        client = app.test_client()
        history = client.get("/api/log/checkpoints").get_json()["checkpoints"]
        assert [a["status"] for a in history[0]["anchors"]] == ["pending", "pending"]
        assert all("lastError" not in a for a in history[0]["anchors"])
        body = client.get(f"/api/proofs/{order_ocid(example_order('1-single'))}").get_json()
        assert body["status"] == "complete"
        assert [a["status"] for a in body["anchors"]] == ["pending", "pending"]
        schema_validator().validate(body)
        # The watcher does not retry before the backoff has passed.
        from portal.evidence.backends import Backends
        from portal.evidence.sealing import anchor_pending

        assert anchor_pending(app_engine(app), app.config, Backends(app.config)) == []
        with app_engine(app).begin() as conn:
            conn.execute(update(anchors).values(next_attempt_at=rows[0]["created_at"]))
        again = anchor_pending(app_engine(app), app.config, Backends(app.config))
        assert [r.status for r in again] == ["failed-retrying"] * 2
        with app_engine(app).connect() as conn:
            rows = conn.execute(select(anchors)).mappings().all()
        assert {r["attempts"] for r in rows} == {2}
    finally:
        app_engine(app).dispose()


def test_audit_passes_then_names_altered_and_deleted_rows(app, runner, tmp_path):
    publish_examples(app, tmp_path)
    assert runner.invoke(main, ["anchor"]).exit_code == 0
    result = runner.invoke(main, ["audit"])
    assert result.exit_code == 0, result.output

    ocid = order_ocid(example_order("1-single"))
    with app_engine(app).begin() as conn:
        row = conn.execute(select(releases.c.id, releases.c.data).where(releases.c.ocid == ocid)).first()
        doc = json.loads(row.data)
        doc["tender"]["title"] = "altered"
        conn.execute(
            update(releases)
            .where(releases.c.id == row.id)
            .values(data=orjson.dumps(doc, option=orjson.OPT_SORT_KEYS))
        )
        victim = conn.execute(select(proformas.c.id, proformas.c.ocid)).first()
        conn.execute(proformas.delete().where(proformas.c.id == victim.id))
    result = runner.invoke(main, ["audit"])
    assert result.exit_code == 1
    assert f"{ocid} release" in result.output and "step data-hash" in result.output
    assert "step entry" in result.output
    assert victim.ocid in result.output and "step log" in result.output


def test_one_anchoring_process_at_a_time(app, runner, tmp_path):
    from portal.evidence.sealing import anchoring_lock

    publish_examples(app, tmp_path)
    with anchoring_lock(app.config) as holder:
        assert holder is None  # this test holds it, as a running watcher would
        result = runner.invoke(main, ["anchor"])
        assert result.exit_code == 0, result.output
        assert "left to the running watcher" in result.output
        assert runner.invoke(main, ["anchor", "--watch"]).exit_code == 1
        with app_engine(app).connect() as conn:
            assert store.latest(conn) is not None  # sealed
            states = conn.execute(select(anchors.c.status)).scalars().all()
        assert set(states) == {"pending"}  # not anchored by the second process
    assert runner.invoke(main, ["anchor"]).exit_code == 0


def test_a_backlog_is_sealed_as_checkpoints_of_at_most_max_entries(database_url, tmp_path):
    """MAX_CHECKPOINT_ENTRIES: ``veraz anchor`` seals a long backlog as several checkpoints,
    each anchored, each with its own evidence PDF of at most that many entries."""
    from support import make_app

    from portal.evidence import pdfs

    app = make_app(database_url, tmp_path, MAX_CHECKPOINT_ENTRIES=4)
    try:
        publish_examples(app, tmp_path)
        runner = app.test_cli_runner()
        result = runner.invoke(main, ["anchor"])
        assert result.exit_code == 0, result.output
        with app_engine(app).connect() as conn:
            size = store.size(conn)
            sizes = [c.size for c in store.checkpoints(conn)]
            assert size > 8
            assert sizes == [*range(4, size, 4), size]
            states = conn.execute(select(anchors.c.tree_size, anchors.c.status)).all()
            assert {s for s, _ in states} == set(sizes)
            assert {status for _, status in states} == {"done"}
            for before, after in zip([0, *sizes], sizes, strict=False):
                record = pdfs.evidence_record(conn, app.config, after)
                assert [e.index for e in record.entries] == list(range(before, after))
        result = runner.invoke(main, ["audit"])
        assert result.exit_code == 0, result.output
    finally:
        app_engine(app).dispose()
