"""Property tests of iter_ocds: releases drawn from the OCDS release schema, written in every
accepted shape, then broken at the byte and at the structure level. Whatever the damage,
iter_ocds never raises, never loses a valid release before or after a bad one, and every
location it reports is exact."""

from __future__ import annotations

import functools
import gzip
import json
import tempfile
import zlib
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ocds import schema as ocds_schema
from ocds.ingest import LINKED, REJECTED, RELEASE, SAFE_INTEGER, Package, Publisher, iter_ocds

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_RELEASE_SCHEMA = ocds_schema.release_schema()
_DEFINITIONS = _RELEASE_SCHEMA["definitions"]
_SCALARS: dict[str, st.SearchStrategy[Any]] = {
    "string": st.text(max_size=12),
    "integer": st.integers(min_value=-SAFE_INTEGER, max_value=SAFE_INTEGER),
    "number": st.one_of(
        st.integers(min_value=-SAFE_INTEGER, max_value=SAFE_INTEGER),
        st.floats(allow_nan=False, allow_infinity=False),
    ),
    "boolean": st.booleans(),
    "null": st.none(),
}


@functools.cache
def _from_schema(pointer: str, depth: int) -> st.SearchStrategy[Any]:
    """Values of the schema node at ``pointer`` (a definition name or ``""`` for a release)."""
    node = _RELEASE_SCHEMA if not pointer else _DEFINITIONS[pointer]
    return _node(json.dumps(node, sort_keys=True), depth)


@functools.cache
def _node(text: str, depth: int) -> st.SearchStrategy[Any]:
    node = json.loads(text)
    if "$ref" in node:
        return st.deferred(lambda: _from_schema(node["$ref"].rsplit("/", 1)[-1], depth))
    types = node.get("type", "object" if "properties" in node else "string")
    types = [types] if isinstance(types, str) else types
    options = []
    for kind in types:
        if kind == "object":
            if depth <= 0:
                options.append(st.just({}))
                continue
            properties = {
                k: _node(json.dumps(v, sort_keys=True), depth - 1)
                for k, v in node.get("properties", {}).items()
            }
            options.append(st.fixed_dictionaries({}, optional=properties))
        elif kind == "array":
            items = node.get("items", {"type": "string"})
            if depth <= 0:
                options.append(st.just([]))
                continue
            options.append(st.lists(_node(json.dumps(items, sort_keys=True), depth - 1), max_size=2))
        elif "enum" in node and node["enum"]:
            options.append(st.sampled_from([v for v in node["enum"] if v is not None] or [None]))
        else:
            options.append(_SCALARS[kind])
    return st.one_of(options)


_ONE_TO_SIX = st.integers(min_value=1, max_value=6)


@st.composite
def releases(draw, count=_ONE_TO_SIX):
    """Releases drawn from the release schema, two ocids, unique ids, always 1.1 (parties)."""
    drawn = []
    for i in range(draw(count)):
        release = draw(_from_schema("", 3))
        release.update(
            ocid=draw(st.sampled_from(["ocds-a-1", "ocds-a-2"])),
            id=f"r{i}",
            parties=release.get("parties") if isinstance(release.get("parties"), list) else [],
        )
        drawn.append(release)
    return drawn


# How a list of releases is written, and where each release ends up.
SHAPES = ("package", "pretty package", "array", "lines", "package lines", "record package")


def _write(releases: list[dict], shape: str) -> tuple[str, list[str]]:
    if shape == "package":
        return json.dumps({"version": "1.1", "releases": releases}), _at("releases[{}]", releases)
    if shape == "pretty package":
        return json.dumps({"version": "1.1", "releases": releases}, indent=2), _at("releases[{}]", releases)
    if shape == "array":
        return json.dumps(releases, indent=1), _at("[{}]", releases)
    # A single line is one document as much as it is JSON Lines: it is read as a document.
    if shape == "lines":
        lines = len(releases) > 1
        return "".join(json.dumps(r) + "\n" for r in releases), (
            _at("line {}", releases, 1) if lines else ["document"]
        )
    if shape == "package lines":
        text = "".join(json.dumps({"version": "1.1", "releases": [r]}) + "\n\n" for r in releases)
        return text, (
            [f"line {2 * i + 1}: releases[0]" for i in range(len(releases))]
            if len(releases) > 1
            else ["releases[0]"]
        )
    records = [{"ocid": r["ocid"], "releases": [r]} for r in releases]
    return json.dumps({"version": "1.1", "records": records}), _at("records[{}].releases[0]", releases)


