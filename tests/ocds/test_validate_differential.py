"""The fast verdict (jsonschema-rs) and jsonschema must agree, on real and on doctored releases.

jsonschema (``reference_is_valid``) is the reference. Each test compares the verdict a caller gets
(``SchemaChecker.is_valid``) with it, and, for documents JSON can hold, also jsonschema-rs's own
answer (``fast_is_valid``), so that an agreement never rests on the fallbacks alone.
"""

from __future__ import annotations

import copy
import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import json_paths

from ocds.validate import package_checker, release_checker

SHA = "a" * 64


def _jsonschema_valid(release, checker=None) -> bool:
    checker = checker or release_checker()
    return checker.reference_is_valid(release)


def _plain(instance) -> bool:
    try:
        json.dumps(instance, allow_nan=False, ensure_ascii=False).encode()
    except (ValueError, TypeError):
        return False
    return True


def assert_agree(instance, checker=None) -> bool:
    """Fail unless the verdict (and jsonschema-rs alone, on plain JSON) is jsonschema's."""
    checker = checker or release_checker()
    expected = _jsonschema_valid(instance, checker)
    assert checker.is_valid(instance) == expected, "the verdict differs from jsonschema's"
    # jsonschema-rs alone on what JSON can hold (it cannot take NaN or lone surrogates).
    assert not _plain(instance) or checker.fast_is_valid(instance) == expected, (
        "jsonschema-rs differs from jsonschema"
    )
    assert expected or checker.explain(instance), "jsonschema says invalid but lists no error"
    return expected


def test_verdicts_agree_on_real_corpus(corpus):
    checker = release_checker()
    assert len(corpus) == 366
    disagreements = [
        (r.get("ocid"), r.get("id")) for r in corpus if checker.is_valid(r) != _jsonschema_valid(r)
    ]
    assert disagreements == []
    assert [r for r in corpus if checker.fast_is_valid(r) != _jsonschema_valid(r)] == []
    # 293 invalid against core 1.1.5 (README); the declared extensions add 16 Paraguay releases
    # whose 1.0-style contracts[].suppliers are not OrganizationReferences.
    assert sum(not checker.is_valid(r) for r in corpus) == 309


_dates = st.one_of(
    st.sampled_from(
        [
            "2025-02-30T00:00:00Z",
            "2024-02-29T23:59:60Z",
            "2025-01-01t00:00:00z",
            "2025-01-01",
            "2025-01-01T00:00:00+0500",
            "2025-01-01T00:00:00.123-05:00",
            "2025-01-01T00:00:00Z\n",
        ]
    ),
    st.text(max_size=30),
)
_uris = st.one_of(
    st.sampled_from(
        [
            "https://x.pe/a",
            "http://x/a b",
            "mailto:a@b",
            "x:",
            "1http://x",
            "urn:x:y",
            "//x.pe/a",
            "https://x.pe/\u00e1",
            "a+b.c-d:e",
            "\thttp://x",
        ]
    ),
    st.text(max_size=20),
)


@settings(max_examples=300, deadline=None)
@given(date=_dates, uri=_uris, scale=st.sampled_from(["sme", "huge", None]))
def test_verdicts_agree_on_generated_formats(release_factory, date, uri, scale):
    release = copy.deepcopy(release_factory())
    release["date"] = date
    release["contracts"][0]["documents"] = [{"id": "d", "url": uri}]
    release["parties"][1]["details"]["scale"] = scale
    assert_agree(release)


# --- must-agree cases: one per place where the two libraries could judge differently ----------


def _rich(make) -> dict[str, Any]:
    """A valid release using every extension, language-tagged fields and unique-item arrays."""
    return make(
        tender={
            "id": "t1",
            "title": "Papel",
            "title_en": "Paper",
            "description_es-PE": "Papel bond",
            "numberOfTenderers": 2,
            "value": {"amount": 100, "currency": "PEN"},
            "techniques": {"hasFrameworkAgreement": True},
            "lots": [{"id": "lot-1", "status": "active"}],
            "items": [
                {
                    "id": "1",
                    "relatedLot": "lot-1",
                    "quantity": 1,
                    "additionalClassifications": [{"scheme": "UNSPSC", "id": "1"}],
                    "deliveryLocation": {"geometry": {"type": "Point", "coordinates": [-77.0, -12.0]}},
                    "deliveryAddress": {"region": "Lima"},
                }
            ],
            "documents": [{"id": "d1", "integrity": [{"scheme": "sha256", "id": SHA}]}],
        },
        bids={"details": [{"id": "b1", "status": "valid"}]},
    )


