"""Keys are identities: made once, then a missing or other key stops the work with a sentence.

The log's key is made by the first seal of an empty log and never by a web worker; once a
checkpoint exists, sealing refuses a missing or replaced key file (naming the file and the key
the checkpoints were signed with) and ``/api/log/key`` serves no key that does not verify the
newest checkpoint. The anchoring account, the embedded TSA's CA and the evidence signer are
held to the ones already used the same way. Real SQLite file, embedded chain and TSA.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import stat
import subprocess
import sys
from pathlib import Path

from builders import example_order
from evidence_builders import order_ocid, publish_examples
from sqlalchemy import func, select
from support import ROOT, make_app

from anchoring import notes
from anchoring.chains.embedded import DEV_KEY_FILENAME
from anchoring.chains.evm import deploy_contract, rpc_chain
from anchoring.chains.keys import load_or_create_key
from anchoring.keyfiles import create_note_signer
from anchoring.log import checkpoints
from portal.cli import main
from portal.db import app_engine
from portal.evidence import store
from portal.evidence.audit import audit
from portal.evidence.tables import evidence_pdfs


def _key_file(app) -> Path:
    return Path(app.config["INSTANCE_PATH"]) / "log-signer.key"


def _count(app, table) -> int:
    with app_engine(app).connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def _anchored(app, tmp_path):
    publish_examples(app, tmp_path, [example_order("1-single")], name="a")
    result = app.test_cli_runner().invoke(main, ["anchor"])
    assert result.exit_code == 0, result.output
    return result


def test_the_first_seal_makes_the_log_key_and_web_workers_never_do(sqlite_app, tmp_path, caplog):
    app, client = sqlite_app, sqlite_app.test_client()
    publish_examples(app, tmp_path, [example_order("1-single")], name="a")
    before = client.get("/api/log/key")
    assert before.status_code == 503
    assert "first checkpoint" in before.get_data(as_text=True)
    assert not _key_file(app).exists()  # asking for the key made none
    assert audit(app_engine(app), app.config).problems == []  # no checkpoint: no key to check
    assert not _key_file(app).exists()

    with caplog.at_level(logging.WARNING, logger="portal.evidence.store"):
        assert app.test_cli_runner().invoke(main, ["anchor"]).exit_code == 0
    assert stat.S_IMODE(_key_file(app).stat().st_mode) == 0o600
    served = client.get("/api/log/key")
    assert served.status_code == 200
    key = served.get_data(as_text=True).strip()
    assert f"created the log's signing key {key} in {_key_file(app)}" in caplog.text
    with app_engine(app).connect() as conn:
        notes.verify_checkpoint(store.latest(conn).note, key)


def test_a_missing_log_key_stops_sealing_and_none_is_made(sqlite_app, tmp_path):
    app, client = sqlite_app, sqlite_app.test_client()
    _anchored(app, tmp_path)
    key = client.get("/api/log/key").get_data(as_text=True).strip()
    _key_file(app).unlink()
    publish_examples(app, tmp_path, [example_order("2-package")], name="b")
    sealed = _count(app, checkpoints)

    result = app.test_cli_runner().invoke(main, ["anchor"])
    assert result.exit_code == 1
    assert f"The log's signing key file {_key_file(app)} does not exist" in result.output
    assert f"were signed with key {store.key_name(key)}" in result.output
    assert not _key_file(app).exists()
    assert _count(app, checkpoints) == sealed
    assert client.get("/api/log/key").status_code == 503
    assert not _key_file(app).exists()
    # The watcher stops too: a key does not come back by waiting.
    watcher = subprocess.run(
        [sys.executable, "-m", "portal", "anchor", "--watch", "--tick", "0.1"],
        env=dict(
            os.environ,
            DATABASE_URL=app.config["DATABASE_URL"],
            PORTAL_INSTANCE_PATH=app.config["INSTANCE_PATH"],
        ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert watcher.returncode == 1
    assert (
        watcher.stderr.strip()
        .splitlines()[-1]
        .startswith(f"veraz: The log's signing key file {_key_file(app)} does not exist")
    )
    report = audit(app_engine(app), app.config)
    assert [p.detail for p in report.problems if p.subject == "log key"] == [
        f"the log's signing key file {_key_file(app)} does not exist: the checkpoints' "
        "signatures were not checked"
    ]
    assert not _key_file(app).exists()


def test_a_replaced_log_key_stops_sealing_and_is_not_served(sqlite_app, tmp_path):
    app, client = sqlite_app, sqlite_app.test_client()
    _anchored(app, tmp_path)
    original = client.get("/api/log/key").get_data(as_text=True).strip()
    _key_file(app).unlink()
    other = create_note_signer(_key_file(app), store.origin(app.config))
    publish_examples(app, tmp_path, [example_order("2-package")], name="b")
    sealed = _count(app, checkpoints)
    with app_engine(app).connect() as conn:
        newest = store.latest(conn).size

    result = app.test_cli_runner().invoke(main, ["anchor"])
    assert result.exit_code == 1
    other_name = store.key_name(str(other.verifier()))
    assert other_name != store.key_name(original)
    assert (
        f"holds key {other_name}, but the log's checkpoints (the newest of size {newest}) "
        f"were signed with key {store.key_name(original)}"
    ) in result.output
    assert _count(app, checkpoints) == sealed
    answer = client.get("/api/log/key", headers={"Accept": "application/json"})
    assert answer.status_code == 503
    assert str(other.verifier()) not in answer.get_data(as_text=True)


def test_a_replaced_embedded_chain_key_anchors_nothing(sqlite_app, tmp_path):
    app = sqlite_app
    _anchored(app, tmp_path)
    dev_key = Path(app.config["INSTANCE_PATH"]) / "chain" / DEV_KEY_FILENAME
    dev_key.unlink()
    load_or_create_key(dev_key)
    publish_examples(app, tmp_path, [example_order("2-package")], name="b")

    result = app.test_cli_runner().invoke(main, ["anchor"])
    assert result.exit_code == 1
    assert "evm: failed-retrying: " in result.output and DEV_KEY_FILENAME in result.output


def _chain_fixtures():
    """tests/anchoring/chains/conftest.py (anvil helpers), loaded under its own name."""
    spec = importlib.util.spec_from_file_location(
        "chains_fixtures", ROOT / "tests" / "anchoring" / "chains" / "conftest.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    return module


def test_another_anchoring_account_sends_nothing_over_json_rpc(sqlite_url, tmp_path):
    fixtures = _chain_fixtures()
    node = fixtures.start_anvil(tmp_path / "anvil-state.json", tmp_path / "anvil.log")
    try:
        w3 = rpc_chain(node.url, fixtures.ANVIL_CHAIN_ID)
        key_file = tmp_path / "anchor.key"
        used = load_or_create_key(key_file)
        fixtures.fund_on_anvil(w3, used.address)
        contract = deploy_contract(w3, used)
        app = make_app(
            sqlite_url,
            tmp_path,
            EVM_RPC_URL=node.url,
            EVM_CHAIN_ID=fixtures.ANVIL_CHAIN_ID,
            EVM_CONTRACT_ADDRESS=contract,
            EVM_KEY_FILE=str(key_file),
        )
        _anchored(app, tmp_path)
        key_file.unlink()
        other = load_or_create_key(key_file)
        fixtures.fund_on_anvil(w3, other.address)  # it could pay: only its identity stops it
        publish_examples(app, tmp_path, [example_order("2-package")], name="b")

        result = app.test_cli_runner().invoke(main, ["anchor"])
        assert result.exit_code == 1
        assert (
            f"evm: failed-retrying: the anchoring key file {key_file} holds account "
            f"{other.address}, but the checkpoints were anchored from {used.address}"
        ) in result.output
        assert w3.eth.get_transaction_count(other.address) == 0  # nothing was sent
        app_engine(app).dispose()
    finally:
        node.stop()


def test_a_lost_tsa_ca_is_not_made_again(sqlite_app, tmp_path):
    app = sqlite_app
    _anchored(app, tmp_path)
    ca = Path(app.config["INSTANCE_PATH"]) / "tsa" / "ca.pem"
    ca.unlink()
    publish_examples(app, tmp_path, [example_order("2-package")], name="b")

    result = app.test_cli_runner().invoke(main, ["anchor"])
    assert result.exit_code == 1
    assert (
        f"rfc3161: failed-retrying: the embedded TSA's CA certificate {ca} does not exist, "
        "but checkpoints were timestamped under it" in result.output
    )
    assert not ca.exists()


def test_a_lost_evidence_signing_key_is_not_made_again(sqlite_app, tmp_path):
    app = sqlite_app
    _anchored(app, tmp_path)
    assert _count(app, evidence_pdfs) == 1
    signer_key = Path(app.config["INSTANCE_PATH"]) / "evidence-signing" / "signer.key"
    signer_key.unlink()
    publish_examples(app, tmp_path, [example_order("2-package")], name="b")

    result = app.test_cli_runner().invoke(main, ["anchor"])
    assert result.exit_code == 1
    assert (
        f"evidence-pdf: failed-retrying: the evidence PDF could not be signed: the "
        f"evidence-signing file {signer_key} does not exist, but evidence PDFs were signed "
        "by"
    ) in result.output
    assert not signer_key.exists()
    assert _count(app, evidence_pdfs) == 1


def test_a_web_host_without_the_signing_key_serves_the_configured_public_key(sqlite_app, tmp_path):
    """A portal host behind a proxy holds no private key: LOG_VERIFIER_KEY is served, and put in
    proof bundles, while it verifies the newest checkpoint; another key is never served."""
    app = sqlite_app
    _anchored(app, tmp_path)
    key = app.test_client().get("/api/log/key").get_data(as_text=True).strip()
    ocid = order_ocid(example_order("1-single"))
    host_dir = tmp_path / "web-host"
    web = make_app(app.config["DATABASE_URL"], host_dir, LOG_VERIFIER_KEY=key)
    assert not (host_dir / "instance" / "log-signer.key").exists()
    client = web.test_client()
    served = client.get("/api/log/key")
    assert served.status_code == 200 and served.get_data(as_text=True).strip() == key
    bundle = client.get(f"/api/proofs/{ocid}")
    assert bundle.status_code == 200 and bundle.get_json()["key"] == key
    assert not (host_dir / "instance" / "log-signer.key").exists()

    other = str(create_note_signer(tmp_path / "other.key", key.split("+")[0]).verifier())
    wrong = make_app(app.config["DATABASE_URL"], tmp_path / "wrong-host", LOG_VERIFIER_KEY=other)
    assert wrong.test_client().get("/api/log/key").status_code == 503
    assert wrong.test_client().get(f"/api/proofs/{ocid}").status_code == 503
    app_engine(web).dispose()
    app_engine(wrong).dispose()
