"""Builders for the evidence-log tests: a portal with published orders, sealed and anchored."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

from builders import all_examples, write_jsonl

from portal.db import app_engine
from portal.publishing import import_orders

PREFIX = "ocds-test01"
SCHEMA = Path(__file__).resolve().parent.parent / "docs" / "proof-bundle.schema.json"


def publish_examples(
    app, tmp_path: Path, orders: list[dict] | None = None, name: str = "o", *, pdfs: bool = False
):
    """Publish the five documented example orders (or ``orders``) into ``app``'s database
    (with ``pdfs``, also their order PDFs, as the portal does with a BASE_URL)."""
    path = write_jsonl(tmp_path / f"{name}.jsonl", orders if orders is not None else all_examples())
    summary = import_orders(
        app_engine(app),
        path,
        ocid_prefix=PREFIX,
        workers=1,
        base_url=app.config["BASE_URL"] if pdfs else None,
    )
    assert summary.rejects == []
    return summary


def order_ocid(order: dict) -> str:
    return f"{PREFIX}-{order['orderNumber']}"


def schema_validator():
    from jsonschema import Draft202012Validator

    schema = json.loads(SCHEMA.read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def openssl_verify_token(tmp_path: Path, bundle: dict, ca_pem: bytes) -> subprocess.CompletedProcess:
    """``openssl ts -verify`` of the bundle's RFC 3161 token over its checkpoint note."""
    (token,) = [a for a in bundle["anchors"] if a["type"] == "rfc3161"]
    tsr, note, ca = tmp_path / "token.tsr", tmp_path / "checkpoint.txt", tmp_path / "ca.pem"
    tsr.write_bytes(base64.b64decode(token["token"]))
    note.write_bytes(bundle["checkpoint"].encode())
    ca.write_bytes(ca_pem)
    return subprocess.run(
        ["openssl", "ts", "-verify", "-in", str(tsr), "-data", str(note), "-CAfile", str(ca)],
        capture_output=True,
        text=True,
    )