def _set(release, path, value):
    release = copy.deepcopy(release)
    node = release
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return release


PARTY = ["parties", 1]
TENDER = ["tender"]
NOT = ["tender", "numberOfTenderers"]
AMOUNT = ["tender", "value", "amount"]
HASH = ["tender", "documents", 0, "integrity", 0, "id"]

MUST_AGREE: dict[str, tuple[list, Any, bool]] = {
    # Draft 4: a float is never an "integer", whatever its value; big ints are integers.
    "integer 2": (NOT, 2, True),
    "integer as float 2.0": (NOT, 2.0, False),
    "integer as float 2.5": (NOT, 2.5, False),
    "integer -0.0": (NOT, -0.0, False),
    "integer as bool": (NOT, True, False),
    "integer huge": (NOT, 2**70, True),
    "integer huge negative": (NOT, -(2**80), True),
    "integer as string": (NOT, "2", False),
    "number huge int": (AMOUNT, 2**70, True),
    "number 1e308": (AMOUNT, 1e308, True),
    "number as bool": (AMOUNT, False, False),
    # Non-finite floats (json.loads reads NaN): numbers for jsonschema, for nobody in Rust.
    "number NaN": (AMOUNT, math.nan, True),
    "number Infinity": (AMOUNT, math.inf, True),
    "integer NaN": (NOT, math.nan, False),
    "integer Infinity": (NOT, -math.inf, False),
    "NaN under no schema": (["tender", "x"], math.nan, True),
    "NaN for a string": (["tender", "title"], math.nan, False),
    "NaN deep in a list": (["tender", "items", 0, "unit"], {"value": {"amount": [math.inf]}}, False),
    "NaN deep and fine": (["tender", "items", 0, "unit"], {"value": {"amount": -math.inf}}, True),
    # Lone surrogates (json.loads reads "\ud800"): strings for jsonschema, unencodable in Rust.
    "string with a lone surrogate": (["tender", "title"], "a\ud800", True),
    "lone surrogate and an error": (["tender", "title"], ["\udfff"], False),
    # Enums: True is not 1 nor a string; None is an allowed code, "None" is not.
    "enum bool": (["contracts", 0, "status"], True, False),
    "enum null": (["contracts", 0, "status"], None, True),
    "enum 'None'": (["contracts", 0, "status"], "None", False),
    "enum int": (PARTY + ["details", "scale"], 1, False),
    "enum currency bool": (["tender", "value", "currency"], True, False),
    "enum currency lower": (["tender", "value", "currency"], "pen", False),
    "enum in an array": (["tag"], ["contract", True], False),
    "enum geometry type with newline": (
        ["tender", "items", 0, "deliveryLocation", "geometry", "type"],
        "Point\n",
        False,
    ),
    # patternProperties keys (Python re: "$" also matches before a final newline).
    "lang key ok": (["tender", "title_es"], "x", True),
    "lang key ok, wrong type": (["tender", "title_es"], 1, False),
    "lang key, newline, wrong type": (["tender", "title_es\n"], 1, False),
    "lang key, newline, right type": (["tender", "title_es\n"], "x", True),
    "lang key, two newlines": (["tender", "title_es\n\n"], 1, True),
    "lang key, carriage return": (["tender", "title_es\r"], 1, True),
    "lang key, CRLF": (["tender", "title_es\r\n"], 1, True),
    "lang key, space": (["tender", "title_es "], 1, True),
    "lang key, leading newline": (["tender", "\ntitle_es"], 1, True),
    "lang key, non-ASCII letters": (["tender", "title_\u00e9s"], 1, True),
    "lang key, Kelvin sign": (["tender", "title_\u212a\u212a"], 1, True),
    "lang key, fullwidth": (["tender", "title_\uff45\uff53"], 1, True),
    "lang key, Arabic digits region": (["tender", "title_es-\u0661\u0662\u0663"], 1, True),
    "lang key, digits region": (["tender", "title_es-419"], 1, False),
    "lang key, private use": (["tender", "title_x-veraz"], 1, False),
    "lang key, too long": (["tender", "title_abcdefghi"], 1, True),
    "lang key, upper case": (["tender", "title_EN"], 1, False),
    "lang key, empty tag": (["tender", "title_"], 1, True),
    "lang key, astral": (["tender", "title_\U0001f600"], 1, True),
    "lang key, null value": (["tender", "description_en\n"], None, True),
    # pattern: the document hash.
    "hash ok": (HASH, SHA, True),
    "hash with final newline": (HASH, SHA + "\n", True),
    "hash with two newlines": (HASH, SHA + "\n\n", False),
    "hash with CR": (HASH, SHA + "\r", False),
    "hash with leading newline": (HASH, "\n" + SHA, False),
    "hash upper case": (HASH, SHA.upper(), False),
    "hash with Arabic digit": (HASH, "\u0661" + SHA[1:], False),
    "hash too short": (HASH, SHA[1:], False),
    # Formats: date-time by rfc3339-validator, uri by _is_uri, in both.
    "date-time ok": (["date"], "2025-01-01T00:00:00Z", True),
    "date-time lower case": (["date"], "2025-01-01t00:00:00z", True),
    "date-time Feb 30": (["date"], "2025-02-30T00:00:00Z", False),
    "date-time leap second": (["date"], "2016-12-31T23:59:60Z", False),  # rfc3339-validator
    "date-time second 60 in February": (["date"], "2024-02-29T23:59:60Z", False),
    "date-time no zone": (["date"], "2025-01-01T00:00:00", False),
    "date-time date only": (["date"], "2025-01-01", False),
    # rfc3339-validator's own regex ends in "$": a final newline passes, in both.
    "date-time final newline": (["date"], "2025-01-01T00:00:00Z\n", True),
    "date-time two final newlines": (["date"], "2025-01-01T00:00:00Z\n\n", False),
    "date-time hour 24": (["date"], "2025-01-01T24:00:00Z", False),
    "date-time fullwidth digits": (["date"], "\uff12025-01-01T00:00:00Z", False),
    "date-time not a string": (["date"], 20250101, False),
    "uri ok": (["contracts", 0, "documents"], [{"id": "d", "url": "https://x.pe/a"}], True),
    "uri space": (["contracts", 0, "documents"], [{"id": "d", "url": "http://x/a b"}], False),
    "uri tab": (["contracts", 0, "documents"], [{"id": "d", "url": "http://x/a\tb"}], False),
    "uri final newline": (["contracts", 0, "documents"], [{"id": "d", "url": "http://x/\n"}], False),
    "uri relative": (["contracts", 0, "documents"], [{"id": "d", "url": "//x.pe/a"}], False),
    "uri non-ASCII": (["contracts", 0, "documents"], [{"id": "d", "url": "https://x.pe/á"}], True),
    "uri urn": (["contracts", 0, "documents"], [{"id": "d", "url": "urn:x:y"}], True),
    "uri scheme only": (["contracts", 0, "documents"], [{"id": "d", "url": "x:"}], False),
    # A property called "format" is a property, not a format.
    "document format": (["contracts", 0, "documents"], [{"id": "d", "format": "not a uri"}], True),
    # uniqueItems (arrays of objects): True is not 1, 1.0 is 1, key order does not matter.
    "unique parties": (["parties"], [{"id": "a", "x": 1}, {"id": "a", "x": True}], True),
    "duplicate parties 1 and 1.0": (["parties"], [{"id": "a", "x": 1}, {"id": "a", "x": 1.0}], False),
    "duplicate parties key order": (
        ["parties"],
        [{"id": "a", "name": "A"}, {"name": "A", "id": "a"}],
        False,
    ),
    "unique parties [1] and [true]": (["parties"], [{"id": "a", "x": [1]}, {"id": "a", "x": [True]}], True),
    "unique parties 0 and false": (["parties"], [{"id": "a", "x": 0}, {"id": "a", "x": False}], True),
    "unique parties null and false": (
        ["parties"],
        [{"id": "a", "x": None}, {"id": "a", "x": False}],
        True,
    ),
    "duplicate parties nested": (
        ["parties"],
        [{"id": "a", "x": {"y": [1, {"z": 2.0}]}}, {"id": "a", "x": {"y": [1.0, {"z": 2}]}}],
        False,
    ),
    "duplicate classifications": (
        ["tender", "items", 0, "additionalClassifications"],
        [{"scheme": "UNSPSC", "id": "1"}, {"scheme": "UNSPSC", "id": "1"}],
        False,
    ),
    "unique classifications id 1 and '1'": (
        ["tender", "items", 0, "additionalClassifications"],
        [{"scheme": "UNSPSC", "id": "1"}, {"scheme": "UNSPSC", "id": 1}],
        True,
    ),
    "unique items huge ints": (
        ["tender", "items"],
        [{"id": "1", "quantity": 2**64}, {"id": "1", "quantity": 2**64 + 1}],
        True,
    ),
    "duplicate items huge ints": (
        ["tender", "items"],
        [{"id": "1", "quantity": 2**70}, {"id": "1", "quantity": 2**70}],
        False,
    ),
    # Required, types, minimum sizes.
    "empty suppliers": (["contracts", 0, "suppliers"], [], False),
    "empty string id": (["contracts", 0, "id"], "", False),
    "id as number": (["contracts", 0, "id"], 1, True),
    "id as float": (["contracts", 0, "id"], 1.5, False),
    "id as integral float": (["contracts", 0, "id"], 1.0, False),
    "id as bool": (["contracts", 0, "id"], False, False),
    "tag as string": (["tag"], "contract", False),
    "tag empty": (["tag"], [], False),
    "tender as list": (TENDER, [], False),
    "tender id missing": (TENDER, {"title": "x"}, False),
    "astral title": (["tender", "title"], "\U0001f600", True),
    "NUL in title": (["tender", "title"], "a\x00b", True),
    # Releases of the real datasets carry 1.0-style fields: extra keys are fine everywhere.
    "unknown field": (["tender", "foo"], {"bar": [1, None]}, True),
    "language default not written": (["language"], "es", True),
}


