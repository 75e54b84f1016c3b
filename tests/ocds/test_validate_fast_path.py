"""How the jsonschema-rs fast path is made to judge as jsonschema: regexes, formats, $refs."""

from __future__ import annotations

import functools
import re
import socket

import jsonschema_rs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft4Validator

from ocds import schema as ocds_schema
from ocds.errors import Problem
from ocds.fastschema import (
    FORMAT_CHECKER,
    UNTYPED_INSIDE,
    UntranslatablePattern,
    compile_fast,
    fast_formats,
    for_rust,
    format_patterns,
    rust_regex,
)
from ocds.validate import SchemaChecker

DRAFT4 = "http://json-schema.org/draft-04/schema#"


def _schema_patterns() -> set[str]:
    """Every ``pattern`` and ``patternProperties`` key of the release and package schemas."""
    found: set[str] = set()

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("pattern"), str):
                found.add(node["pattern"])
            found.update(node.get("patternProperties", {}))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(ocds_schema.release_schema())
    for kind in ("release", "record"):
        for paginated in (False, True):
            walk(ocds_schema.package_schema(kind, paginated=paginated))
    return found


PATTERNS = sorted(_schema_patterns())


def test_the_schemas_have_patterns():
    assert any("title_" in p for p in PATTERNS)
    assert r"^[0-9a-f]{64}$" in PATTERNS
    assert r"^(\d+\.)(\d+)$" in PATTERNS


@functools.cache
def _rust_pattern(pattern: str):
    return jsonschema_rs.Draft4Validator(
        {"$schema": DRAFT4, "pattern": rust_regex(pattern)}, offline=True
    ).is_valid


@functools.cache
def _rust_key(pattern: str):
    """jsonschema-rs on {key: 1} where a matching key must hold a string."""
    schema = {"$schema": DRAFT4, "patternProperties": {rust_regex(pattern): {"type": "string"}}}
    validator = jsonschema_rs.Draft4Validator(schema, offline=True)
    return lambda key: not validator.is_valid({key: 1})


# Strings around the edges of Python's re semantics.
EDGES = [
    "", "\n", "\r", "\r\n", "\n\n", " ", "\t", "\x00", "\u0085", "\u2028", "\u0661", "\uff11",
    "\u00b9", "\u2160", "\u00e9", "\u212a", "\u0130", "\U0001f600", "\U0001d7ce", "_", "-", ".",
]  # fmt: skip


def _near(pattern: str):
    """Strings that match ``pattern``, and the same strings nudged at both ends and inside."""
    samples = st.from_regex(pattern, fullmatch=True) if pattern != "" else st.just("")
    edge = st.sampled_from(EDGES)
    return st.one_of(
        samples,
        st.tuples(samples, edge).map("".join),
        st.tuples(edge, samples).map("".join),
        st.tuples(samples, st.integers(0, 80), edge).map(lambda t: t[0][: t[1]] + t[2] + t[0][t[1] :]),
        st.tuples(samples, st.integers(0, 80)).map(lambda t: t[0][: t[1]] + t[0][t[1] + 1 :]),
        st.text(max_size=20),
    )


@pytest.mark.parametrize("pattern", PATTERNS)
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_schema_patterns_match_as_python_re(pattern, data):
    rust_value, rust_key = _rust_pattern(pattern), _rust_key(pattern)
    text = data.draw(_near(pattern))
    expected = re.search(pattern, text) is not None
    assert rust_value(text) == expected, (pattern, text)
    assert rust_key(text) == expected, (pattern, text)


def _bases() -> list[str]:
    """Strings that match (or nearly match) the schema patterns."""
    prefixes = {m.group(1) for p in PATTERNS if (m := re.match(r"\^\((\w+_)", p))}
    tags = ["es", "es-PE", "zh-Hant-TW", "x-veraz", "es-419", "abcdefghi"]
    return ["a" * 64, "0" * 63, "1.1", "12.0", "1.", *(p + t for p in prefixes for t in tags)]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_schema_patterns_at_the_edges(pattern):
    rust_value, rust_key = _rust_pattern(pattern), _rust_key(pattern)
    for base in _bases():
        for edge in EDGES:
            for text in (edge, base + edge, edge + base, base + edge + edge, base[:1] + edge + base[1:]):
                expected = re.search(pattern, text) is not None
                assert rust_value(text) == expected, (pattern, text)
                assert rust_key(text) == expected, (pattern, text)


