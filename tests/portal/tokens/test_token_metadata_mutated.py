"""Imported OCDS may hold anything: mutated orders published through the real importer give
metadata (partial, every value text) or a truthful 404, never a server error; the image too.
SQLite and PostgreSQL."""

from __future__ import annotations

import copy
import json
import random
from urllib.parse import quote

import orjson
from builders import SHAPES, example_order
from sqlalchemy import select
from support import json_paths, make_app

from ocds.catalogue.mapping import map_order
from portal.db import app_engine
from portal.models import records
from portal.publishing import import_ocds

VALUES = [None, True, -1, 10**30, 1.5e300, "", "x", "2024-13-01", [], {}, [{"a": 1}], {"amount": "1e400"}]


def _mutated(rng: random.Random, shape: str) -> dict:
    release = copy.deepcopy(map_order(example_order(shape), ocid_prefix="ocds-test01").order_release)
    paths = [p for p in json_paths(release) if p[0] not in ("ocid", "id", "date")]
    for _ in range(rng.randint(1, 8)):
        path = rng.choice(paths)
        node = release
        try:
            for step in path[:-1]:
                node = node[step]
            node[path[-1]] = rng.choice(VALUES)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed this path
    return release


def test_mutated_orders_give_metadata_or_a_truthful_404(database_url, tmp_path):
    rng = random.Random(15)
    lines = []
    for n in range(30):
        release = _mutated(rng, SHAPES[n % len(SHAPES)])
        release.update(ocid=f"ocds-mut015-{n}/ñ?", id=f"r{n}", date="2025-03-01T00:00:00Z")
        lines.append(json.dumps(release).encode() + b"\n")  # orjson refuses integers past 64 bits
    path = tmp_path / "mutated.jsonl"
    path.write_bytes(b"".join(lines))
    app = make_app(database_url, tmp_path)
    try:
        import_ocds(app_engine(app), [path])
        with app_engine(app).connect() as conn:
            kinds = dict(conn.execute(select(records.c.ocid, records.c.kind)).all())
        assert sum(kind == "order" for kind in kinds.values()) > 5
        client = app.test_client()
        answered = 0
        for ocid, kind in kinds.items():
            meta = client.get(f"/tokens/{quote(ocid, safe='')}.json")
            assert meta.status_code == (200 if kind == "order" else 404), (ocid, meta.data[:300])
            image = client.get(f"/tokens/{quote(ocid, safe='')}.svg")
            assert image.status_code == meta.status_code
            if meta.status_code == 200:
                body = orjson.loads(meta.data)
                assert body["veraz"]["ocid"] == ocid
                assert all(isinstance(a["value"], str) and a["value"] for a in body["attributes"])
                answered += 1
        assert answered > 5
    finally:
        app_engine(app).dispose()
