"""HTTP behaviour shared by every route, for harvesters and browsers on other sites.

* **ETag and If-None-Match.** Every successful GET whose body is in hand gets a strong ETag
  (a hash of the body, so equal answers have equal tags on every worker and host) and a
  request that names it gets ``304 Not Modified`` with no body. The app's compression hook
  (``portal.views.init_app``) runs after this one and weakens the tag of a body it compresses
  (the compressed bytes are another representation of the same content); API answers larger
  than it compresses (over 1 MiB) are compressed here, at a faster level. Files sent by
  ``send_file`` and streamed downloads keep the validators they make themselves.
* **CORS** (flask-cors) for GET and HEAD on the API, the local extensions and the JSON twins,
  from any origin and without credentials: the data is public, and a page elsewhere (a
  newsroom's, a researcher's notebook) may read it.
* **A rate limit per client** on ``/api/`` (flask-limiter): ``API_RATE_LIMIT`` requests in its
  window, counted in ``API_RATE_LIMIT_STORAGE``, answered beyond with ``429`` and
  ``Retry-After`` (the app's one error handler writes the JSON body). Bulk files are the way
  to take everything. Behind ``TRUSTED_PROXIES`` reverse proxies, the client is the address
  the outermost trusted proxy saw.
"""

from __future__ import annotations

import gzip

from flask import Flask, current_app, request
from flask_cors import CORS
from flask_limiter import Limiter
from werkzeug.wrappers import Response

#: Where each app keeps its :class:`flask_limiter.Limiter` (``app.extensions``).
LIMITER = "veraz.limiter"

#: Headers a page on another site may read from an API answer.
EXPOSED_HEADERS = [
    "ETag",
    "Retry-After",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
]


def client_address() -> str:
    """The address a request came from: the peer, or, behind ``TRUSTED_PROXIES`` proxies, the
    address the outermost of them saw (the one ``X-Forwarded-For`` entry they vouch for). A
    client cannot choose its key by sending its own ``X-Forwarded-For``: only the entries the
    trusted proxies appended are read."""
    hops = current_app.config["TRUSTED_PROXIES"]
    if hops > 0:
        forwarded = [
            part.strip() for part in request.headers.get("X-Forwarded-For", "").split(",") if part.strip()
        ]
        if len(forwarded) >= hops:
            return forwarded[-hops]
    return request.remote_addr or "unknown"


def _not_limited() -> bool:
    """Requests outside the API, and CORS preflights (which carry no work), are not counted."""
    return not request.path.startswith("/api/") or request.method == "OPTIONS"


def _conditional(response: Response) -> Response:
    """A strong ETag on a successful GET's body, and 304 when the client already has it."""
    if (
        request.method not in ("GET", "HEAD")
        or response.status_code != 200
        or response.direct_passthrough  # a file: send_file made its own validators
        or response.is_streamed  # generated as it is sent: no body to hash
        or "Content-Encoding" in response.headers
        or "ETag" in response.headers
    ):
        return response
    response.add_etag()
    if request.path.startswith("/api/") and "Cache-Control" not in response.headers:
        # Anyone may keep a copy, but must ask again before using it: with the ETag, asking
        # again costs a 304 when nothing changed.
        response.headers["Cache-Control"] = "public, no-cache"
    response = response.make_conditional(request)
    return _gzip_large(response)


#: Above this, the app's compression hook leaves a body alone; API pages are larger (a page of
#: 100 records is about 2 MB) and shrink to a fifteenth.
LARGE = 1 << 20


def _gzip_large(response: Response) -> Response:
    """A large JSON answer of the API gzip-compressed at level 1 (about 10 ms for 2 MB, where
    level 6 takes several times that for a few percent less)."""
    if (
        response.status_code != 200
        or not request.path.startswith("/api/")
        or response.mimetype != "application/json"
        or (response.content_length or 0) <= LARGE
        or "gzip" not in request.headers.get("Accept-Encoding", "")
    ):
        return response
    response.set_data(gzip.compress(response.get_data(), 1))
    response.headers["Content-Encoding"] = "gzip"
    response.vary.add("Accept-Encoding")
    etag, weak = response.get_etag()
    if etag and not weak:  # the compressed bytes are another representation
        response.set_etag(etag, weak=True)
    return response


def init_app(app: Flask) -> None:
    """Attach CORS, the rate limit and conditional answers to ``app``.

    Called after the app's own ``after_request`` hooks are registered: Flask runs them in
    reverse order, so the ETag is taken from the body before the compression hook runs."""
    CORS(
        app,
        resources={r"/api/.*": {}, r"/extensions/.*": {}, r"/.*\.json": {}},
        origins="*",
        methods=["GET", "HEAD", "OPTIONS"],
        expose_headers=EXPOSED_HEADERS,
        send_wildcard=True,
        supports_credentials=False,
        max_age=86400,
    )
    limit = app.config["API_RATE_LIMIT"].strip()
    limiter = Limiter(
        client_address,
        application_limits=[limit] if limit else [],
        application_limits_exempt_when=_not_limited,
        storage_uri=app.config["API_RATE_LIMIT_STORAGE"],
        headers_enabled=True,
        enabled=bool(limit),
        key_prefix="veraz",
    )
    limiter.init_app(app)
    app.extensions[LIMITER] = limiter
    app.after_request(_conditional)
