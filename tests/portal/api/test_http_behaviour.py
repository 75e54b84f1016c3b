"""What harvesters and other sites' pages get from every API answer: gzip, ETag and 304, CORS,
and a per-client rate limit answered with 429 and Retry-After (portal/views/http.py)."""

from __future__ import annotations

import gzip

import orjson
import pytest
from evidence_builders import publish_examples
from support import make_app

from portal.db import app_engine


@pytest.fixture
def published(sqlite_app, tmp_path):
    publish_examples(sqlite_app, tmp_path)
    return sqlite_app


def test_an_unchanged_answer_is_a_304_and_a_new_release_changes_the_etag(published, tmp_path):
    client = published.test_client()
    first = client.get("/api/releases")
    etag = first.headers["ETag"]
    assert first.status_code == 200 and not etag.startswith("W/")
    assert first.headers["Cache-Control"] == "public, no-cache"
    again = client.get("/api/releases", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    assert client.get("/api/releases", headers={"If-None-Match": '"other"'}).status_code == 200
    # Another page of the same list is another answer.
    assert client.get("/api/releases?limit=2").headers["ETag"] != etag
    from builders import example_order

    publish_examples(
        published, tmp_path, [example_order("1-single", orderNumber="OC-2099-000001")], name="new"
    )
    changed = client.get("/api/releases", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag


def test_compressed_answers_keep_a_weak_etag_that_still_validates(published):
    client = published.test_client()
    plain = client.get("/api/releases")
    packed = client.get("/api/releases", headers={"Accept-Encoding": "gzip"})
    assert packed.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(packed.data) == plain.data
    assert "Accept-Encoding" in packed.headers["Vary"]
    weak = packed.headers["ETag"]
    assert weak == "W/" + plain.headers["ETag"]
    again = client.get("/api/releases", headers={"Accept-Encoding": "gzip", "If-None-Match": weak})
    assert again.status_code == 304


def test_any_origin_may_read_the_api_without_credentials(published):
    client = published.test_client()
    response = client.get("/api/releases", headers={"Origin": "https://newsroom.example"})
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "ETag" in response.headers["Access-Control-Expose-Headers"]
    assert "Access-Control-Allow-Credentials" not in response.headers
    preflight = client.options(
        "/api/records",
        headers={"Origin": "https://newsroom.example", "Access-Control-Request-Method": "GET"},
    )
    assert preflight.status_code == 200
    assert "GET" in preflight.headers["Access-Control-Allow-Methods"]
    assert "POST" not in preflight.headers["Access-Control-Allow-Methods"]
    # Pages are not shared with other origins.
    assert (
        "Access-Control-Allow-Origin" not in client.get("/", headers={"Origin": "https://x.example"}).headers
    )


def _limited(tmp_path, sqlite_url, limit: str, **overrides):
    return make_app(sqlite_url, tmp_path, API_RATE_LIMIT=limit, **overrides)


def test_a_client_beyond_the_limit_gets_429_with_retry_after(tmp_path, sqlite_url):
    app = _limited(tmp_path, sqlite_url, "3 per minute")
    client = app.test_client()
    statuses = [client.get("/api/releases").status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    refused = client.get("/api/log/checkpoints")  # the limit covers the whole API
    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert refused.mimetype == "application/json"
    assert refused.get_json()["error"]["status"] == 429
    # Pages are not limited, and another client has its own count.
    assert client.get("/about").status_code == 200
    other = client.get("/api/releases", environ_overrides={"REMOTE_ADDR": "192.0.2.9"})
    assert other.status_code == 200
    app_engine(app).dispose()


def test_behind_trusted_proxies_the_client_is_the_forwarded_address(tmp_path, sqlite_url):
    app = _limited(tmp_path, sqlite_url, "2 per minute", TRUSTED_PROXIES=1)
    client = app.test_client()

    def ask(forwarded: str) -> int:
        return client.get("/api/releases", headers={"X-Forwarded-For": forwarded}).status_code

    assert [ask("198.51.100.1"), ask("198.51.100.1"), ask("198.51.100.1")] == [200, 200, 429]
    # A client cannot pick another key by sending its own X-Forwarded-For: the proxy appends
    # the address it saw, and only that entry is read.
    assert ask("203.0.113.5, 198.51.100.1") == 429
    assert ask("198.51.100.2") == 200
    app_engine(app).dispose()


def test_an_empty_limit_turns_it_off(tmp_path, sqlite_url):
    app = _limited(tmp_path, sqlite_url, "")
    client = app.test_client()
    assert {client.get("/api/log/checkpoints").status_code for _ in range(30)} == {200}
    app_engine(app).dispose()


def test_error_answers_are_json_and_never_cached_as_valid(published):
    response = published.test_client().get("/api/releases?limt=5")
    assert response.status_code == 400 and "ETag" not in response.headers
    assert orjson.loads(response.data)["error"]["detail"].startswith("Unknown query parameter(s) 'limt'")


def test_a_page_over_a_mebibyte_is_compressed_too(sqlite_app, tmp_path):
    from api_support import publish_generated

    publish_generated(sqlite_app, tmp_path, 150, seed=3)
    client = sqlite_app.test_client()
    plain = client.get("/api/records?limit=150")
    assert len(plain.data) > 1 << 20
    packed = client.get("/api/records?limit=150", headers={"Accept-Encoding": "gzip"})
    assert packed.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(packed.data) == plain.data
    assert len(packed.data) < len(plain.data) / 5
    assert packed.headers["ETag"] == "W/" + plain.headers["ETag"]
    assert (
        client.get(
            "/api/records?limit=150",
            headers={"Accept-Encoding": "gzip", "If-None-Match": packed.headers["ETag"]},
        ).status_code
        == 304
    )
