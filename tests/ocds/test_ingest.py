"""iter_ocds on every accepted shape, on broken input, and on the three real datasets."""

from __future__ import annotations

import gzip
import json
import random
import tracemalloc

import pytest

from ocds.errors import Problem
from ocds.ingest import (
    LINKED,
    REJECTED,
    RELEASE,
    SAFE_INTEGER,
    Package,
    Publisher,
    is_gzip,
    iter_ocds,
    precedence,
)
from ocds.validate import ReleaseValidator

RELEASE_10 = {
    "ocid": "ocds-x-1",
    "id": "r1",
    "date": "2015-01-01T00:00:00Z",
    "tag": ["tender"],
    "initiationType": "tender",
    "buyer": {"identifier": {"scheme": "PY-RUC", "id": "1"}, "name": "Municipalidad"},
}


def _write(tmp_path, name, text: str | bytes, gz=False):
    path = tmp_path / name
    data = text.encode() if isinstance(text, str) else text
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def _numbered(release_factory, n):
    return [release_factory(id=f"ocds-abc123-0001-{i:02d}") for i in range(n)]


def _incompressible(release_factory, n):
    """Releases whose gzip is about as long as they are, so half of it holds about half of them."""
    noise = random.Random(7)
    return [
        release_factory(id=f"r{i}", description="".join(noise.choices("abcdefghijklmnop", k=400)))
        for i in range(n)
    ]


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
        "bom.json": ("\ufeff" + json.dumps(package), ["releases[0]", "releases[1]"]),
    }
    for name, (text, locations) in cases.items():
        path = _write(tmp_path, name + ".data", text, gz=gz)  # the name says nothing
        assert is_gzip(path) == gz
        items = list(iter_ocds(path))
        assert [i.location for i in items] == locations, name
        assert all(i.release == release and i.problems == [] for i in items), name
        assert all(i.kind == RELEASE for i in items), name