def _at(pattern: str, releases: list, start: int = 0) -> list[str]:
    return [pattern.format(i + start) for i in range(len(releases))]


def _read(data: bytes, name: str = "data") -> list:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, name)
        path.write_bytes(data)
        return list(iter_ocds(path))


@SETTINGS
@given(drawn=releases(), shape=st.sampled_from(SHAPES), gz=st.booleans())
def test_every_shape_reads_back_exactly(drawn, shape, gz):
    text, locations = _write(drawn, shape)
    data = text.encode()
    items = _read(gzip.compress(data) if gz else data)
    assert [(i.kind, i.location) for i in items] == [(RELEASE, at) for at in locations]
    assert [i.release for i in items] == drawn


BAD_TOKENS = (str(2**53), str(-(2**64)), "1E400", "-1e999", "0.10000000000000000000001", "1e-400")


@SETTINGS
@given(
    drawn=releases(count=st.integers(min_value=2, max_value=6)), shape=st.sampled_from(SHAPES), data=st.data()
)
def test_a_number_canonical_json_cannot_write_rejects_its_release_only(drawn, shape, data):
    bad = data.draw(st.sets(st.integers(min_value=0, max_value=len(drawn) - 1), min_size=1), label="bad")
    marked = [dict(r, bad=f"@@{i}@@") if i in bad else r for i, r in enumerate(drawn)]
    text, locations = _write(marked, shape)
    for i in bad:
        text = text.replace(f'"@@{i}@@"', data.draw(st.sampled_from(BAD_TOKENS), label="token"))
    items = _read(text.encode())
    assert [i.location for i in items] == locations
    for i, item in enumerate(items):
        if i in bad:
            assert item.kind == REJECTED
            assert [p.field for p in item.problems] == ["bad"]
            assert item.problems[0].reason.startswith("RFC 8785 canonical JSON (IEEE 754 doubles)")
        else:
            assert item.kind == RELEASE and item.release == drawn[i]


@SETTINGS
@given(drawn=releases(count=st.integers(min_value=2, max_value=6)), data=st.data())
def test_broken_lines_anywhere_cost_only_themselves(drawn, data):
    lines = [json.dumps(r) for r in drawn]
    garbage = (
        st.one_of(
            st.sampled_from(["{", '{"ocid": ', "NaN", "[1,,2]", "}", "abc", '{"a": 1} {"b": 2}']),
            st.builds(lambda line, cut: line[:cut], st.sampled_from(lines), st.integers(1, 30)),
            st.binary(min_size=1, max_size=20).map(lambda b: b.decode("latin-1")),
        )
        .map(lambda text: text.replace("\n", " ").replace("\r", " "))
        .filter(lambda text: text.strip())
    )
    broken = data.draw(
        st.sets(st.integers(0, len(lines)), min_size=1, max_size=len(lines) - 1), label="broken"
    )  # at least one valid line remains
    out, expected = [], []
    for i, line in enumerate(lines):
        if i in broken:
            out.append(data.draw(garbage, label="garbage"))
            expected.append(("bad", len(out)))
        out.append(line)
        expected.append((i, len(out)))
    items = _read("\n".join(out).encode())
    good = [(i.release["id"], i.location) for i in items if i.kind == RELEASE]
    assert good == [(f"r{i}", f"line {n}") for i, n in expected if i != "bad"]
    bad_lines = {f"line {n}" for i, n in expected if i == "bad"}
    assert {i.location for i in items if i.kind != RELEASE} == bad_lines


@SETTINGS
@given(drawn=releases(), pretty=st.booleans(), data=st.data())
def test_a_truncated_document_keeps_every_release_before_the_cut(drawn, pretty, data):
    head = '{"version": "1.1", "releases": ['
    parts, ends = [], []
    for i, release in enumerate(drawn):
        parts.append(("," if i else "") + json.dumps(release, indent=2 if pretty else None))
        ends.append(len(head) + len("".join(parts)))
    text = head + "".join(parts) + "]}"
    cut = data.draw(st.integers(min_value=1, max_value=len(text) - 1), label="cut")
    items = _read(text[:cut].encode())
    kept = [i for i in items if i.kind == RELEASE]
    assert [i.release for i in kept] == [r for r, end in zip(drawn, ends, strict=True) if end <= cut]
    (stop,) = [i for i in items if i.kind != RELEASE]
    assert stop.location == f"byte {cut}"