# Python patterns beyond the schema's, each with strings on both sides of its edges.
OTHER_PATTERNS = [
    r"a.b", r"[^a]", r"[^\d]", r"\D+", r"\s", r"\S+\Z", r"\w+", r"\W", r"[\w-]+$", r"[^\W\d]",
    r"^a$|^b", r"(a|b$)", r"x{2,}?", r"[\-\]\\^]", r"^$", r"$", r"^", r"a?", r"\Aab\Z",
    r"(?:ab)+c", r"[^\n]*\n", r"\.\*\+\?\(\)\[\]\{\}\|\/\$\^", r"\u00e9|\U0001f600", r"[\u0660-\u0669]",
    r"[^\ud800-\udfff]", r"\t", r"(?x) a b  # comment",
]  # fmt: skip


@pytest.mark.parametrize("pattern", OTHER_PATTERNS)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_other_patterns_match_as_python_re(pattern, data):
    rust_value = _rust_pattern(pattern)
    pieces = st.sampled_from(["a", "b", "c", "x", "1", "-", "]", "\\", "^", *EDGES[1:]])
    text = data.draw(st.one_of(_near(pattern), st.lists(pieces, max_size=6).map("".join)))
    assert rust_value(text) == (re.search(pattern, text) is not None), (pattern, text)


@pytest.mark.parametrize(
    "pattern",
    [r"(?=a)", r"(?!a)", r"(?<=a)b", r"(a)\1", r"\bfoo", r"\Bfoo", r"(?i)a", r"(?i:a)", r"(?m)^a",
     r"(?s).", r"(?a)\d", r"a$b", r"(a$)+", r"a++", r"(?>a)", r"(?P<x>a)(?(x)b)", r"\ud800", r"[^\s\S]",
     r"("],
)  # fmt: skip
def test_untranslatable_patterns_are_refused(pattern):
    with pytest.raises(UntranslatablePattern):
        rust_regex(pattern)


def test_only_subschemas_are_rewritten():
    schema = {
        "properties": {
            "pattern": {"type": "string", "pattern": "^a$"},
            "format": {"type": "string", "format": "uri"},
            "patternProperties": {"type": "object"},
        },
        "enum": [{"pattern": "^a$"}],
        "patternProperties": {"^x$": {"pattern": "^y$"}},
        "definitions": {"d": {"items": [{"pattern": "."}], "not": {"format": "date-time"}}},
    }
    formats: set[str] = set()
    rewritten = for_rust(schema, formats)
    assert formats == {"uri", "date-time"}
    assert rewritten["properties"]["pattern"] == {"type": "string", "pattern": r"^a\n?$"}
    assert rewritten["properties"]["patternProperties"] == {"type": "object"}
    assert rewritten["enum"] == [{"pattern": "^a$"}]  # a value, not a schema
    assert rewritten["patternProperties"] == {r"^x\n?$": {"pattern": r"^y\n?$"}}
    assert rewritten["definitions"]["d"]["items"][0]["pattern"].startswith("[")
    assert schema["properties"]["pattern"]["pattern"] == "^a$"  # the original is untouched


# --- formats -----------------------------------------------------------------------------------

# Every format either library knows of, and one neither does.
FORMATS = sorted(
    {
        *FORMAT_CHECKER.checkers,
        *("date-time", "date", "time", "email", "idn-email", "hostname", "idn-hostname", "ipv4"),
        *("ipv6", "uri", "uri-reference", "iri", "iri-reference", "uri-template", "regex"),
        *("json-pointer", "relative-json-pointer", "duration", "uuid", "color", "unknown-x"),
    }
)
ODD_STRINGS = [
    "", "x", "not a uri", "http://x/a b", "https://x.pe/a", "a@b", "@", "1.2.3.4", "999.1.1.1",
    "::1", "::g", "2025-01-01", "2025-02-30", "10:00:00Z", "2025-01-01T00:00:00Z", "(", "[a-",
    "/a~2", "P1D", "urn:x", "example.com", "-x-.com", "\u00e9@\u00e9", "{x}", "#fff",
    "123e4567-e89b-12d3-a456-426614174000",
]  # fmt: skip


