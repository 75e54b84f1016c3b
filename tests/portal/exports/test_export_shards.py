"""A first export in shards (one process per range of ocids, joined in order) writes the very
bytes one process writes, and the next export's quick path reads its segments (SQLite and
PostgreSQL)."""

from __future__ import annotations

import gzip
import shutil
from itertools import islice
from pathlib import Path

import orjson
import pytest
from builders import write_jsonl
from evidence_builders import PREFIX, publish_examples
from exports_support import folder_of, import_other, manifest, run_export

from ocds.catalogue.generate import generate_orders
from portal.db import app_engine
from portal.exports import Limits, Publication, export
from portal.exports.build import STATE, _cuts, _shard_bounds, read_segments
from portal.publishing import import_orders

COMPILED = frozenset({"compiled"})
LIMITS = Limits(shard_min=1)


def _publish(
    app, tmp_path: Path, n: int, seed: int, name: str, skip: int = 0, stop: int | None = None
) -> None:
    """Source lines ``skip`` to ``stop`` of the generator's stream of ``n`` (orders, then new
    versions of some)."""
    path = write_jsonl(tmp_path / f"{name}.jsonl", list(islice(generate_orders(n, seed), skip, stop)))
    summary = import_orders(app_engine(app), path, ocid_prefix=PREFIX, workers=1)
    assert summary.rejects == []


def _state(folder: Path) -> dict[str, bytes]:
    """Every file an export leaves, public or kept for the next export, by name."""
    files = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file() and p.name != ".lock"}
    files.update({f"{STATE}/{p.name}": p.read_bytes() for p in (folder / STATE).iterdir()})
    # The manifest, but for when it was written and the log's size then (each export's files
    # are logged: the log grows between the exports compared).
    m = orjson.loads(files.pop("manifest.json"))
    m.pop("generated")
    m["snapshot"].pop("published")
    m["snapshot"].pop("tree_size")
    for f in m["files"]:
        f.pop("exported_at")
        f.pop("tree_size")
    files["manifest.json"] = orjson.dumps(m)
    return files


def test_shards_write_the_bytes_one_process_writes(app, tmp_path):
    publish_examples(app, tmp_path)
    _publish(app, tmp_path, 120, 7, "generated")
    for i in range(1, 6):  # another publisher's processes of several releases, stored compiled
        import_other(app, tmp_path, f"ocds-abc123-{i}", n=1 + i % 3, year=2023 + i % 3)
    folder = folder_of(app)
    one = run_export(app, formats=COMPILED, limits=LIMITS, workers=1)
    assert one.shards == 1
    expected = _state(folder)
    with app_engine(app).connect() as conn:
        cuts = _cuts(conn, LIMITS)
    assert len(cuts) == 7 and cuts == sorted(cuts)
    for workers in (2, 3, 8):
        shutil.rmtree(folder)  # nothing to copy from: a first export
        sharded = run_export(app, formats=COMPILED, limits=LIMITS, workers=workers)
        assert sharded.shards == workers and sharded.compiled == one.compiled
        got = _state(folder)
        assert got.keys() == expected.keys()
        for name, data in expected.items():
            assert got[name] == data, name
    # Every compiled release once, in ocid order within each year (what the segments index).
    m = manifest(app)
    total = 0
    for f in m["files"]:
        if f["kind"] == "compiled-releases" and f["year"]:
            lines = gzip.decompress((folder / f["name"]).read_bytes()).splitlines()
            ocids = [orjson.loads(line)["ocid"] for line in lines]
            assert ocids == sorted(ocids) and len(set(ocids)) == len(ocids) == f["releases"]
            total += len(ocids)
            segments = read_segments(folder / STATE / f"{f['year']}-{f['sha256']}.segments")
            assert segments is not None and sum(s[4] for s in segments) == len(ocids)
    assert total == one.compiled


def test_shard_bounds_split_the_cuts_evenly():
    cuts = [f"c{i}" for i in range(7)]
    assert _shard_bounds(cuts, 1) == []
    assert _shard_bounds(cuts, 2) == ["c3"]
    assert _shard_bounds(cuts, 4) == ["c1", "c3", "c5"]
    assert _shard_bounds(cuts, 8) == cuts
    assert _shard_bounds(cuts, 64) == cuts
    assert _shard_bounds(["a"], 3) == ["a"]


def test_without_enough_processes_no_cuts_and_no_shards(app, tmp_path):
    publish_examples(app, tmp_path)
    summary = run_export(app, formats=COMPILED, workers=2)  # the default threshold
    assert summary.shards == 1
    with app_engine(app).connect() as conn:
        assert _cuts(conn, Limits()) == []


def test_the_quick_path_after_a_sharded_export_gives_the_lines_a_rebuild_gives(app, tmp_path):
    publish_examples(app, tmp_path)
    _publish(app, tmp_path, 130, 3, "generated", stop=80)
    import_other(app, tmp_path, "ocds-abc123-1", n=1)
    first = run_export(app, formats=COMPILED, limits=LIMITS, workers=2)
    assert first.shards == 2 and not first.quick
    # New processes, new versions of orders across the shards' ranges, a process with a new release.
    _publish(app, tmp_path, 130, 3, "more", skip=80)
    import_other(app, tmp_path, "ocds-abc123-1", n=2)
    quick = run_export(app, formats=COMPILED, limits=LIMITS, workers=2)
    assert quick.quick and quick.reused > 0
    fresh = tmp_path / "fresh"
    export(
        app_engine(app),
        fresh,
        Publication.from_config(app.config),
        formats=COMPILED,
        recompile=True,
        limits=LIMITS,
    )
    for name in (
        "full.jsonl.gz",
        *(f["name"] for f in manifest(app)["files"] if f["kind"] == "compiled-releases"),
    ):
        assert gzip.decompress((folder_of(app) / name).read_bytes()) == gzip.decompress(
            (fresh / name).read_bytes()
        ), name


def test_a_shard_that_fails_fails_the_export_and_the_previous_files_stay(app, tmp_path, monkeypatch):
    from portal.exports import ExportFailed, build

    publish_examples(app, tmp_path)
    _publish(app, tmp_path, 60, 5, "generated")
    run_export(app, formats=COMPILED, limits=LIMITS, workers=1)
    folder = folder_of(app)
    before = _state(folder)
    write_range = build._write_range

    def full_disk_in_the_second_range(conn, writer, upto, low, high):
        if low is not None:  # a shard's process (forked: it inherits this)
            raise OSError(28, "No space left on device")
        write_range(conn, writer, upto, low, high)

    monkeypatch.setattr(build, "_write_range", full_disk_in_the_second_range)
    with pytest.raises(ExportFailed, match="No space left on device"):
        run_export(app, formats=COMPILED, limits=LIMITS, workers=2, full=True, recompile=True)
    assert _state(folder) == before and not (folder / ".partial").exists()