# Where in each token the parser sees it is not JSON.
TOKEN_ERROR_AT = {"NaN": 0, "Infinity": 0, "-Infinity": 1, "tru": 3, "01": 2, "'x'": 0}


@SETTINGS
@given(
    drawn=releases(count=st.integers(min_value=2, max_value=6)),
    token=st.sampled_from(sorted(TOKEN_ERROR_AT)),
    data=st.data(),
)
def test_an_invalid_token_in_a_document_stops_it_exactly_there(drawn, token, data):
    at = data.draw(st.integers(min_value=1, max_value=len(drawn) - 1), label="at")
    before = '{"version": "1.1", "releases": [' + ", ".join(json.dumps(r) for r in drawn[:at]) + ", "
    text = before + '{"x": ' + token + "}, " + ", ".join(json.dumps(r) for r in drawn[at:]) + "]}"
    items = _read(text.encode())
    assert [i.release for i in items[:-1]] == drawn[:at]
    offset = len(before) + len('{"x": ') + TOKEN_ERROR_AT[token]
    assert items[-1].kind == REJECTED and items[-1].location == f"byte {offset}"


@SETTINGS
@given(drawn=releases(count=st.integers(min_value=3, max_value=6)), data=st.data())
def test_a_truncated_gzip_keeps_every_line_that_was_decompressed(drawn, data):
    text = "".join(json.dumps(r) + "\n" for r in drawn).encode()
    compressed = gzip.compress(text)
    cut = data.draw(st.integers(min_value=10, max_value=len(compressed) - 1), label="cut")
    # Reference: what zlib can decompress from the cut data, byte by byte.
    inflate, decompressed = zlib.decompressobj(31), b""
    for i in range(cut):
        decompressed += inflate.decompress(compressed[i : i + 1])
    complete = decompressed.count(b"\n")
    tail = decompressed.rpartition(b"\n")[2]
    complete += tail == json.dumps(drawn[min(complete, len(drawn) - 1)]).encode()  # all but "\n"
    items = _read(compressed[:cut])
    *kept, stop = items
    assert [i.release for i in kept] == drawn[:complete]
    # Until a first line is complete nothing says the file is JSON Lines: the break is then
    # where the one document it might be stops, at the end of what was decompressed.
    where = f"line {complete + 1}" if complete else f"byte {len(decompressed)}"
    assert stop.kind == REJECTED and stop.location == where
    assert stop.problems[0].reason.startswith("the gzip data is corrupt or truncated")


@SETTINGS
@given(
    drawn=releases(count=st.integers(min_value=1, max_value=4)), links=st.integers(0, 3), tagged=st.booleans()
)
def test_linked_and_compiled_releases_are_never_imported(drawn, links, tagged):
    linked = [
        dict(
            {"url": f"https://x/{k}", "date": "2020-01-01T00:00:00Z"},
            **({"tag": ["tender"]} if tagged else {}),
        )
        for k in range(links)
    ]
    compiled = dict(drawn[0], id="compiled", tag=["compiled"])
    record = {
        "ocid": "ocds-a-1",
        "releases": [*linked, *drawn],
        "compiledRelease": compiled,
        "versionedRelease": {"ocid": "ocds-a-1", "tender": {"id": [{"value": "1"}]}},
    }
    items = _read(json.dumps({"version": "1.1", "records": [record]}).encode())
    assert [i.release for i in items if i.kind == RELEASE] == drawn
    assert [i.location for i in items if i.kind == RELEASE] == [
        f"records[0].releases[{links + j}]" for j in range(len(drawn))
    ]
    assert [i.linked for i in items if i.kind == LINKED] == (
        [tuple(link["url"] for link in linked)] if links else []
    )
    assert not [i for i in items if i.kind == REJECTED]


@SETTINGS
@given(
    drawn=releases(count=st.integers(min_value=2, max_value=5)),
    shapes=st.lists(
        st.one_of(
            st.text(max_size=3),
            _SCALARS["number"],
            st.lists(_SCALARS["integer"], max_size=2),
            st.dictionaries(st.text(max_size=3), _SCALARS["integer"], max_size=2),
        ),
        min_size=2,
        max_size=5,
    ),
)
def test_inconsistent_types_across_releases_of_one_ocid_are_read_as_published(drawn, shapes):
    for release, value in zip(drawn, shapes, strict=False):
        release["ocid"] = "ocds-a-1"
        release["tender"] = value
    text, _ = _write(drawn, "package")
    items = _read(text.encode())
    assert [i.release for i in items] == drawn


