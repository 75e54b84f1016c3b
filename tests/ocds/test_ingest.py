"""iter_ocds on every accepted shape, on broken input, and on the three real datasets."""

from __future__ import annotations

import gzip
import json

import pytest

from ocds.ingest import is_gzip, iter_ocds
from ocds.validate import ReleaseValidator

RELEASE_10 = {
    "ocid": "ocds-x-1",
    "id": "r1",
    "date": "2015-01-01T00:00:00Z",
    "tag": ["tender"],
    "initiationType": "tender",
    "buyer": {"identifier": {"scheme": "PY-RUC", "id": "1"}, "name": "Municipalidad"},
}


def _write(tmp_path, name, text: str, gz=False):
    path = tmp_path / name
    data = text.encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


@pytest.mark.parametrize("gz", [False, True])
def test_shapes(tmp_path, release_factory, gz):
    release = release_factory()
    package = {"uri": "u", "version": "1.1", "releases": [release, release]}
    record_package = {
        "version": "1.1",
        "records": [{"ocid": release["ocid"], "releases": [release]}],
    }
    cases = {
        "package.json": (json.dumps(package, indent=2), ["releases[0]", "releases[1]"]),
        "records.json": (json.dumps(record_package), ["records[0].releases[0]"]),
        "bare.json": (json.dumps(release, indent=1), ["document"]),
        "array.json": (json.dumps([release, release], indent=1), ["[0]", "[1]"]),
        "lines.jsonl": (
            "\n".join(json.dumps(r) for r in [release, release, release]) + "\n",
            ["line 1", "line 2", "line 3"],
        ),
        "packages.jsonl": (
            json.dumps(package) + "\n\n" + json.dumps(record_package),
            ["line 1: releases[0]", "line 1: releases[1]", "line 3: records[0].releases[0]"],
        ),
    }
    for name, (text, locations) in cases.items():
        path = _write(tmp_path, name + ".data", text, gz=gz)  # the name says nothing
        assert is_gzip(path) == gz
        items = list(iter_ocds(path))
        assert [i.location for i in items] == locations, name
        assert all(i.release == release and i.problems == [] for i in items), name


def test_broken_input(tmp_path, release_factory):
    good = json.dumps(release_factory())
    items = list(iter_ocds(_write(tmp_path, "a.jsonl", f"{good}\n{{not json\n{good}\n")))
    assert [i.location for i in items] == ["line 1", "line 2", "line 3"]
    assert items[1].release is None and "not valid JSON" in items[1].problems[0].reason
    (csv,) = iter_ocds(_write(tmp_path, "a.csv", "ocid,amount\nx,1\n"))
    assert csv.release is None and "not JSON" in csv.problems[0].reason
    (other,) = iter_ocds(_write(tmp_path, "b.json", '{"hello": 1}'))
    assert "not OCDS" in other.problems[0].reason
    (empty,) = iter_ocds(_write(tmp_path, "c.json", ""))
    assert "empty" in empty.problems[0].reason
    (truncated,) = iter_ocds(_write(tmp_path, "d.json", '{\n "ocid": "x",\n'))
    assert "not valid JSON" in truncated.problems[0].reason
    bad_gz = tmp_path / "e.gz"
    bad_gz.write_bytes(gzip.compress(good.encode())[:-12])
    assert any(i.release is None for i in iter_ocds(bad_gz))


def test_upgrade_10(tmp_path):
    (item,) = iter_ocds(
        _write(tmp_path, "old.json", json.dumps({"uri": "u", "releases": [RELEASE_10]}))
    )
    assert item.release["buyer"] == {
        "id": item.release["parties"][0]["id"],
        "name": "Municipalidad",
    }
    assert ReleaseValidator().problems(item.release) == []


def test_linked_records(tmp_path, release_factory):
    compiled = release_factory(tag=["compiled"])
    record = {
        "ocid": compiled["ocid"],
        "releases": [{"url": "https://x/r", "date": compiled["date"]}],
        "compiledRelease": compiled,
    }
    path = _write(tmp_path, "rec.json", json.dumps({"version": "1.1", "records": [record]}))
    (item,) = iter_ocds(path)
    assert item.location == "records[0].compiledRelease" and item.release == compiled
    (skipped,) = iter_ocds(path, linked_records="skip")
    assert skipped.release is None and skipped.problems[0].field == "releases"


EXPECTED = {  # items, items without a release, invalid releases (raw files)
    "paraguay-dncp": (86, 2, 36),
    "mexico-gacm": (322, 0, 292),
    "mexico-jalisco": (20, 0, 0),
}


@pytest.mark.parametrize("dataset", sorted(EXPECTED))
def test_real_raw_files_import(shared, dataset):
    raw = shared("real-ocds", dataset, "raw")
    items = [i for path in sorted(raw.glob("*/*")) for i in iter_ocds(path, validate=True)]
    unusable = [i for i in items if i.release is None]
    invalid = [i for i in items if i.release is not None and i.problems]
    assert (len(items), len(unusable), len(invalid)) == EXPECTED[dataset]
    # Every unusable item is a record that only links its releases, never a crash.
    assert all(i.problems[0].field == "releases" for i in unusable)
    assert all(
        r.release.get("parties") or "parties" not in json.dumps(r.release)
        for r in items
        if r.release
    )


@pytest.mark.parametrize("dataset", sorted(EXPECTED))
def test_real_jsonl_imports(shared, dataset):
    path = shared("real-ocds", dataset, "releases.jsonl")
    items = list(iter_ocds(path, validate=True))
    assert all(i.location.startswith("line ") and i.release is not None for i in items)
