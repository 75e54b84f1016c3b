"""The evidence log read as a C2SP tlog-tiles log, by a small independent tiles client.

The client below knows only the tlog-tiles layout (c2sp.org/tlog-tiles) and RFC 9162; it
recomputes the checkpoint's root from the served tiles and each leaf from the served entry
bundles. Runs on a real SQLite file and a real PostgreSQL database.
"""

from __future__ import annotations

import hashlib

from evidence_builders import publish_examples

from anchoring.notes import Checkpoint
from portal.cli import main


def _path(n: int) -> str:
    digits = f"{n:d}"
    digits = "0" * (-len(digits) % 3) + digits
    groups = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    return "/".join(["x" + g for g in groups[:-1]] + [groups[-1]])


def _tile_url(level, n: int, width: int) -> str:
    return f"/api/log/tile/{level}/{_path(n)}" + (f".p/{width}" if width < 256 else "")


def _mth(hashes: list[bytes]) -> bytes:
    """RFC 9162 root over leaf hashes, by its recursive definition."""
    if len(hashes) == 1:
        return hashes[0]
    k = 1
    while k * 2 < len(hashes):
        k *= 2
    return hashlib.sha256(b"\x01" + _mth(hashes[:k]) + _mth(hashes[k:])).digest()


def _entries(blob: bytes) -> list[bytes]:
    out, at = [], 0
    while at < len(blob):
        n = int.from_bytes(blob[at : at + 2], "big")
        out.append(blob[at + 2 : at + 2 + n])
        at += 2 + n
    return out


def _publish_a_few_hundred(app, tmp_path):
    from builders import all_examples

    orders = []
    for k in range(60):  # 60 x 5 orders: more than one full tile of entries
        for o in all_examples():
            o = dict(o, orderNumber=f"{o['orderNumber']}-{k}")
            orders.append(o)
    publish_examples(app, tmp_path, orders)


def test_a_tiles_client_recomputes_the_checkpoint(app, client, runner, tmp_path):
    _publish_a_few_hundred(app, tmp_path)
    assert client.get("/api/log/tile/0/000.p/1").status_code == 404  # nothing signed yet
    assert runner.invoke(main, ["anchor"]).exit_code in (0, 1)
    note = client.get("/api/log/checkpoint").get_data(as_text=True)
    cp = Checkpoint.parse(note[: note.index("\n\n") + 1])
    size = cp.size
    assert size > 256

    leaves: list[bytes] = []
    for n in range((size + 255) // 256):
        width = min(256, size - 256 * n)
        tile = client.get(_tile_url(0, n, width))
        assert tile.status_code == 200, tile.get_data(as_text=True)
        assert len(tile.data) == 32 * width
        hashes = [tile.data[i : i + 32] for i in range(0, len(tile.data), 32)]
        bundle = client.get(_tile_url("entries", n, width))
        assert bundle.status_code == 200
        assert [hashlib.sha256(b"\x00" + e).digest() for e in _entries(bundle.data)] == hashes
        # Only a full tile never changes.
        assert ("immutable" in tile.headers["Cache-Control"]) == (width == 256)
        leaves.extend(hashes)
    assert _mth(leaves) == cp.root

    # Level 1 holds the roots of the full level-0 tiles.
    level1 = client.get(_tile_url(1, 0, size // 256)).data
    assert level1[:32] == _mth(leaves[:256])

    # Nothing beyond the checkpoint, nothing malformed.
    full = size // 256
    assert client.get(_tile_url(0, full + 1, 1)).status_code == 404
    assert size % 256, "the published examples must leave a partial tile to test"
    assert client.get(_tile_url(0, full, 256)).status_code == 404
    assert client.get(_tile_url(0, full, size % 256 + 1)).status_code == 404
    for bad in (
        "0/1",
        "0/0001",
        "0/x000/001",
        "0/000.p/0",
        "0/000.p/256",
        "0/000.p/07",
        "entries/abc",
        "99/000",
    ):
        assert client.get(f"/api/log/tile/{bad}").status_code == 404, bad