@pytest.mark.parametrize("name", FORMATS)
def test_formats_are_checked_as_format_checker_does(name):
    schema = {"$schema": DRAFT4, "format": name}
    fast = compile_fast(schema)
    slow = Draft4Validator(schema, format_checker=FORMAT_CHECKER)
    for text in ODD_STRINGS:
        assert fast(text) == slow.is_valid(text), (name, text)
    # A format jsonschema ignores gets no built-in check of Rust's either.
    assert name in FORMAT_CHECKER.checkers or all(fast(text) for text in ODD_STRINGS)


def test_fast_formats_are_the_format_checker_functions():
    formats = fast_formats({"uri", "date-time", "unknown-x"})
    assert {"uri", "date-time", "unknown-x"} <= set(formats)
    assert set(FORMAT_CHECKER.checkers) <= set(formats)
    assert formats["uri"] is FORMAT_CHECKER.checkers["uri"][0]
    assert formats["date-time"].__wrapped__ is FORMAT_CHECKER.checkers["date-time"][0]
    assert formats["unknown-x"]("anything")


# --- formats checked by a pattern in Rust ------------------------------------------------------


def _by_pattern(name):
    """(the fast verdict with ``name`` checked by its pattern, jsonschema's) on one string."""
    schema = {"$schema": DRAFT4, "format": name}
    assert for_rust(schema, set(), patterns=format_patterns()) == {
        "$schema": DRAFT4,
        "pattern": format_patterns()[name],
    }
    fast = compile_fast(schema)
    slow = Draft4Validator(schema, format_checker=FORMAT_CHECKER)
    return fast, slow.is_valid


# Years around every rule of the Gregorian calendar: year 0 (refused), 4 (leap), 100 (not), 400
# (leap), the turn of 1900 and 2000, the last years with four digits.
_YEARS = [*range(0, 9), *range(96, 105), *range(396, 405), 1896, 1900, 1904, 1999, 2000, 2024]
_YEARS += [2100, 2400, 9996, 9999]


def test_date_time_pattern_agrees_on_every_day_of_many_years():
    fast, slow = _by_pattern("date-time")
    accepted = 0
    for year in _YEARS:
        for month in range(0, 14):
            for day in range(0, 33):
                text = f"{year:04d}-{month:02d}-{day:02d}T23:59:59Z"
                verdict = slow(text)
                assert fast(text) == verdict, text
                accepted += verdict
    # Each year's days exist, each year once: 366 in leap years, 365 in the others, none in 0.
    leap = [y for y in _YEARS if y and y % 4 == 0 and (y % 100 or y % 400 == 0)]
    assert accepted == 365 * (len(_YEARS) - 1) + len(leap)


def test_no_other_character_uppercases_into_a_date_time():
    # jsonschema checks text.upper(): only "t" and "z" become characters of a date-time, so the
    # pattern accepts those two in either case and nothing else (this Python's Unicode tables).
    alphabet = set("0123456789-+:.TZ\n")
    found = {
        chr(c)
        for c in range(0x110000)
        if not 0xD800 <= c <= 0xDFFF and chr(c).upper() != chr(c) and set(chr(c).upper()) <= alphabet
    }
    assert found == {"t", "z"}


_DATE_TIMES = ["2024-02-29T00:00:00Z", "1999-12-31T23:59:59.123456+05:30", "0001-01-01t00:00:00z"]
# What a date-time may be mutated with: its own characters, their lower cases, digits of other
# scripts (Python's \d would take them; this regex is ASCII), spaces, newlines, a dotless i.
_MUTATIONS = st.sampled_from(list("0123456789-+:.TZtz \n\r٣５²ıſ\u00a0x"))


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    base=st.sampled_from(_DATE_TIMES),
    edits=st.lists(st.tuples(st.integers(0, 40), st.sampled_from("sid"), _MUTATIONS), max_size=4),
)
def test_date_time_pattern_agrees_on_mutated_date_times(base, edits):
    fast, slow = _date_time_checkers()
    text = base
    for position, kind, char in edits:
        i = position % (len(text) + 1)
        if kind == "s" and i < len(text):
            text = text[:i] + char + text[i + 1 :]
        elif kind == "i":
            text = text[:i] + char + text[i:]
        elif i < len(text):
            text = text[:i] + text[i + 1 :]
    assert fast(text) == slow(text), repr(text)


@functools.cache
def _date_time_checkers():
    return _by_pattern("date-time")