@pytest.mark.parametrize("case", sorted(MUST_AGREE))
def test_must_agree(case, release_factory):
    path, value, expected = MUST_AGREE[case]
    release = _set(_rich(release_factory), path, value)
    assert assert_agree(release) is expected


def test_rich_release_is_valid(release_factory):
    assert assert_agree(_rich(release_factory)) is True


def test_not_a_release():
    for instance in ([], "x", 1, None, True, 1.5, math.nan):
        assert assert_agree(instance) is False


def _release_package(make, **overrides):
    package = {
        "uri": "https://veraz.example/p/1.json",
        "version": "1.1",
        "publishedDate": "2025-03-04T10:15:00Z",
        "publisher": {"name": "Veraz"},
        "releases": [make()],
    }
    package.update(overrides)
    return package


PACKAGE_MUST_AGREE: dict[str, tuple[dict, bool]] = {
    "ok": ({}, True),
    "version final newline": ({"version": "1.1\n"}, True),
    "version two newlines": ({"version": "1.1\n\n"}, False),
    "version Arabic digits": ({"version": "\u0661.\u0661"}, True),
    "version Devanagari digits": ({"version": "\u0967.\u0967"}, True),
    "version fullwidth digits": ({"version": "\uff11.\uff11"}, True),
    "version superscript digits": ({"version": "\u00b9.\u00b9"}, False),
    "version roman numeral": ({"version": "\u2160.1"}, False),
    "version space": ({"version": "1.1 "}, False),
    "version number": ({"version": 1.1}, False),
    "version three parts": ({"version": "1.1.5"}, False),
    "uri with space": ({"uri": "https://x/a b"}, False),
    "publishedDate bad": ({"publishedDate": "2025-13-01T00:00:00Z"}, False),
    "releases empty": ({"releases": []}, False),
    "release not an object": ({"releases": [1]}, False),
    "duplicate releases": ({"releases": [{"ocid": "a"}, {"ocid": "a"}]}, False),
    "extensions": ({"extensions": ["https://x/extension.json"]}, True),
    "extensions not uris": ({"extensions": ["x y"]}, False),
}