def test_package_metadata_kept_per_release_even_after_the_releases(tmp_path, release_factory):
    releases = _numbered(release_factory, 2)
    # Metadata after the releases array: a streaming reader still has it for every release.
    text = (
        '{"uri": "https://x/p.json", "releases": ' + json.dumps(releases) + ', "version": "1.1", '
        '"publishedDate": "2024-05-01T00:00:00Z", "license": "https://cc/by", '
        '"publicationPolicy": "https://x/policy", "extensions": ["https://x/ext.json"], '
        '"publisher": {"name": "DNCP", "scheme": "PY-RUC", "uid": "1", "uri": "https://dncp"}}'
    )
    expected = Package(
        uri="https://x/p.json",
        version="1.1",
        published_date="2024-05-01T00:00:00Z",
        publisher=Publisher(name="DNCP", scheme="PY-RUC", uid="1", uri="https://dncp"),
        license="https://cc/by",
        publication_policy="https://x/policy",
        extensions=("https://x/ext.json",),
    )
    for path in (_write(tmp_path, "p.json", text), _write(tmp_path, "p.jsonl", text + "\n" + text)):
        items = list(iter_ocds(path))
        assert [i.release for i in items] == releases * (len(items) // 2)
        assert {i.package for i in items} == {expected}
        assert not any(i.upgraded for i in items)
    (bare,) = iter_ocds(_write(tmp_path, "bare.json", json.dumps(releases[0])))
    assert bare.package is None


def test_broken_lines_cost_only_themselves(tmp_path, release_factory):
    good = json.dumps(release_factory())
    text = f"{good}\n{{not json\n\n{good}\n[1, 2,, 3]\n{good}"
    items = list(iter_ocds(_write(tmp_path, "a.jsonl", text)))
    assert [(i.location, i.kind) for i in items] == [
        ("line 1", RELEASE),
        ("line 2", REJECTED),
        ("line 4", RELEASE),
        ("line 5", REJECTED),
        ("line 6", RELEASE),
    ]
    assert items[1].problems[0].reason.startswith("not valid JSON (")
    assert items[3].problems[0].reason.endswith("at column 7)")


def test_jsonl_whose_first_two_lines_are_broken(tmp_path, release_factory):
    releases = _numbered(release_factory, 3)
    lines = [json.dumps(r) for r in releases]
    text = "\n".join([lines[0][:40], '{"ocid": "x", ', *lines]) + "\n"
    items = list(iter_ocds(_write(tmp_path, "broken-head.jsonl", text)))
    assert [(i.location, i.kind) for i in items] == [
        ("line 1", REJECTED),
        ("line 2", REJECTED),
        ("line 3", RELEASE),
        ("line 4", RELEASE),
        ("line 5", RELEASE),
    ]
    assert [i.release for i in items[2:]] == releases


def test_pretty_document_with_a_complete_value_on_line_2(tmp_path, release_factory):
    releases = _numbered(release_factory, 2)
    text = "[\n" + ",\n".join(json.dumps(r) for r in releases) + "\n]\n"
    items = list(iter_ocds(_write(tmp_path, "array.json", text)))
    assert [i.location for i in items] == ["[0]", "[1]"]
    package = (
        "{\n" + '"version": "1.1",\n"releases": [\n' + ",\n".join(json.dumps(r) for r in releases) + "\n]\n}"
    )
    items = list(iter_ocds(_write(tmp_path, "package.json", package)))
    assert [i.location for i in items] == ["releases[0]", "releases[1]"]


def test_syntax_error_in_a_document_keeps_what_precedes_it(tmp_path, release_factory):
    releases = _numbered(release_factory, 3)
    text = json.dumps({"version": "1.1", "releases": releases}, indent=2)
    where = text.index('"ocid"', text.index(releases[2]["id"]) - 200)  # inside the third release
    broken = text[:where] + "NaN, " + text[where:]
    items = list(iter_ocds(_write(tmp_path, "nan.json", broken)))
    assert [i.release for i in items[:2]] == releases[:2]
    (stop,) = items[2:]
    assert stop.kind == REJECTED and stop.location == f"byte {where}"
    assert stop.problems[0].reason.startswith("not valid JSON from here on (lexical error")
    assert "the 2 items before it were read" in stop.problems[0].reason


def test_truncated_document(tmp_path, release_factory):
    releases = _numbered(release_factory, 3)
    text = json.dumps({"version": "1.1", "releases": releases}, indent=2)
    cut = text[: text.index(releases[2]["id"])]
    items = list(iter_ocds(_write(tmp_path, "cut.json", cut)))
    assert [i.release for i in items[:2]] == releases[:2]
    assert items[2].location == f"byte {len(cut.encode())}"
    assert "premature EOF" in items[2].problems[0].reason
    # The same truncated document as one line of its own.
    (item,) = iter_ocds(_write(tmp_path, "one.json", '{\n "ocid": "x",\n'))
    assert item.kind == REJECTED and item.location == "byte 16"


def test_more_data_after_a_pretty_document(tmp_path, release_factory):
    release = release_factory()
    text = json.dumps(release, indent=1) + "\n" + json.dumps(release) + "\n"
    items = list(iter_ocds(_write(tmp_path, "two.json", text)))
    assert [i.location for i in items] == ["document", f"byte {len(json.dumps(release, indent=1)) + 1}"]
    assert items[1].problems[0].reason.startswith("more data after the end of the JSON document")


def test_not_json_empty_not_ocds(tmp_path):
    (csv,) = iter_ocds(_write(tmp_path, "a.csv", "ocid,amount\nx,1\n"))
    assert csv.kind == REJECTED and csv.problems[0].reason.startswith("not JSON")
    (other,) = iter_ocds(_write(tmp_path, "b.json", '{"hello": 1}'))
    assert other.problems[0].reason.startswith("not OCDS")
    (empty,) = iter_ocds(_write(tmp_path, "c.json", "\n\n"))
    assert empty.problems[0].reason == "the file is empty"
    (missing,) = iter_ocds(tmp_path / "nowhere.json")
    assert missing.location == "file" and missing.problems[0].reason.startswith("cannot read the file")


@pytest.mark.parametrize("lines", [True, False])
def test_truncated_gzip_keeps_what_was_decompressed(tmp_path, release_factory, lines):
    releases = _incompressible(release_factory, 40)
    if lines:
        text = "".join(json.dumps(r) + "\n" for r in releases)
    else:
        text = json.dumps({"version": "1.1", "releases": releases}, indent=2)
    data = gzip.compress(text.encode())
    path = _write(tmp_path, "cut.gz", data[: len(data) // 2])
    items = list(iter_ocds(path))
    *kept, stop = items
    assert kept and all(i.kind == RELEASE for i in kept)
    assert [i.release for i in kept] == releases[: len(kept)]
    assert stop.kind == REJECTED
    assert stop.problems[0].reason.startswith("the gzip data is corrupt or truncated")
    if lines:
        assert stop.location == f"line {len(kept) + 1}"
        assert f"lines 1 to {len(kept)} were read" in stop.problems[0].reason
    else:
        assert stop.location.startswith("byte ")


def test_corrupt_gzip(tmp_path, release_factory):
    releases = _incompressible(release_factory, 40)
    text = "".join(json.dumps(r) + "\n" for r in releases)
    data = bytearray(gzip.compress(text.encode()))
    data[len(data) // 2 : len(data) // 2 + 8] = b"\xff" * 8
    items = list(iter_ocds(_write(tmp_path, "bad.gz", bytes(data))))
    kept = [i for i in items if i.kind == RELEASE]
    assert [i.release for i in kept] == releases[: len(kept)]
    rejected = [i for i in items if i.kind == REJECTED]
    assert rejected and rejected[-1].location.startswith("line ")


def test_numbers_the_canonical_form_cannot_write_reject_their_release_only(tmp_path, release_factory):
    releases = _numbered(release_factory, 5)
    text = json.dumps({"version": "1.1", "releases": releases})
    # Exact number tokens, as a publisher might write them, in releases 1, 2 and 3.
    tokens = {1: str(2**53 + 1), 2: "1E400", 3: "1.00000000000000000001"}
    for i, token in tokens.items():
        text = text.replace(f'"ocds-abc123-0001-0{i}", ', f'"ocds-abc123-0001-0{i}", "value": {token}, ')
    text = text.replace('"amount": 25.5', '"amount": 25.50')  # only notation: still exact
    for path in (_write(tmp_path, "n.json", text), _write(tmp_path, "n.jsonl", text + "\n" + text)):
        items = list(iter_ocds(path))[:5]
        assert [i.kind for i in items] == [RELEASE, REJECTED, REJECTED, REJECTED, RELEASE]
        assert items[0].release == releases[0] and items[4].release == releases[4]
        assert isinstance(items[0].release["contracts"][0]["items"][0]["unit"]["value"]["amount"], float)
        for i in tokens:
            (problem,) = items[i].problems
            assert problem.field == "value"
            assert problem.reason.startswith("RFC 8785 canonical JSON (IEEE 754 doubles)")
        assert str(SAFE_INTEGER) in items[1].problems[0].reason
        assert "out of range" in items[2].problems[0].reason
        assert "would become 1.0" in items[3].problems[0].reason


def test_safe_extremes_and_nested_paths(tmp_path, release_factory):
    release = release_factory(value={"n": [SAFE_INTEGER, -SAFE_INTEGER, 1e308, 5e-324]})
    (item,) = iter_ocds(_write(tmp_path, "ok.json", json.dumps(release)))
    assert item.release == release
    bad = json.dumps(release_factory()).replace('"quantity": 10', '"quantity": -9007199254740992')
    (item,) = iter_ocds(_write(tmp_path, "bad.json", bad))
    assert item.problems[0].field == "contracts/0/items/0/quantity"


def test_pathological_values_never_crash(tmp_path, release_factory):
    good = json.dumps(release_factory())
    huge = good.replace('"quantity": 10', '"quantity": ' + "9" * 5000)
    surrogate = good.replace('"Papel A4"', '"Papel \\ud800 A4"')
    deep = good.replace('"quantity": 10', '"quantity": ' + "[" * 70 + "]" * 70)
    deeper = good.replace('"quantity": 10', '"quantity": ' + "[" * 3000 + "]" * 3000)
    text = "\n".join([good, huge, surrogate, deep, deeper, good]) + "\n"
    items = list(iter_ocds(_write(tmp_path, "odd.jsonl", text)))
    assert [i.kind for i in items] == [RELEASE, REJECTED, REJECTED, REJECTED, REJECTED, RELEASE]
    assert items[2].problems[0].field == "contracts/0/items/0/description"
    assert "surrogate" in items[2].problems[0].reason
    assert items[3].problems[0].reason == "nested deeper than 64 levels"
    assert "nested deeper than 1000 levels" in items[4].problems[0].reason
    # The same values inside one document: the surrogate and the depth cost their release only.
    document = "[" + ",\n".join([good, surrogate, deep, good]) + "]"
    items = list(iter_ocds(_write(tmp_path, "odd.json", document)))
    assert [i.kind for i in items] == [RELEASE, REJECTED, REJECTED, RELEASE]


def test_upgrade_10(tmp_path):
    (item,) = iter_ocds(_write(tmp_path, "old.json", json.dumps({"uri": "u", "releases": [RELEASE_10]})))
    assert item.release["buyer"] == {
        "id": item.release["parties"][0]["id"],
        "name": "Municipalidad",
    }
    assert item.upgraded and item.package == Package(uri="u")
    assert ReleaseValidator().problems(item.release) == []


def test_linked_records_are_reported_once_never_imported(tmp_path, release_factory):
    embedded = release_factory()
    compiled = release_factory(id="compiled", tag=["compiled"])
    record = {
        "ocid": compiled["ocid"],
        "releases": [
            {"url": "https://x/r1", "date": compiled["date"], "tag": ["tender"]},
            embedded,
            {"url": "https://x/r2", "date": compiled["date"]},
        ],
        "compiledRelease": compiled,
        "versionedRelease": {"ocid": compiled["ocid"]},
    }
    path = _write(tmp_path, "rec.json", json.dumps({"version": "1.1", "records": [record]}))
    released, linked = iter_ocds(path)
    assert released.location == "records[0].releases[1]" and released.release == embedded
    assert linked.kind == LINKED and linked.location == "records[0]"
    assert linked.linked == ("https://x/r1", "https://x/r2")
    assert linked.problems[0].reason.startswith("2 linked releases (url, date, tag)")
    only_compiled = {"ocid": compiled["ocid"], "compiledRelease": compiled}
    path = _write(tmp_path, "c.json", json.dumps({"version": "1.1", "records": [only_compiled]}))
    (item,) = iter_ocds(path)
    assert item.kind == REJECTED
    assert item.problems == [
        Problem(
            "releases",
            "the record has no releases (compiledRelease is derived from releases and never imported as one)",
        )
    ]


def test_precedence_does_not_depend_on_reading_order(release_factory):
    release = release_factory()
    new_11 = _item(release, Package(version="1.1", published_date="2024-02-01T00:00:00-05:00"))
    old_11 = _item(release, Package(version="1.1", published_date="2024-02-01T04:00:00Z"))
    undated = _item(release, Package(version="1.1"))
    upgraded = _item(release, Package(published_date="2030-01-01T00:00:00Z"), upgraded=True)
    ranked = [(new_11, "b"), (old_11, "a"), (undated, "0"), (upgraded, "0")]
    for order in (ranked, ranked[::-1], ranked[1:] + ranked[:1]):
        assert sorted(order, key=lambda pair: precedence(*pair)) == ranked
    # Equal in everything else: the smaller digest.
    assert precedence(old_11, "a") < precedence(old_11, "b")


def _item(release, package, upgraded=False):
    from ocds.ingest import Item

    return Item("f", "releases[0]", release, [], package, upgraded)


def test_a_large_package_is_streamed(tmp_path, release_factory):
    releases = [release_factory(id=f"r{i}", note="x" * 2000) for i in range(2000)]
    path = _write(tmp_path, "big.json", json.dumps({"version": "1.1", "releases": releases}, indent=1))
    size = path.stat().st_size
    tracemalloc.start()
    try:
        count = sum(1 for item in iter_ocds(path) if item.kind == RELEASE)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 2000
    assert peak < size / 10, (peak, size)


EXPECTED = {  # items, linked records (their releases are elsewhere), invalid releases (raw files)
    "paraguay-dncp": (86, 12, 26),
    "mexico-gacm": (322, 0, 292),
    "mexico-jalisco": (20, 10, 0),
}


@pytest.mark.parametrize("dataset", sorted(EXPECTED))
def test_real_raw_files_import(shared, dataset):
    raw = shared("real-ocds", dataset, "raw")
    items = [i for path in sorted(raw.glob("*/*")) for i in iter_ocds(path, validate=True)]
    linked = [i for i in items if i.kind == LINKED]
    invalid = [i for i in items if i.kind == RELEASE and i.problems]
    assert (len(items), len(linked), len(invalid)) == EXPECTED[dataset]
    assert not [i for i in items if i.kind == REJECTED]
    assert all(r.release.get("parties") or "parties" not in json.dumps(r.release) for r in items if r.release)


@pytest.mark.parametrize("dataset", sorted(EXPECTED))
def test_every_real_release_comes_out_with_its_package(shared, dataset):
    raw = shared("real-ocds", dataset, "raw")
    expected = {(r["ocid"], r["id"]) for r in _jsonl(shared("real-ocds", dataset, "releases.jsonl"))}
    seen = set()
    for path in sorted(raw.glob("*/*")):
        document = json.loads(path.read_bytes())
        for item in iter_ocds(path):
            if item.kind != RELEASE:
                continue
            seen.add((item.release["ocid"], item.release["id"]))
            record = {"ocid", "compiledRelease", "versionedRelease"} & set(document)
            if isinstance(document, dict) and "records" in document or "releases" in document and not record:
                assert item.package is not None and item.package.uri == document.get("uri")
                assert item.package.published_date == document.get("publishedDate")
                assert item.package.version == document.get("version")
    assert expected <= seen


@pytest.mark.parametrize("dataset", sorted(EXPECTED))
def test_real_jsonl_imports(shared, dataset):
    path = shared("real-ocds", dataset, "releases.jsonl")
    items = list(iter_ocds(path, validate=True))
    assert all(i.location.startswith("line ") and i.release is not None for i in items)
    assert [i.release["id"] for i in items] == [r["id"] for r in _jsonl(path)]


def _jsonl(path):
    return [json.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def test_a_gzip_checksum_mismatch_is_reported_after_what_was_read(tmp_path, release_factory):
    releases = _numbered(release_factory, 3)
    data = bytearray(gzip.compress("".join(json.dumps(r) + "\n" for r in releases).encode()))
    data[-8] ^= 0xFF  # the CRC-32 of the trailer
    *kept, stop = iter_ocds(_write(tmp_path, "crc.gz", bytes(data)))
    assert [i.release for i in kept] == releases
    assert stop.kind == REJECTED and stop.location == "line 4"
    assert stop.problems[0].reason.startswith(
        "the gzip data is corrupt: its checksum at the end does not match"
    )
