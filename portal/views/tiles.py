"""The evidence log as a C2SP tlog-tiles log (https://c2sp.org/tlog-tiles), read-only.

With ``/api/log/`` as the log's prefix URL, a standard tiles client (a witness, a monitor, a
mirror) reads:

* ``/api/log/checkpoint``: the latest signed checkpoint (``portal.views.log``);
* ``/api/log/tile/<L>/<N>[.p/<W>]``: tile ``N`` of level ``L``, the hashes of tree level
  ``8 L``, nodes ``[256 N, 256 N + W)`` (full tiles have 256, no ``.p`` suffix);
* ``/api/log/tile/entries/<N>[.p/<W>]``: entry bundle ``N``, entries ``[256 N, 256 N + W)``,
  each a big-endian uint16 length and the entry bytes (``docs/proof-format.md``, "Log
  entries").

``N`` is written in groups of three digits, every group but the last prefixed with ``x``
(``1234067`` is ``x001/x234/067``). Only what the latest checkpoint covers is served, so a
client never sees a tile that no signed checkpoint commits to. Full tiles never change and are
served as immutable; a partial tile is the prefix of the stored one (tiles only ever grow at
their end), so the same request always gets the same bytes.
"""

from __future__ import annotations

import re

from flask import Blueprint, Response, abort

from anchoring.errors import LogError
from portal.db import app_engine
from portal.evidence.read import tiles
from portal.evidence.read.tiles import WIDTH
from portal.views.params import LARGEST

bp = Blueprint("tiles", __name__)

_INDEX = re.compile(r"(?:x\d{3}/)*\d{3}\Z", re.ASCII)
_PARTIAL = re.compile(r"(?P<index>.*)\.p/(?P<width>\d{1,3})\Z", re.ASCII)


def _parse(path: str) -> tuple[int, int | None]:
    """(tile index, partial width or None) of ``x001/x234/067[.p/W]``; 404 if malformed."""
    width = None
    partial = _PARTIAL.match(path)
    if partial:
        path, width = partial.group("index"), int(partial.group("width"))
        if not 0 < width < WIDTH or partial.group("width") != str(width):
            abort(404, description="A partial tile has a width from 1 to 255 (no leading zero).")
    if not _INDEX.match(path):
        abort(404, description="A tile index is written as x001/x234/067 (groups of 3 digits).")
    groups = path.split("/")
    if len(groups) > 1 and groups[0] == "x000":
        abort(404, description="A tile index has no leading zero group.")
    index = int("".join(g.lstrip("x") for g in groups))
    if index > LARGEST:
        abort(404, description="No tile has so large an index.")
    return index, width


def _serve(data: bytes | None, full: bool) -> Response:
    if data is None:
        abort(404, description="No signed checkpoint covers this tile (yet).")
    response = Response(data, mimetype="application/octet-stream")
    response.headers["Cache-Control"] = (
        "public, max-age=31536000, immutable" if full else "public, max-age=60"
    )
    return response


@bp.get("/api/log/tile/entries/<path:path>")
def entry_bundle(path: str):
    index, width = _parse(path)
    try:
        with app_engine().connect() as conn:
            data = tiles.entry_bundle(conn, index, width or WIDTH)
    except LogError:  # pragma: no cover - storage inconsistent (veraz audit reports it)
        abort(500, description="The stored entry bundle is shorter than its tile.")
    return _serve(data, width is None)


@bp.get("/api/log/tile/<whole:level>/<path:path>")
def tile(level: int, path: str):
    if level > 63:
        abort(404, description="No such tile level.")
    index, width = _parse(path)
    try:
        with app_engine().connect() as conn:
            data = tiles.tile(conn, level, index, width or WIDTH)
    except LogError:  # pragma: no cover - storage inconsistent
        abort(500, description="The stored tile is shorter than the checkpoint says.")
    return _serve(data, width is None)
