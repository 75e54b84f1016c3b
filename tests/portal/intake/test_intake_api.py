"""The intake API through the real app, on SQLite and PostgreSQL: tokens, receipts that are
inclusion proofs once sealed, quotes immutable from arrival, orders linking them, and every
refused request writing nothing."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from builders import example_order
from intake_support import bearer, example_quotes, many_quotes, token, written
from sqlalchemy import select, update

from anchoring.entries import ReleaseEntry, decode_entry, proformas_hash_link
from portal.cli import main
from portal.db import app_engine
from portal.evidence import store
from portal.evidence.audit import audit
from portal.intake import tokens
from portal.models import proformas, releases

QUOTES, ORDERS = "/api/intake/quotes", "/api/intake/orders"


def _revoked(app) -> str:
    secret = token(app, "quotes")
    with app_engine(app).begin() as conn:
        (found,) = [t for t in tokens.listing(conn) if t.id == max(x.id for x in tokens.listing(conn))]
        tokens.revoke(conn, found.id)
    return secret


def test_refused_requests_write_nothing(app, client):
    quote = example_quotes()[0]
    good = token(app, "quotes")
    expired = token(app, "quotes", expires_at=datetime.now(UTC) - timedelta(seconds=1))
    cases = [
        ({}, 401),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, 401),
        (bearer("veraz_quotes_" + "A" * 43), 401),  # the shape of a token, not one issued
        (bearer(token(app, "orders")), 403),
        (bearer(_revoked(app)), 403),
        (bearer(expired), 403),
    ]
    for headers, status in cases:
        response = client.post(QUOTES, json=quote, headers=headers)
        assert response.status_code == status, (headers, response.get_json())
        assert response.get_json()["error"]["status"] == status
        if status == 401:
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.post(ORDERS, json=example_order("3-partial"), headers=bearer(good)).status_code == 403

    # bad bodies, with a good token
    auth = bearer(good)
    assert (
        client.post(QUOTES, data=b"{not json", content_type="application/json", headers=auth).status_code
        == 400
    )
    assert client.post(QUOTES, data=b"[]", content_type="application/json", headers=auth).status_code == 400
    assert (
        client.post(QUOTES, data=orjson.dumps(quote), content_type="text/csv", headers=auth).status_code
        == 415
    )
    app.config["INTAKE_MAX_RECORDS"] = 3
    assert client.post(QUOTES, json=many_quotes(4), headers=auth).status_code == 413
    app.config["INTAKE_MAX_BODY_BYTES"] = 200
    assert client.post(QUOTES, json=quote, headers=auth).status_code == 413
    app.config["INTAKE_MAX_BODY_BYTES"] = 1 << 20

    # one invalid record among valid ones: every problem named, none of the records stored
    bad = dict(quote, id="PF-9", total=-1, colour="red")
    del bad["currency"]
    response = client.post(QUOTES, json=[many_quotes(1)[0], bad, "quote"], headers=auth)
    assert response.status_code == 422
    problems = {(p["record"], p["field"]) for p in response.get_json()["problems"]}
    assert problems == {(2, "total"), (2, "colour"), (2, "currency"), (3, "")}
    reasons = {p["field"]: p["reason"] for p in response.get_json()["problems"]}
    assert reasons["colour"] == "Unknown field: the format does not define it."
    assert written(app) == (0, 0, 0, 0)


def test_a_receipt_is_an_inclusion_proof_once_sealed(app, client, runner, tmp_path):
    quote = example_quotes()[0]
    auth = bearer(token(app, "quotes"))
    response = client.post(QUOTES, json=quote, headers=auth)
    assert response.status_code == 201, response.get_json()
    (receipt,) = response.get_json()["receipts"]
    entry = receipt["entry"].encode()
    assert hashlib.sha256(b"\x00" + entry).hexdigest() == receipt["leafHash"]
    assert decode_entry(entry).proforma_hash.hex() == receipt["quoteHash"]
    assert (receipt["status"], receipt["proof"], receipt["leafIndex"]) == ("logged", "pending", 0)
    path = receipt["proofUrl"].removeprefix(app.config["BASE_URL"])
    assert client.get(path).status_code == 202  # logged, not yet in a checkpoint

    assert runner.invoke(main, ["anchor"]).exit_code == 0
    bundle = client.get(path)
    assert bundle.status_code == 200
    assert bundle.get_json()["leafIndex"] == receipt["leafIndex"]
    files = {name: tmp_path / name for name in ("bundle.json", "quote.json", "log.vkey")}
    files["bundle.json"].write_bytes(bundle.data)
    files["quote.json"].write_bytes(
        orjson.dumps(quote, option=orjson.OPT_INDENT_2)
    )  # as the supplier kept it
    files["log.vkey"].write_text(client.get("/api/log/key").text)
    result = runner.invoke(
        main,
        [
            "verify",
            str(files["bundle.json"]),
            "--quote",
            str(files["quote.json"]),
            "--key",
            str(files["log.vkey"]),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "PASS  inclusion" in result.output and "PASS  proforma-hash" in result.output

    # the same quote again: its first receipt, now complete; changed: refused and reported
    again = client.post(QUOTES, json=[quote], headers=auth)
    assert again.status_code == 200
    assert again.get_json()["receipts"][0] | {"status": "logged", "proof": "pending"} == receipt
    assert again.get_json()["receipts"][0]["proof"] == "complete"
    before = written(app)
    changed = client.post(
        QUOTES, json=[many_quotes(1)[0], dict(quote, total=quote["total"] + 1)], headers=auth
    )
    assert changed.status_code == 409
    (problem,) = changed.get_json()["problems"]
    assert (problem["record"], problem["id"], problem["field"]) == (2, quote["id"], "id")
    assert "already received with different content" in problem["reason"]
    assert written(app) == before[:3] + (before[3] + 1,)  # only the refusal is kept
    listed = runner.invoke(main, ["tokens", "refusals"])
    assert quote["id"] in listed.output and receipt["quoteHash"] in listed.output
    assert audit(app_engine(app), app.config).problems == []


def test_the_order_citing_an_intake_quote_links_its_entry(app, client):
    order = example_order("3-partial")
    quotes = example_quotes("3-partial")
    body = b"\n".join(orjson.dumps(q) for q in quotes) + b"\n\n"  # JSON Lines, a blank line
    sent = client.post(
        QUOTES, data=body, content_type="application/x-ndjson", headers=bearer(token(app, "quotes"))
    )
    assert sent.status_code == 201
    arrived = {r["quoteId"]: r["leafIndex"] for r in sent.get_json()["receipts"]}
    assert sorted(arrived.values()) == [0, 1]

    auth = bearer(token(app, "orders"))
    # an order whose quote differs from the one that arrived is refused whole, with a valid one
    forged = example_order("3-partial", orderNumber="OC-2025-000777")
    altered = example_order("3-partial")
    altered["proformas"][0]["total"] += 10
    refused = client.post(ORDERS, json=[forged, altered], headers=auth)
    assert refused.status_code == 409, refused.get_json()
    assert [p["record"] for p in refused.get_json()["problems"]] == [2]
    assert written(app)[:3] == (2, 2, 0)

    published = client.post(ORDERS, json=order, headers=auth)
    assert published.status_code == 201, published.get_json()
    (receipt,) = published.get_json()["receipts"]
    assert {q["quoteId"]: q["leafIndex"] for q in receipt["quotes"]} == arrived
    assert receipt["status"] == "published"
    with app_engine(app).connect() as conn:
        assert len(conn.execute(select(proformas)).all()) == 2  # not stored nor logged twice
        release = conn.execute(
            select(releases).where(releases.c.release_id == receipt["releases"][0]["releaseId"])
        ).one()
        entry = decode_entry(store.entries(conn, release.leaf_index, release.leaf_index + 1)[0])
        hashes = [
            bytes.fromhex(r.data_hash)
            for r in conn.execute(select(proformas).order_by(proformas.c.proforma_id))
        ]
    assert isinstance(entry, ReleaseEntry) and entry.proformas_hash == proformas_hash_link(hashes)
    # posted again: already published, the same receipts
    again = client.post(ORDERS, json=order, headers=auth)
    assert again.status_code == 200 and again.get_json()["receipts"][0]["status"] == "already published"
    # an invalid order among valid ones: nothing written
    before = written(app)
    response = client.post(ORDERS, json=[forged, dict(order, version="two")], headers=auth)
    assert response.status_code == 422
    assert {(p["record"], p["field"]) for p in response.get_json()["problems"]} >= {(2, "version")}
    assert written(app) == before
    assert audit(app_engine(app), app.config).problems == []


def test_the_audit_names_a_tampered_intake_quote(app, client):
    quotes = many_quotes(3)
    assert client.post(QUOTES, json=quotes, headers=bearer(token(app, "quotes"))).status_code == 201
    changed = dict(quotes[1], total=1.0)
    with app_engine(app).begin() as conn:
        conn.execute(
            update(proformas)
            .where(proformas.c.proforma_id == "PF-1")
            .values(data=orjson.dumps(changed, option=orjson.OPT_SORT_KEYS))
        )
    found = [str(p) for p in audit(app_engine(app), app.config).problems]
    assert any("OC-2025-000999 proforma PF-1" in p for p in found), found


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_too_many_requests_write_nothing(database_url, tmp_path):
    from support import make_app

    # The readers' limit is lower still: the intake is not counted in it.
    app = make_app(database_url, tmp_path, INTAKE_RATE_LIMIT="2 per minute", API_RATE_LIMIT="1 per minute")
    client = app.test_client()
    auth = bearer(token(app, "quotes"))
    quotes = many_quotes(3)
    assert [client.post(QUOTES, json=q, headers=auth).status_code for q in quotes[:2]] == [201, 201]
    response = client.post(QUOTES, json=quotes[2], headers=auth)
    assert response.status_code == 429 and "Retry-After" in response.headers
    assert response.get_json()["error"]["status"] == 429
    assert written(app)[:2] == (2, 2)
    # another token has its own count
    assert client.post(QUOTES, json=quotes[2], headers=bearer(token(app, "quotes"))).status_code == 201
    app_engine(app).dispose()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_through_a_real_gunicorn(database_url, tmp_path, gunicorn):
    import urllib.error
    import urllib.request

    from support import make_app

    app = make_app(database_url, tmp_path)
    secret = token(app, "quotes")
    app_engine(app).dispose()
    base = gunicorn.start(database_url, tmp_path / "instance")

    def post(body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
        request = urllib.request.Request(f"{base}{QUOTES}", data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.status, orjson.loads(answer.read())
        except urllib.error.HTTPError as error:
            return error.code, orjson.loads(error.read())

    lines = b"\n".join(orjson.dumps(q) for q in many_quotes(5))
    status, body = post(lines, {"Content-Type": "application/x-ndjson", **bearer(secret)})
    assert status == 201, body
    assert [r["leafIndex"] for r in body["receipts"]] == [0, 1, 2, 3, 4]
    assert all(r["proofUrl"].startswith(base) for r in body["receipts"])
    status, body = post(lines, {"Content-Type": "application/x-ndjson"})
    assert status == 401 and body["error"]["status"] == 401


def test_the_same_new_quote_sent_at_once_is_logged_once(app):
    """Concurrent requests carrying one new quote: the log's lock makes one of them log it and
    the others answer its receipt."""
    from concurrent.futures import ThreadPoolExecutor

    auth = bearer(token(app, "quotes"))
    quotes = many_quotes(4)

    def send(_: int) -> list[dict]:
        response = app.test_client().post(QUOTES, json=quotes, headers=auth)
        assert response.status_code in (200, 201), response.get_json()
        return response.get_json()["receipts"]

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(send, range(4)))
    assert {tuple(r["leafIndex"] for r in a) for a in answers} == {(0, 1, 2, 3)}
    assert sorted(r["status"] for a in answers for r in a).count("logged") == 4
    assert written(app)[:2] == (4, 4)
