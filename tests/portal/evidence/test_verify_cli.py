"""``veraz verify``: every step from a bundle and the citizen's inputs, without the database.

The anchoring path over JSON-RPC runs against a real anvil node (skipped locally when
``node_modules`` is absent; required under CI).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import orjson
from builders import example_order
from evidence_builders import order_ocid, publish_examples

from portal.cli import main
from portal.db import app_engine

ROOT = Path(__file__).resolve().parents[3]
VERAZ = Path(sys.executable).parent / "veraz"


def _chain_fixtures():
    """tests/anchoring/chains/conftest.py (anvil helpers), loaded under its own name."""
    spec = importlib.util.spec_from_file_location(
        "chains_fixtures", ROOT / "tests" / "anchoring" / "chains" / "conftest.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    return module


def _files(app, client, runner, tmp_path, order_name="2-package"):
    publish_examples(app, tmp_path)
    assert runner.invoke(main, ["anchor"]).exit_code == 0, "anchoring failed"
    ocid = order_ocid(example_order(order_name))
    bundle = client.get(f"/api/proofs/{ocid}")
    assert bundle.status_code == 200
    body = bundle.get_json()
    release = client.get(f"/api/releases/{body['releaseId']}?ocid={ocid}")
    paths = {
        "bundle": tmp_path / "bundle.json",
        "release": tmp_path / "release.json",
        "ca": tmp_path / "ca.pem",
        "key": tmp_path / "log.vkey",
    }
    paths["bundle"].write_bytes(bundle.data)
    paths["release"].write_bytes(release.data)  # a release package, as the API serves it
    paths["ca"].write_bytes(client.get("/api/log/tsa-ca.pem").data)
    paths["key"].write_text(client.get("/api/log/key").text)
    return paths, body


def _verify(*args: str):
    from click.testing import CliRunner

    return CliRunner().invoke(main, ["verify", *map(str, args)])


def test_all_steps_pass_with_a_real_process_and_no_database(app, client, runner, tmp_path):
    paths, _ = _files(app, client, runner, tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTAL_", "DATABASE_URL"))}
    # No database anywhere: the instance folder does not exist, DATABASE_URL points nowhere.
    env["PORTAL_INSTANCE_PATH"] = str(tmp_path / "no-instance")
    env["DATABASE_URL"] = "postgresql+psycopg://nobody@/nowhere?host=/nonexistent"
    done = subprocess.run(
        [
            str(VERAZ),
            "verify",
            str(paths["bundle"]),
            "--release",
            str(paths["release"]),
            "--tsa-ca",
            str(paths["ca"]),
            "--key",
            str(paths["key"]),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    for step in (
        "release-hash",
        "proformas-hash-link",
        "entry",
        "leaf-hash",
        "checkpoint-signature",
        "inclusion",
        "timestamp",
    ):
        assert f"PASS  {step}" in out, out
    assert "SKIP  document-hash" in out and "SKIP  evm-anchor" in out
    assert "skipped for lack of input: document-hash, evm-anchor" in out
    assert not (tmp_path / "no-instance").exists()


def test_tampered_inputs_name_the_failing_step(app, client, runner, tmp_path):
    paths, body = _files(app, client, runner, tmp_path)

    package = json.loads(paths["release"].read_text())
    package["releases"][0]["tender"]["title"] = "otra cosa"
    tampered_release = tmp_path / "tampered-release.json"
    tampered_release.write_text(json.dumps(package))
    result = _verify(paths["bundle"], "--release", tampered_release)
    assert result.exit_code == 1 and "FAIL  release-hash" in result.output

    def bundle_with(**changes) -> Path:
        data = dict(body, **changes)
        path = tmp_path / "tampered-bundle.json"
        path.write_bytes(orjson.dumps(data))
        return path

    proof = list(body["inclusionProof"])
    proof[0] = ("0" if proof[0][0] != "0" else "1") + proof[0][1:]
    result = _verify(bundle_with(inclusionProof=proof))
    assert result.exit_code == 1 and "FAIL  inclusion" in result.output, result.output

    data_hash = ("f" if body["hashes"]["data"][0] != "f" else "e") + body["hashes"]["data"][1:]
    result = _verify(bundle_with(hashes=dict(body["hashes"], data=data_hash)))
    assert "FAIL  entry" in result.output

    lines = body["checkpoint"].split("\n")
    lines[1] = str(int(lines[1]) + 1)
    result = _verify(bundle_with(checkpoint="\n".join(lines)))
    assert result.exit_code == 1 and "FAIL  checkpoint-signature" in result.output

    result = _verify(paths["bundle"], "--key", "other+00000000+AcZIQeqh4fLEWk9HqK1h9YaV5hBnc8p4ZFz3i7dGqQbN")
    assert "FAIL  checkpoint-signature" in result.output

    other_ca = tmp_path / "other-ca.pem"
    from anchoring.timestamps import EmbeddedTSA

    other_ca.write_bytes(EmbeddedTSA(tmp_path / "other-tsa").ca_pem)
    result = _verify(paths["bundle"], "--tsa-ca", other_ca)
    assert result.exit_code == 1 and "FAIL  timestamp" in result.output

    garbage = tmp_path / "garbage.json"
    garbage.write_text('{"version": 1}')
    result = _verify(garbage)
    assert result.exit_code == 1 and "FAIL  bundle" in result.output


def test_evm_anchor_over_json_rpc_on_anvil(sqlite_url, tmp_path):
    database_url = sqlite_url  # the RPC path does not depend on the database
    fixtures = _chain_fixtures()
    from support import make_app

    from anchoring.chains.evm import deploy_contract, rpc_chain
    from anchoring.chains.keys import load_or_create_key

    node = fixtures.start_anvil(tmp_path / "anvil-state.json", tmp_path / "anvil.log")
    try:
        w3 = rpc_chain(node.url, fixtures.ANVIL_CHAIN_ID)
        account = load_or_create_key(tmp_path / "anchor.key")
        fixtures.fund_on_anvil(w3, account.address)
        contract = deploy_contract(w3, account)
        app = make_app(
            database_url,
            tmp_path,
            EVM_RPC_URL=node.url,
            EVM_CHAIN_ID=fixtures.ANVIL_CHAIN_ID,
            EVM_CONTRACT_ADDRESS=contract,
            EVM_KEY_FILE=str(tmp_path / "anchor.key"),
            EVM_EXPLORER_URL="https://explorer.test/tx/{tx_hash}",
        )
        try:
            paths, body = _files(app, app.test_client(), app.test_cli_runner(), tmp_path)
        finally:
            app_engine(app).dispose()
        (evm,) = [a for a in body["anchors"] if a["type"] == "evm"]
        assert evm["chainId"] == 31337 and evm["explorerUrl"].endswith(evm["txHash"])
        result = _verify(
            paths["bundle"],
            "--rpc",
            node.url,
            "--sender",
            account.address,
            "--release",
            paths["release"],
            "--tsa-ca",
            paths["ca"],
        )
        assert result.exit_code == 0, result.output
        assert "PASS  evm-anchor" in result.output

        forged = dict(
            body,
            anchors=[
                dict(evm, blockTime=evm["blockTime"] + 1) if a["type"] == "evm" else a
                for a in body["anchors"]
            ],
        )
        (tmp_path / "forged.json").write_bytes(orjson.dumps(forged))
        result = _verify(tmp_path / "forged.json", "--rpc", node.url)
        assert result.exit_code == 1 and "FAIL  evm-anchor" in result.output
    finally:
        node.stop()


def _quote_files(app, client, runner, tmp_path):
    """A per-quote bundle of a published, anchored order and the quote as received."""
    from sqlalchemy import select

    from portal.models import proformas

    publish_examples(app, tmp_path)
    assert runner.invoke(main, ["anchor"]).exit_code == 0, "anchoring failed"
    ocid = order_ocid(example_order("2-package"))
    with app_engine(app).connect() as conn:
        quote_id, data = conn.execute(
            select(proformas.c.proforma_id, proformas.c.data)
            .where(proformas.c.ocid == ocid)
            .order_by(proformas.c.proforma_id)
        ).first()
    served = client.get(f"/api/proofs/{ocid}/proformas/{quote_id}")
    assert served.status_code == 200 and served.mimetype == "application/json"
    paths = {
        "bundle": tmp_path / "quote-bundle.json",
        "quote": tmp_path / "quote.json",
        "ca": tmp_path / "ca.pem",
        "key": tmp_path / "log.vkey",
    }
    paths["bundle"].write_bytes(served.data)
    paths["quote"].write_bytes(bytes(data))
    paths["ca"].write_bytes(client.get("/api/log/tsa-ca.pem").data)
    paths["key"].write_text(client.get("/api/log/key").text)
    return paths, served.get_json(), ocid, quote_id


def test_a_quote_is_provable_on_its_own(app, client, runner, tmp_path):
    from anchoring.bundle import ProformaProofBundle

    paths, body, ocid, quote_id = _quote_files(app, client, runner, tmp_path)
    assert (body["ocid"], body["proformaId"], body["entry"]["kind"]) == (ocid, quote_id, "proforma")
    # byte-exact round trip, as for release bundles
    assert (
        ProformaProofBundle.from_json(paths["bundle"].read_bytes()).to_json() == paths["bundle"].read_bytes()
    )
    # the quote's hash is the one the order's release bundle links
    release_bundle = client.get(f"/api/proofs/{ocid}").get_json()
    assert {"id": quote_id, "hash": body["hashes"]["proforma"]} in release_bundle["proformas"]
    result = _verify(
        paths["bundle"], "--quote", paths["quote"], "--tsa-ca", paths["ca"], "--key", paths["key"]
    )
    assert result.exit_code == 0, result.output
    for step in ("proforma-hash", "entry", "leaf-hash", "checkpoint-signature", "inclusion", "timestamp"):
        assert f"PASS  {step}" in result.output, result.output
    assert f"proforma {quote_id}" in result.output
    assert client.get(f"/api/proofs/{ocid}/proformas/no-such-quote").status_code == 404


def test_an_altered_quote_or_a_wrong_proof_fails(app, client, runner, tmp_path):
    paths, body, _ocid, _quote_id = _quote_files(app, client, runner, tmp_path)

    quote = orjson.loads(paths["quote"].read_bytes())
    quote["total"] = quote["total"] + 1
    altered = tmp_path / "altered-quote.json"
    altered.write_bytes(orjson.dumps(quote))
    result = _verify(paths["bundle"], "--quote", altered)
    assert result.exit_code == 1 and "FAIL  proforma-hash" in result.output, result.output

    proof = list(body["inclusionProof"])
    proof[0] = ("0" if proof[0][0] != "0" else "1") + proof[0][1:]
    wrong = tmp_path / "wrong-proof.json"
    wrong.write_bytes(orjson.dumps(dict(body, inclusionProof=proof)))
    result = _verify(wrong, "--quote", paths["quote"])
    assert result.exit_code == 1 and "FAIL  inclusion" in result.output, result.output

    other_hash = ("f" if body["hashes"]["proforma"][0] != "f" else "e") + body["hashes"]["proforma"][1:]
    swapped = tmp_path / "swapped-hash.json"
    swapped.write_bytes(orjson.dumps(dict(body, hashes={"proforma": other_hash})))
    result = _verify(swapped)
    assert result.exit_code == 1 and "FAIL  entry" in result.output, result.output

    # a quote file goes with a quote bundle only, and the other way round
    assert _verify(paths["bundle"], "--document", paths["quote"]).exit_code == 2