@pytest.mark.parametrize("case", sorted(PACKAGE_MUST_AGREE))
def test_package_must_agree(case, release_factory):
    overrides, expected = PACKAGE_MUST_AGREE[case]
    package = _release_package(release_factory, **overrides)
    assert assert_agree(package, package_checker("release", False)) is expected


@pytest.mark.parametrize("paginated", [False, True])
def test_record_package_must_agree(paginated, release_factory):
    checker = package_checker("record", paginated)
    linked = {"url": "https://x/r.json", "date": "2025-01-01T00:00:00Z"}
    record = {"ocid": "ocds-abc123-0001", "releases": [linked]}
    package = _release_package(release_factory, records=[record])
    del package["releases"]
    if paginated:
        package["links"] = {"next": "https://x/p/2"}
    assert assert_agree(package, checker) is True
    for releases, expected in [
        ([linked, release_factory()], False),  # oneOf: neither all linked nor all embedded
        ([release_factory()], True),
        ([{**linked, "date": "2025-02-30T00:00:00Z"}], False),
        ([], False),
        ([linked, linked], True),  # no uniqueItems on a record's releases
    ]:
        doctored = copy.deepcopy(package)
        doctored["records"][0]["releases"] = releases
        assert assert_agree(doctored, checker) is expected, releases
    doctored = copy.deepcopy(package)
    doctored["packages"] = ["https://x/1.json", "https://x/1.json"]
    assert assert_agree(doctored, checker) is False


