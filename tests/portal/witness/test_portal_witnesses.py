"""The portal and real witness processes over HTTP: each new checkpoint is cosigned, served with
its cosignatures, carried in proof bundles and checked by ``veraz verify --witness``; a witness
that is down never holds up sealing or anchoring; a split view of the log is refused.

SQLite and PostgreSQL, the embedded chain and TSA, two ``python -m portal.witness serve``.
"""

from __future__ import annotations

import json

import pytest
from builders import example_order
from evidence_builders import order_ocid, publish_examples, schema_validator
from sqlalchemy import select, update
from support import make_app
from witness_support import WitnessProcess, ensure_witness_tables, first_seal, free_port, log_key

from anchoring.bundle import ProofBundle
from anchoring.cosignature import CosignatureSigner, note_text, valid_cosignatures
from anchoring.notes import verify_checkpoint
from portal.cli import main
from portal.db import app_engine
from portal.evidence import store
from portal.evidence.sealing import seal, witness_pending
from portal.evidence.tables import anchors, cosignatures, witness_state


@pytest.fixture
def portal(database_url, tmp_path):
    app = make_app(database_url, tmp_path, ANCHOR_RETRY_BASE=30)
    ensure_witness_tables(app)
    yield app
    app_engine(app).dispose()


@pytest.fixture
def two_witnesses(portal, tmp_path):
    vkey = first_seal(portal, tmp_path)
    started = [WitnessProcess(tmp_path, f"witness.test/w{i}", [vkey]).start() for i in (1, 2)]
    portal.config["WITNESSES"] = ",\n".join(f"{w.url} {w.vkey}" for w in started)
    portal.config["WITNESSES_REQUIRED"] = 2
    yield started
    for w in started:
        w.stop()


def test_checkpoints_cosigned_served_bundled_and_verified(portal, two_witnesses, tmp_path):
    app, runner, client = portal, portal.test_cli_runner(), portal.test_client()
    result = runner.invoke(main, ["anchor"])
    assert result.exit_code == 0, result.output
    publish_examples(app, tmp_path, [example_order("2-package")], name="b")
    result = runner.invoke(main, ["anchor"])  # honest growth: a consistency proof from the last
    assert result.exit_code == 0, result.output
    assert result.output.count("witness: done") == 2
    with app_engine(app).connect() as conn:
        size = store.latest(conn).size
        stored = conn.execute(select(cosignatures.c.tree_size, cosignatures.c.witness)).all()
        states = conn.execute(select(witness_state)).mappings().all()
        assert {r["status"] for r in conn.execute(select(anchors)).mappings()} == {"done"}
    assert sorted(stored) == sorted((s, w.vkey) for s in (stored[0][0], size) for w in two_witnesses)
    assert {s["cosigned_size"] for s in states} == {size} and all(s["last_error"] is None for s in states)
    verifiers = [w.verifier for w in two_witnesses]

    # The checkpoint endpoint serves the log's signature, then the witnesses'.
    note = client.get("/api/log/checkpoint").get_data(as_text=True)
    assert verify_checkpoint(note, log_key(app)).size == size
    body, lines = note_text(note)
    assert set(valid_cosignatures(body, lines, verifiers)) == {w.vkey for w in two_witnesses}

    # Proof bundles carry them, the schema accepts them, the value round-trips.
    ocid = order_ocid(example_order("2-package"))
    response = client.get(f"/api/proofs/{ocid}")
    bundle = response.get_json()
    schema_validator().validate(bundle)
    assert len(bundle["cosignatures"]) == 2 and bundle["treeSize"] == size
    assert ProofBundle.from_json(response.data).to_json() == response.data
    path = tmp_path / "bundle.json"
    path.write_bytes(response.data)

    keys = [arg for w in two_witnesses for arg in ("--witness", w.vkey)]
    ok = runner.invoke(main, ["verify", str(path), *keys])
    assert ok.exit_code == 0, ok.output
    assert "PASS  witnesses: 2 of 2" in ok.output
    stranger = str(CosignatureSigner.generate("witness.test/w3").verifier())
    short = runner.invoke(main, ["verify", str(path), *keys, "--witness", stranger])
    assert short.exit_code == 1 and "FAIL  witnesses: 2 of 3" in short.output
    enough = runner.invoke(
        main, ["verify", str(path), *keys, "--witness", stranger, "--witnesses-required", "2"]
    )
    assert enough.exit_code == 0, enough.output
    tampered = dict(bundle, cosignatures=[bundle["cosignatures"][0][:-6] + "AAAA=="])
    path.write_text(json.dumps(tampered))
    bad = runner.invoke(main, ["verify", str(path), *keys, "--witnesses-required", "1"])
    assert bad.exit_code == 1 and "FAIL  witnesses: 0 of 2" in bad.output
    too_many = runner.invoke(main, ["verify", str(path), *keys, "--witnesses-required", "3"])
    assert too_many.exit_code == 2