@functools.cache
def _uri_checkers():
    return _by_pattern("uri")


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=st.one_of(
        st.text(max_size=30),
        st.from_regex(r"[A-Za-z][A-Za-z0-9+.\-]{0,5}:[^\s]{0,8}(\s|\u2028|\u00a0|\n)?[^\s]{0,3}"),
        st.from_regex(r"\A[ -~\n\t\u00a0\u3000]{0,12}\Z"),
    )
)
def test_uri_pattern_agrees(text):
    fast, slow = _uri_checkers()
    assert fast(text) == slow(text), repr(text)


def test_a_format_beside_a_pattern_stays_a_format():
    schema = {"type": "string", "pattern": "^2", "format": "date-time"}
    formats: set[str] = set()
    assert for_rust(schema, formats, patterns=format_patterns())["format"] == "date-time"
    assert formats == {"date-time"}
    fast = compile_fast({"$schema": DRAFT4, **schema})
    assert fast("2024-01-01T00:00:00Z") and not fast("2024-13-01T00:00:00Z") and not fast("1024-01-01")


def test_release_dates_are_checked_without_python():
    # The release schema's date-times and uris reach jsonschema-rs as patterns: no format callback.
    formats: set[str] = set()
    for_rust(ocds_schema.release_schema(), formats, patterns=format_patterns())
    assert not formats & {"date-time", "uri"}


# --- $refs: within the schema, never the network ----------------------------------------------


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("no network access, ever")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def test_release_schema_refs_resolve_offline(no_network, release_factory):
    schema = ocds_schema.release_schema()
    assert schema["id"].startswith("https://standard.open-contracting.org/")
    checker = SchemaChecker(schema)  # not the cached one: built here, with the network refused
    assert checker.is_valid(release_factory())
    bad = release_factory()
    bad["parties"][0]["address"] = {"region": 1}  # behind #/definitions/Organization -> Address
    assert not checker.is_valid(bad)
    assert [p.field for p in checker.problems(bad)] == ["parties/0/address/region"]


def test_an_external_ref_is_never_fetched(no_network):
    schema = {
        "$schema": DRAFT4,
        "id": "https://standard.open-contracting.org/schema/1__1__5/x.json",
        "properties": {"a": {"$ref": "https://standard.open-contracting.org/schema/other.json"}},
    }
    with pytest.raises(jsonschema_rs.ValidationError, match="(?i)retriev"):
        compile_fast(schema)


def test_ref_siblings_are_ignored_by_both():
    # Draft 4: "$ref" replaces its object; no schema of ours has siblings, an extension could.
    schema = {
        "$schema": DRAFT4,
        "definitions": {"a": {"type": "string"}},
        "properties": {"x": {"$ref": "#/definitions/a", "maxLength": 1}},
    }
    slow = Draft4Validator(schema, format_checker=FORMAT_CHECKER)
    for instance in ({"x": "abc"}, {"x": 1}):
        assert compile_fast(schema)(instance) == slow.is_valid(instance)


def test_validating_does_not_touch_the_release(release_factory):
    release = release_factory()
    before = repr(release)
    assert SchemaChecker(ocds_schema.release_schema()).is_valid(release)
    assert repr(release) == before


# --- what jsonschema-rs cannot judge, and the validators disagreeing ---------------------------


def test_untyped_values_are_found_anywhere():
    nan, inf = float("nan"), float("inf")
    assert UNTYPED_INSIDE.is_valid(nan)
    assert UNTYPED_INSIDE.is_valid({"a": [1, {"b": [None, -inf]}]})
    for plain in (None, True, 0, 2**80, 1.5, "x", [], {}, {"a": [1, {"b": [None, "NaN"]}]}):
        assert not UNTYPED_INSIDE.is_valid(plain)


def test_problems_of_what_rust_cannot_judge(release_factory):
    checker = SchemaChecker(ocds_schema.release_schema())
    release = release_factory()
    release["contracts"][0]["value"] = {"amount": float("nan"), "currency": "PEN"}
    release["tender"] = {"id": "t1", "title": "Papel \udcff"}
    assert checker.is_valid(release)
    assert checker.problems(release) == []
    release["tender"]["numberOfTenderers"] = float("inf")
    assert not checker.is_valid(release)
    assert [p.field for p in checker.problems(release)] == ["tender/numberOfTenderers"]


def test_a_disagreement_is_never_silently_valid(release_factory):
    checker = SchemaChecker(ocds_schema.release_schema(), fast=lambda instance: False)  # gone wrong
    assert not checker.is_valid(release_factory())
    assert checker.problems(release_factory()) == [
        Problem("", "rejected by the fast validator but not explained (bug)")
    ]