# --- property: mutated releases ----------------------------------------------------------------

_codes = [
    "PEN", "USD", "pen", "XXX", "", "sme", "huge", "active", "Active", "contract", "tender",
    "planning", "buyer", "Point", "Circle", "sha256", "md5", "None",
]  # fmt: skip
_keys = [
    "title_en", "title_en\n", "title_EN", "title_es-PE", "title_x-a", "description_fr",
    "name_zh-Hant-TW", "title_\u00e9n", "title_en\r\n", "eligibilityCriteria_de", "foo", "id",
    "status", "currency", "amount", "date", "url", "scale", "roles", "tag", "ocid",
]  # fmt: skip
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, 2.0, -0.0, 1.5, 1e308, 2**64, math.nan, math.inf]),
    st.floats(allow_nan=False),
    st.sampled_from(_codes),
    _dates,
    _uris,
    st.sampled_from([SHA, SHA + "\n", SHA.upper(), "\u0661" * 64]),
    st.text(max_size=12),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(_keys), inner, max_size=3)
    ),
    max_leaves=6,
)


def _mutate(release, data) -> dict[str, Any]:
    paths = list(json_paths(release))
    path = data.draw(st.sampled_from(paths), label="path")
    parent = release
    for part in path[:-1]:
        parent = parent[part]
    node = parent[path[-1]]
    actions = ["replace", "drop"]
    if isinstance(node, dict):
        actions.append("add")
    if isinstance(node, list) and node:
        actions += ["duplicate", "append"]
    action = data.draw(st.sampled_from(actions), label="action")
    if action == "replace":
        parent[path[-1]] = data.draw(_values, label="value")
    elif action == "drop":
        del parent[path[-1]]
    elif action == "add":
        node[data.draw(st.sampled_from(_keys) | st.text(max_size=8), label="key")] = data.draw(
            _values, label="value"
        )
    elif action == "duplicate":
        node.append(copy.deepcopy(data.draw(st.sampled_from(node), label="item")))
    else:
        node.append(data.draw(_values, label="item"))
    return release


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(data=st.data(), rich=st.booleans(), count=st.integers(min_value=1, max_value=3))
def test_verdicts_agree_on_mutated_releases(release_factory, data, rich, count):
    release = copy.deepcopy(_rich(release_factory) if rich else release_factory())
    for _ in range(count):
        release = _mutate(release, data)
    assert_agree(release)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_verdicts_agree_on_mutated_real_releases(corpus, data):
    release = copy.deepcopy(data.draw(st.sampled_from(corpus), label="release"))
    for _ in range(data.draw(st.integers(min_value=1, max_value=3), label="count")):
        release = _mutate(release, data)
    assert_agree(release)