@SETTINGS
@given(data=st.binary(max_size=300), gz=st.booleans())
def test_any_bytes_at_all_never_raise(data, gz):
    items = _read(gzip.compress(data) if gz else data)
    assert all(
        i.kind in (RELEASE, REJECTED, LINKED) and (i.release is None) == bool(i.kind != RELEASE)
        for i in items
    )


_NOT_NEWLINE = st.integers(0, 255).filter(lambda b: b != 10)


@SETTINGS
@given(drawn=releases(count=st.integers(min_value=2, max_value=6)), data=st.data())
def test_flipped_bytes_in_json_lines_cost_only_their_lines(drawn, data):
    lines = [json.dumps(r).encode() for r in drawn]
    untouched = data.draw(st.integers(1, len(lines) - 1), label="one line after the first stays")
    damaged = data.draw(
        st.sets(st.sampled_from([i for i in range(len(lines)) if i != untouched]), min_size=1),
        label="damaged",
    )
    for i in damaged:
        line = bytearray(lines[i])
        for _ in range(data.draw(st.integers(1, 3), label="flips")):
            line[data.draw(st.integers(0, len(line) - 1), label="at")] = data.draw(_NOT_NEWLINE, label="byte")
        lines[i] = bytes(line)
    items = _read(b"\n".join(lines) + b"\n")
    by_line = {i.location: i for i in items}
    for i, release in enumerate(drawn):
        if i not in damaged:
            assert by_line[f"line {i + 1}"].release == release


@SETTINGS
@given(drawn=releases(count=st.integers(min_value=2, max_value=6)), data=st.data())
def test_flipped_bytes_in_a_document_keep_every_release_before_them(drawn, data):
    head = '{"version": "1.1", "releases": ['
    parts, ends = [], []
    for i, release in enumerate(drawn):
        parts.append(("," if i else "") + json.dumps(release))
        ends.append(len(head) + len("".join(parts)))
    text = bytearray((head + "".join(parts) + "]}").encode())
    first = data.draw(st.integers(len(head), len(text) - 1), label="first flip")
    for at in [first, *data.draw(st.lists(st.integers(first, len(text) - 1), max_size=2), label="more")]:
        text[at] = data.draw(_NOT_NEWLINE, label="byte")
    items = _read(bytes(text))
    kept = [r for r, end in zip(drawn, ends, strict=True) if end <= first]
    assert [i.release for i in items[: len(kept)]] == kept
    assert [i.location for i in items[: len(kept)]] == [f"releases[{n}]" for n in range(len(kept))]


_PACKAGE_SCHEMA = ocds_schema.package_schema("release")
_METADATA = st.fixed_dictionaries(
    {},
    optional={
        name: _node(json.dumps(node, sort_keys=True), 2)
        for name, node in _PACKAGE_SCHEMA["properties"].items()
        if name not in ("releases", "version")
    },
)


def _text(value):
    return value if isinstance(value, str) else None


@SETTINGS
@given(
    drawn=releases(),
    metadata=_METADATA,
    kind=st.sampled_from(["releases", "records"]),
    last=st.booleans(),
    lines=st.booleans(),
)
def test_package_metadata_drawn_from_the_schema_comes_with_every_release(drawn, metadata, kind, last, lines):
    content = drawn if kind == "releases" else [{"ocid": r["ocid"], "releases": [r]} for r in drawn]
    package = {"version": "1.1", **metadata, kind: content}
    if last:  # the metadata after the releases, as some publishers write it
        package = {kind: content, **{k: v for k, v in package.items() if k != kind}}
    text = json.dumps(package) + "\n" + (json.dumps(package) + "\n" if lines else "")
    items = _read(text.encode())
    publisher = metadata.get("publisher")
    extensions = metadata.get("extensions")
    expected = Package(
        uri=_text(metadata.get("uri")),
        version="1.1",
        published_date=_text(metadata.get("publishedDate")),
        publisher=Publisher(*(_text(publisher.get(k)) for k in ("name", "scheme", "uid", "uri")))
        if isinstance(publisher, dict)
        else None,
        license=_text(metadata.get("license")),
        publication_policy=_text(metadata.get("publicationPolicy")),
        extensions=tuple(e for e in extensions if isinstance(e, str)) if isinstance(extensions, list) else (),
    )
    assert [i.release for i in items] == drawn * (2 if lines else 1)
    assert {i.package for i in items} == {expected}
