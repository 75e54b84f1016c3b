"""compile_release / make_record, and the single-release fast path proven identical to ocdsmerge."""

from __future__ import annotations

import copy
import json
import warnings
from pathlib import Path

import ocdsmerge
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ocdsmerge.exceptions import DuplicateIdValueWarning

from ocds import schema as ocds_schema
from ocds.compile import compile_release, fast_compiled_release, make_record, versioned_release
from ocds.errors import InputError, OCDSError
from ocds.validate import ReleaseValidator, package_problems

FIXTURES = Path(__file__).parent / "fixtures" / "compile"
CASES = sorted(p.stem for p in FIXTURES.glob("*.json") if not p.stem.endswith("-expected"))


def _reference(releases):
    """ocdsmerge itself, with a fresh Merger on the local schema (never the network)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DuplicateIdValueWarning)
        return ocdsmerge.Merger(schema=ocds_schema.release_schema()).create_compiled_release(
            copy.deepcopy(releases)
        )


def _same(a, b) -> bool:
    """Equal values AND the same key order (what a serialiser without sort_keys would write)."""
    return json.dumps(a, ensure_ascii=False) == json.dumps(b, ensure_ascii=False)


@pytest.mark.parametrize("case", CASES)
def test_fixture_pairs(case):
    releases = json.loads((FIXTURES / f"{case}.json").read_text(encoding="utf-8"))
    expected = json.loads((FIXTURES / f"{case}-expected.json").read_text(encoding="utf-8"))
    validator = ReleaseValidator()
    for release in releases:
        assert validator.problems(release) == []  # every fixture is valid OCDS
    assert validator.problems(expected) == []
    compiled = compile_release(releases)
    assert _same(compiled, expected)


def test_fast_path_identical_on_real_corpus(corpus):
    fell_back = 0
    for release in corpus:
        fast = fast_compiled_release([copy.deepcopy(release)])
        if fast is None:
            fell_back += 1
            continue
        assert _same(fast, _reference([release])), release.get("id")
    assert fell_back == 0  # the real corpus never needs the slow path


def test_fast_path_does_not_mutate(corpus):
    release = corpus[0]
    before = copy.deepcopy(release)
    compile_release([release])
    assert release == before


# Keys that exercise the merge rules: omitted (id, date, tag), whole-list (roles, tag,
# additionalIdentifiers...), identifier-merged arrays (parties, items, awards).
_KEYS = st.sampled_from(
    [
        "id",
        "date",
        "tag",
        "ocid",
        "parties",
        "roles",
        "items",
        "awards",
        "name",
        "x",
        "details",
        "additionalIdentifiers",
        "classification",
        "value",
        "amount",
    ]
)
_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=False), st.text(max_size=3)
)
_IDS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(0, 3),
    st.sampled_from(["1", "2", "a", "None"]),
    st.floats(0, 2),
)
_JSON = st.recursive(
    _SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(_KEYS, children, max_size=4),
        st.lists(
            st.one_of(
                st.dictionaries(_KEYS, children, max_size=3),
                st.builds(lambda d, i: {**d, "id": i}, st.dictionaries(_KEYS, children, max_size=3), _IDS),
            ),
            max_size=4,
        ),
    ),
    max_leaves=25,
)
_RELEASES = st.builds(
    lambda body, ocid, date: {**body, "ocid": ocid, "date": date},
    st.dictionaries(_KEYS, _JSON, max_size=6),
    st.one_of(st.none(), st.just("ocds-x-1")),
    st.one_of(st.none(), st.just("2025-01-01T00:00:00Z")),
)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(release=_RELEASES)
def test_fast_path_identical_on_generated_releases(release):
    try:
        expected = _reference([release])
    except Exception as error:  # noqa: BLE001 - e.g. a list as an id: ocdsmerge raises TypeError
        with pytest.raises(InputError) as info, warnings.catch_warnings():
            warnings.simplefilter("ignore", DuplicateIdValueWarning)
            compile_release([copy.deepcopy(release)])
        assert type(info.value.__cause__) is type(error)
        return
    fast = fast_compiled_release([copy.deepcopy(release)])
    assert fast is None or _same(fast, expected)  # None: it falls back to ocdsmerge
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DuplicateIdValueWarning)
        assert _same(compile_release([copy.deepcopy(release)]), expected)


def test_fast_path_identical_on_catalogue_like_orders(release_factory):
    # The shape ocds.catalogue produces: one release per order, parties, buyer, a tender with
    # techniques and lots, bids, one contract with suppliers, items, documents with integrity.
    for n in range(30):
        release = release_factory(
            ocid=f"ocds-abc123-OC-2025-{n:06d}",
            id=f"ocds-abc123-OC-2025-{n:06d}-v1",
            relatedProcesses=[
                {
                    "id": "1",
                    "relationship": ["framework"],
                    "scheme": "ocid",
                    "identifier": "ocds-abc123-AM-2024-01",
                }
            ],
            tender={
                "id": "t",
                "techniques": {"hasFrameworkAgreement": True},
                "lots": [{"id": "L1"}],
                "documents": [{"id": "d1", "integrity": [{"scheme": "sha256", "id": "0" * 64}]}],
            },
            bids={
                "details": [
                    {"id": f"b{i}", "status": "valid", "value": {"amount": i * 1.0}} for i in range(n % 4)
                ]
            },
        )
        release["contracts"][0]["items"] *= 1 + n % 3  # repeated item ids: the slow path
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DuplicateIdValueWarning)
            fast = compile_release([release])
        assert _same(fast, _reference([release]))


def test_duplicate_ids_fall_back_to_ocdsmerge(release_factory):
    release = release_factory()
    release["contracts"][0]["items"].append(dict(release["contracts"][0]["items"][0], quantity=3))
    assert fast_compiled_release([release]) is None
    with pytest.warns(DuplicateIdValueWarning):
        compiled = compile_release([release])
    assert compiled["contracts"][0]["items"][0]["quantity"] == 3


def test_make_record_embedded_and_linked(release_factory):
    first = release_factory(id="r1", date="2025-03-04T10:00:00Z", tag=["tender"])
    second = release_factory(id="r2", date="2025-03-05T10:00:00Z")
    record = make_record("ocds-abc123-0001", [second, first], versioned=True)
    assert [r["id"] for r in record["releases"]] == ["r1", "r2"]
    assert record["compiledRelease"]["id"] == "ocds-abc123-0001-2025-03-05T10:00:00Z"
    assert record["versionedRelease"] == versioned_release([first, second])
    urls = {"r1": "https://veraz.example/r/r1.json", "r2": "https://veraz.example/r/r2.json"}
    linked = make_record("ocds-abc123-0001", [first, second], linked=True, release_urls=urls)
    assert linked["releases"] == [
        {"url": urls["r1"], "date": "2025-03-04T10:00:00Z", "tag": ["tender"]},
        {"url": urls["r2"], "date": "2025-03-05T10:00:00Z", "tag": ["contract"]},
    ]
    package = {
        "uri": "https://x/p.json",
        "version": "1.1",
        "publishedDate": "2025-03-06T00:00:00Z",
        "publisher": {"name": "Veraz"},
        "records": [record, linked],
    }
    assert package_problems(package, "record", deep=True) == []
    with pytest.raises(InputError, match="not 'ocds-other'"):
        make_record("ocds-other", [first])
    with pytest.raises(InputError, match="no URL"):
        make_record("ocds-abc123-0001", [first], linked=True, release_urls={})


# --- Bad input: InputError (an OCDSError and a ValueError), never a bare TypeError ----------------

_DATED = {"ocid": "ocds-x", "id": "1", "date": "2025-01-01T00:00:00Z", "tag": ["tender"]}
BAD_RELEASES = {
    "not a list": {"ocid": "ocds-x"},
    "not objects": [1, 2],
    "one not an object": [_DATED, None],
    "value then object": [
        {**_DATED, "tender": "t"},
        {**_DATED, "id": "2", "date": "2025-01-02T00:00:00Z", "tender": {"id": "t"}},
    ],
    "no date": [{"ocid": "ocds-x", "id": "1"}, {"ocid": "ocds-x", "id": "2"}],
}


@pytest.mark.parametrize(
    "function",
    [compile_release, versioned_release, lambda releases: make_record("ocds-x", releases)],
    ids=["compile_release", "versioned_release", "make_record"],
)
@pytest.mark.parametrize("releases", BAD_RELEASES.values(), ids=BAD_RELEASES.keys())
def test_bad_releases_raise_input_error(function, releases):
    with pytest.raises(InputError) as info:
        function(copy.deepcopy(releases))
    assert isinstance(info.value, OCDSError)
    assert isinstance(info.value, ValueError)
    assert info.value.problems


# --- The catalogue mapping refuses what it cannot read -------------------------------------------


@pytest.mark.parametrize(
    "order",
    [{}, {"orderNumber": "OC-1"}, {"orderNumber": "OC-1", "items": 3}, []],
    ids=["empty", "number only", "items not a list", "not an object"],
)
def test_map_order_of_an_unchecked_order_raises_input_error(order):
    from ocds.catalogue.mapping import map_order

    with pytest.raises(InputError, match="check_order") as info:
        map_order(order, ocid_prefix="ocds-x")  # type: ignore[arg-type]
    assert info.value.__cause__ is not None


def test_a_documents_integrity_is_the_latest_versions_whole_list():
    # Each version of an order lists the SHA-256 of its own PDF under the same document id: the
    # compiled release says what the document is now, one hash, not every version's.
    def version(n: int, digest: str) -> dict:
        return {
            "ocid": "ocds-x-1",
            "id": str(n),
            "date": f"2024-0{n}-01T00:00:00Z",
            "tag": ["contract"],
            "initiationType": "tender",
            "contracts": [
                {
                    "id": "c",
                    "awardID": "a",
                    "documents": [
                        {"id": "OC-1-veraz-pdf", "integrity": [{"scheme": "sha256", "id": digest}]}
                    ],
                }
            ],
        }

    compiled = compile_release([version(1, "a" * 64), version(2, "b" * 64)])
    assert compiled["contracts"][0]["documents"][0]["integrity"] == [{"scheme": "sha256", "id": "b" * 64}]