def test_a_witness_that_is_down_never_blocks_sealing_or_anchoring(portal, tmp_path):
    app, runner = portal, portal.test_cli_runner()
    vkey = first_seal(app, tmp_path)
    port = free_port()  # nothing listens there yet
    down = WitnessProcess(tmp_path, "witness.test/down", [vkey])
    down.port, down.url = port, f"http://127.0.0.1:{port}"
    app.config["WITNESSES"] = f"{down.url} {down.vkey}"
    result = runner.invoke(main, ["anchor"])
    assert result.exit_code == 0, result.output  # the anchors are done; the witness waits
    assert "did not cosign yet" in result.output
    with app_engine(app).connect() as conn:
        assert {r["status"] for r in conn.execute(select(anchors)).mappings()} == {"done"}
        (state,) = conn.execute(select(witness_state)).mappings().all()
    assert state["attempts"] == 1 and "127.0.0.1" in state["last_error"]
    # New entries are sealed and anchored while it is still down (watcher included).
    from portal.evidence.backends import Backends
    from portal.evidence.sealing import watch

    publish_examples(app, tmp_path, [example_order("2-package")], name="b")
    backends = Backends(app.config)
    try:
        watch(app_engine(app), {**app.config, "PENDING_ENTRIES_TRIGGER": 1}, backends, tick=0, iterations=1)
    finally:
        backends.close()
    with app_engine(app).connect() as conn:
        size = store.latest(conn).size
        assert {r["status"] for r in conn.execute(select(anchors)).mappings()} == {"done"}
    # Up again: not before its backoff, then it cosigns the newest checkpoint from size 0.
    down.start()
    try:
        assert [r.status for r in witness_pending(app_engine(app), app.config)] == ["failed-retrying"]
        with app_engine(app).begin() as conn:
            conn.execute(update(witness_state).values(next_attempt_at=state["updated_at"]))
        assert [r.status for r in witness_pending(app_engine(app), app.config)] == ["done"]
    finally:
        down.stop()
    with app_engine(app).connect() as conn:
        assert conn.execute(select(cosignatures.c.tree_size)).scalars().all() == [size]


def test_a_split_view_is_refused_and_recorded(portal, database_url, tmp_path):
    """A second database signed with the same key (a fork of the log) gets no cosignature
    from a witness that cosigned the first."""
    app = portal
    vkey = first_seal(app, tmp_path)
    witness = WitnessProcess(tmp_path, "witness.test/w1", [vkey]).start()
    try:
        app.config["WITNESSES"] = f"{witness.url} {witness.vkey}"
        assert [r.status for r in witness_pending(app_engine(app), app.config, due_only=False)] == ["done"]
        from portal.db import upgrade

        fork_url = f"sqlite:///{tmp_path / 'fork.sqlite3'}"
        upgrade(fork_url)
        fork = make_app(
            fork_url,
            tmp_path / "fork",
            LOG_KEY_FILE=str(store.key_path(app.config)),
            WITNESSES=app.config["WITNESSES"],
        )
        ensure_witness_tables(fork)
        try:
            publish_examples(fork, tmp_path, [example_order("3-partial")], name="f")
            assert seal(app_engine(fork), fork.config) is not None
            assert log_key(fork) == vkey  # the same log, as far as its key says
            (result,) = witness_pending(app_engine(fork), fork.config, due_only=False)
            assert result.status == "failed-retrying"
            assert "409" in result.detail or "422" in result.detail
            with app_engine(fork).connect() as conn:
                assert conn.execute(select(cosignatures)).all() == []
        finally:
            app_engine(fork).dispose()
    finally:
        witness.stop()


def test_a_witness_that_never_answers_costs_a_timeout_and_is_retried(portal, tmp_path):
    """A witness that accepts connections but never answers: anchoring is done, the witness is
    retried later, and the other witness still cosigns in the same round."""
    import socket

    app = portal
    vkey = first_seal(app, tmp_path)
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # never accepted, never answered
    honest = WitnessProcess(tmp_path, "witness.test/w1", [vkey]).start()
    mute_key = str(CosignatureSigner.generate("witness.test/mute").verifier())
    try:
        app.config["WITNESSES"] = (
            f"http://127.0.0.1:{silent.getsockname()[1]} {mute_key}, {honest.url} {honest.vkey}"
        )
        app.config["WITNESS_TIMEOUT"] = 1
        result = app.test_cli_runner().invoke(main, ["anchor"])
        assert result.exit_code == 0, result.output
        with app_engine(app).connect() as conn:
            assert {r["status"] for r in conn.execute(select(anchors)).mappings()} == {"done"}
            states = {r["witness"]: r for r in conn.execute(select(witness_state)).mappings()}
            stored = conn.execute(select(cosignatures.c.witness)).scalars().all()
        assert "timed out" in states[mute_key]["last_error"]
        assert states[honest.vkey]["last_error"] is None and stored == [honest.vkey]
    finally:
        honest.stop()
        silent.close()
