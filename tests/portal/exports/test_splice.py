"""The compiled release of a single release spliced from its canonical JSON
(``portal.exports.splice``) is byte for byte what parsing, compiling and writing canonical JSON
gives, whenever the splice is taken; and an export is the same with the splice and without."""

from __future__ import annotations

import copy
from pathlib import Path

import orjson
import pytest
from evidence_builders import publish_examples
from exports_support import folder_of, import_other, run_export
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import update
from support import SHARED, need

from anchoring.canonical import canonical_json
from anchoring.errors import CanonicalError
from ocds.catalogue.generate import generate_orders
from ocds.catalogue.mapping import map_order
from ocds.catalogue.source import agreement_key, check_order
from portal.db import app_engine
from portal.exports import Publication, build, export
from portal.exports.splice import compiled_canonical, splice_flag, spliced_compiled, spliced_flagged
from portal.models import releases
from portal.publishing.prepared import date_column

# Repeated ids are among the generated cases: ocdsmerge warns about them, and merges them.
pytestmark = pytest.mark.filterwarnings("ignore::ocdsmerge.exceptions.DuplicateIdValueWarning")

# A catalogue-like release: parties, buyer, awards and contracts with items (ids repeated across
# arrays but not within one), bids with statistics, whole-list arrays, documents with integrity.
BASE: dict = {
    "ocid": "ocds-t-OC-2024-000003",
    "id": "ocds-t-OC-2024-000003-v1",
    "date": "2024-01-12T09:39:00-05:00",
    "tag": ["tender", "award", "contract"],
    "initiationType": "tender",
    "language": "es",
    "buyer": {"id": "PE-RUC-1", "name": "Dirección Regional"},
    "parties": [
        {"id": "PE-RUC-1", "name": "Dirección Regional", "roles": ["buyer", "procuringEntity"]},
        {"id": "PE-RUC-2", "name": "Mochica S.R.L.", "roles": ["supplier"], "details": {"scale": "micro"}},
    ],
    "awards": [
        {
            "id": "OC-1",
            "items": [
                {"classification": {"id": "43211503", "scheme": "UNSPSC"}, "id": "1", "quantity": 5},
                {"classification": {"id": "43211503", "scheme": "UNSPSC"}, "id": "2", "quantity": 1.5},
            ],
            "suppliers": [{"id": "PE-RUC-2", "name": "Mochica S.R.L."}],
            "value": {"amount": 47266.19, "currency": "PEN"},
        }
    ],
    "contracts": [
        {
            "awardID": "OC-1",
            "id": "OC-1",
            "items": [
                {"additionalClassifications": [{"id": "CP-1", "scheme": "x"}], "id": "1-1", "quantity": 5}
            ],
            "documents": [{"id": "d", "integrity": [{"id": "6d3e", "scheme": "sha256"}], "title": "Orden"}],
        }
    ],
    "bids": {"statistics": [{"id": "bids", "measure": "bids", "value": 3}]},
    "relatedProcesses": [{"id": "1", "relationship": ["framework"], "scheme": "ocid"}],
}


def _canonical(release) -> bytes | None:
    try:
        return canonical_json(release)
    except CanonicalError:  # e.g. an integer beyond 2**53 - 1: never stored
        return None


def _check_batch(releases: list) -> list[bytes | None]:
    """Splice a batch (the test runs over several releases at once: they must not interfere)
    and compare each spliced release with the slow path; and the same for the flag decided at
    publication (:func:`_check_flagged`)."""
    kept = [(r, d) for r, d in zip(releases, map(_canonical, releases), strict=True) if d is not None]
    datas = [d for _, d in kept]
    made = spliced_compiled(datas)
    for data, fast in zip(datas, made, strict=True):
        if fast is not None:
            assert fast == compiled_canonical(data), data
    for release, data in kept:
        _check_flagged(release, data)
    return made


def _check_flagged(release, data: bytes) -> bool:
    """When publishing would flag ``release`` (whose stored bytes are ``data``), the export's
    splice from its columns is byte for byte the slow path. The release is flagged as parsed
    back from its bytes, as the audit recomputes it, and as publishing holds it: the same."""
    flag = splice_flag(release, data)
    assert splice_flag(orjson.loads(data), data) == flag
    if flag:
        columns = (release["ocid"], date_column(release["date"]), str(release["id"]))
        assert spliced_flagged(data, *columns) == compiled_canonical(data), data
    return flag


def test_a_catalogue_release_is_spliced_to_what_compiling_gives():
    data = canonical_json(BASE)
    [fast] = spliced_compiled([data])
    assert fast is not None
    assert fast == compiled_canonical(data)
    assert _check_flagged(BASE, data)
    compiled = orjson.loads(fast)
    assert compiled["id"] == f"{BASE['ocid']}-{BASE['date']}" and compiled["tag"] == ["compiled"]


def test_real_published_releases():
    # Imported OCDS as published (Paraguay, Mexico): escapes, nulls, empty arrays, odd ids.
    folder = SHARED / "real-ocds"
    need(folder.exists(), f"{folder} (real published OCDS) is not present")
    datas = [
        canonical_json(orjson.loads(line))
        for path in sorted(folder.glob("*/releases.jsonl"))
        for line in path.read_bytes().splitlines()
        if line.strip()
    ]
    made = spliced_compiled(datas)
    assert sum(m is not None for m in made) > len(datas) // 2  # most are spliced
    for data, fast in zip(datas, made, strict=True):
        if fast is not None:
            assert fast == compiled_canonical(data)
    flagged = sum(_check_flagged(orjson.loads(data), data) for data in datas)
    assert flagged > len(datas) // 3


# What the merge changes, each on its own: the splice must refuse, and would be wrong if it
# did not (the naive splice: id and tag replaced, nothing else).
def _null(r):
    r["awards"][0]["value"]["currency"] = None


def _empty_object(r):
    r["buyer"]["details"] = {}


def _empty_array(r):
    r["parties"][1]["roles"] = []  # a whole-list field: kept, but the rule refuses any "[]"
    r["awards"][0]["documents"] = []


def _duplicate_id(r):
    r["awards"][0]["items"].append({**r["awards"][0]["items"][0], "quantity": 9})


def _integer_and_string_id(r):
    r["awards"][0]["items"][1]["id"] = 1
    r["awards"][0]["items"][0]["id"] = "1"


def _no_tag(r):
    del r["tag"]


def _numeric_date(r):
    r["date"] = 20240112


CHANGED_BY_MERGE = [_null, _empty_object, _duplicate_id, _integer_and_string_id]


# The rest are refused because there is nothing to splice into, or the rule is stricter than
# needed (a whole-list field may be empty).
@pytest.mark.parametrize("mutate", [*CHANGED_BY_MERGE, _empty_array, _no_tag, _numeric_date])
def test_what_the_merge_changes_is_never_spliced(mutate):
    release = copy.deepcopy(BASE)
    mutate(release)
    data = canonical_json(release)
    assert spliced_compiled([canonical_json(BASE), data, canonical_json(BASE)])[1] is None
    assert not _check_flagged(release, data)
    if mutate in CHANGED_BY_MERGE:
        naive = canonical_json(
            {**release, "id": f"{release['ocid']}-{release.get('date')}", "tag": ["compiled"]}
        )
        assert naive != compiled_canonical(data)


def _tag_elsewhere(r):
    r["tender"] = {"id": "t", "tag": "x"}  # a second member named tag: not found with find


def _release_id_elsewhere(r):
    r["awards"][0]["id"] = r["id"]  # a second object with the release's id


def _tag_holding_a_bracket(r):
    r["tag"] = ["tender]"]


def _long_date(r):
    r["date"] = "2024-01-12T09:39:00.000000000000000000-05:00"  # beyond the date column's 40


def _tuple(r):
    r["parties"][0]["roles"] = ("buyer",)  # canonical JSON writes it as an array; not a list


@pytest.mark.parametrize(
    "mutate", [_tag_elsewhere, _release_id_elsewhere, _tag_holding_a_bracket, _long_date, _tuple]
)
def test_the_flag_refuses_what_find_would_get_wrong(mutate):
    # Each of these compiles to the release with id and tag replaced (the byte test splices
    # some), but the export's find could pick the wrong place, or the columns differ.
    release = copy.deepcopy(BASE)
    mutate(release)
    assert not splice_flag(release, canonical_json(release))


def test_the_flag_takes_text_that_holds_null():
    # The byte test refuses the bytes null anywhere; the flag sees values, not text.
    release = {**BASE, "description": "null y {} []"}
    data = canonical_json(release)
    assert spliced_compiled([data]) == [None]
    assert _check_flagged(release, data)


def test_bytes_that_are_not_json_do_not_upset_the_others():
    good = canonical_json(BASE)
    made = spliced_compiled([good, b'{"a":"x', good, b'{"a":[1}', b'{"a":[1]]}', good, b"[]", b""])
    assert made[1] is None and made[3] is None and made[4] is None and made[6] is None and made[7] is None
    assert made[0] == made[2] == made[5] == compiled_canonical(good)


def test_huge_numbers_are_written_as_the_splice_keeps_them():
    # Canonical JSON writes 2.0**60 as digits (its shortest form, padded with zeros), which
    # parse back as an integer beyond 2**53; and 1e20 as digits beyond 64 bits.
    release = {**BASE, "planning": {"budget": {"amount": {"amount": 2.0**60, "currency": "PEN"}}}}
    release["awards"] = [{**BASE["awards"][0], "value": {"amount": 1e20, "currency": "PEN"}}]
    data = canonical_json(release)
    assert b"1152921504606847000" in data and b"100000000000000000000" in data
    [fast] = spliced_compiled([data])
    assert fast is not None and fast == compiled_canonical(data)


# --- generated releases -------------------------------------------------------------------

_TEXT = st.text(
    alphabet=st.sampled_from(["a", "é", '"', "\\", "\n", "\x00", "😀", "\u2028", " ", "{", "]"]), max_size=4
) | st.sampled_from(["null", "{}", "[]", "id", '"id":"1"', "x"])
_NUMBERS = st.one_of(
    st.integers(-(2**53) + 1, 2**53 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1e20, 2.0**60, 1e21, 1e-7, -0.0, 13.0]),
)
_IDS = st.one_of(
    st.sampled_from(["1", "2", "a", ""]), st.integers(0, 2), st.none(), st.booleans(), st.just(1.0)
)
_KEYS = st.sampled_from(
    ["id", "items", "value", "roles", "details", "tag", "date", "a", "ñ", "😀", "additionalClassifications"]
)
_SCALARS = st.one_of(st.none(), st.booleans(), _NUMBERS, _TEXT)


def _with_id(item: dict, identifier) -> dict:
    return {**item, "id": identifier}


def _containers(children):
    """Arrays, objects, and arrays of objects (most with an id, from a few values)."""
    return st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(_KEYS, children, max_size=3),
        st.lists(
            st.builds(_with_id, st.dictionaries(_KEYS, children, max_size=2), _IDS)
            | st.dictionaries(_KEYS, children, min_size=1, max_size=2),
            min_size=1,
            max_size=3,
        ),
    )


_JSON = st.recursive(_SCALARS, _containers, max_leaves=12)
_TOP_KEYS = st.sampled_from(["awards", "buyer", "contracts", "parties", "tender", "ida", "tah", "zzz", "Z"])
_RELEASES = st.builds(
    lambda body, ocid, date, rid, tag, drop: {
        k: v for k, v in {**body, "ocid": ocid, "date": date, "id": rid, "tag": tag}.items() if k not in drop
    },
    st.dictionaries(_TOP_KEYS, _JSON, max_size=4),
    st.one_of(st.just("ocds-x-1"), _TEXT, st.integers(0, 2)),
    st.one_of(st.just("2025-01-01T00:00:00Z"), _TEXT, st.none(), st.integers(0, 2)),
    st.one_of(st.just("r1"), _IDS),
    st.one_of(st.just(["tender"]), _JSON),
    st.sets(st.sampled_from(["ocid", "date", "id", "tag"]), max_size=1),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(releases=st.lists(_RELEASES, min_size=1, max_size=4))
def test_generated_releases_spliced_or_left_to_the_compiler(releases):
    _check_batch([*releases, BASE])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_catalogue_releases(data):
    """Random changes at random places of a catalogue release: a value replaced by a generated
    one (nulls, odd types, huge numbers, text with quotes and escapes), an array item repeated,
    an item's id changed."""
    release = copy.deepcopy(BASE)
    for _ in range(data.draw(st.integers(1, 3))):
        node, key = _random_place(data, release)
        action = data.draw(st.sampled_from(["replace", "repeat", "id"]))
        value = node[key]
        if action == "repeat" and type(value) is list and value:
            value.append(copy.deepcopy(value[data.draw(st.integers(0, len(value) - 1))]))
        elif action == "id" and type(value) is list and value and type(value[0]) is dict:
            value[0]["id"] = data.draw(_IDS)
        else:
            node[key] = data.draw(_JSON)
    made = _check_batch([BASE, release, BASE])
    assert made[0] is not None  # the splice is taken where it can be


def _random_place(data, release):
    node: dict | list = release
    key = data.draw(st.sampled_from(sorted(release)))
    while type(node[key]) in (dict, list) and node[key] and data.draw(st.booleans()):
        node = node[key]
        key = data.draw(
            st.sampled_from(sorted(node)) if type(node) is dict else st.integers(0, len(node) - 1)
        )
    return node, key


# --- the export ----------------------------------------------------------------------------


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.gz"))}


def test_the_export_is_the_same_with_and_without_the_splice(app, tmp_path, monkeypatch):
    # Three ways to the same files: the flag decided at publication (releases.splice), the
    # byte test alone (a database published before the flag: the column NULL), and compiling
    # every compiled release.
    publish_examples(app, tmp_path)
    import_other(app, tmp_path, "ocds-abc123-1", n=1)
    import_other(app, tmp_path, "ocds-abc123-2", n=2)
    flagged: list[bytes] = []
    spliced: list[bytes] = []

    def counting_flagged(*args):
        made = spliced_flagged(*args)
        flagged.extend([made] if made is not None else [])
        return made

    def counting(datas):
        made = spliced_compiled(datas)
        spliced.extend(m for m in made if m is not None)
        return made

    monkeypatch.setattr(build, "spliced_flagged", counting_flagged)
    monkeypatch.setattr(build, "spliced_compiled", counting)
    formats = frozenset({"compiled", "packages"})
    with_flags = run_export(app, formats=formats)
    assert flagged  # the flag was used
    flagged_before = len(flagged)
    files = _files(folder_of(app))
    sums = (folder_of(app) / "SHA256SUMS").read_bytes()

    with app_engine(app).begin() as conn:  # as in a database published before the column
        conn.execute(update(releases).values(splice=None))
    tested = tmp_path / "tested"
    export(app_engine(app), tested, Publication.from_config(app.config), formats=formats)
    assert len(spliced) >= len(flagged) and len(flagged) == flagged_before  # the byte test took them
    assert _files(tested) == files

    monkeypatch.setattr(build, "spliced_compiled", lambda datas: [None] * len(datas))
    other = tmp_path / "without"
    without = export(app_engine(app), other, Publication.from_config(app.config), formats=formats)
    assert with_flags.compiled == without.compiled
    assert _files(other) == files
    assert (other / "SHA256SUMS").read_bytes() == sums


# --- the flag of an order's release, decided without the walk -------------------------------

_ORDERS = list(generate_orders(400, 11))  # every order shape, with quotes, amendments, documents
_PREFIX = "ocds-t"
_ODD_TEXT = st.one_of(
    _TEXT.filter(bool),
    st.sampled_from(
        ["null", "{}", "[]", '"tag":', "tag", "a\\b", 'say "id"', "1-1", "1", "bids", "PE-RUC-1"]
    ),
)


def _string_places(value, path=()):
    """Every (container, key) of a string in a source order."""
    if type(value) is dict:
        items = value.items()
    elif type(value) is list:
        items = enumerate(value)
    else:
        return
    for key, member in items:
        if type(member) is str:
            yield value, key
        else:
            yield from _string_places(member, path)


def _source_mutation(data, order: dict) -> None:
    """One change a catalogue system's export may hold: equal identifiers where the mapping makes
    objects of one list (buyer and supplier, quoters, documents of one quote), an identifier
    equal to the release's id, odd text anywhere, an optional list dropped or repeated."""
    action = data.draw(
        st.sampled_from(
            [
                "buyer-is-supplier",
                "quoter-is-buyer",
                "quote-documents",
                "release-id",
                "text",
                "drop",
                "repeat",
            ]
        )
    )
    proformas = order.get("proformas") or []
    if action == "buyer-is-supplier":
        order["buyer"]["identifier"] = order["supplier"]["identifier"]
    elif action == "quoter-is-buyer" and proformas:
        proformas[-1]["supplier"] = dict(order["buyer"], identifier=order["buyer"]["identifier"])
    elif action == "quote-documents" and proformas:
        quote = data.draw(st.sampled_from(proformas))
        documents = quote.setdefault("documents", [])
        if documents and data.draw(st.booleans()):
            documents.append(copy.deepcopy(documents[0]))  # the same id twice in one quote
        else:
            documents.append(copy.deepcopy(order.get("documents", [{}])[0]) or _DOCUMENT)
    elif action == "release-id":
        # Any identifier that becomes an OCDS id may equal the release's id.
        places = [(d, "id") for d in order.get("documents", [])]
        places += [(p, "id") for p in proformas] + [(a, "id") for a in order.get("amendments", [])]
        places += [(d, "id") for p in proformas for d in p.get("documents", [])]
        places += [(i, "productId") for i in order["items"]]
        if places:
            node, key = data.draw(st.sampled_from(places))
            node[key] = f"{_PREFIX}-{order['orderNumber']}-v{order['version']}"
    elif action == "text":
        places = list(_string_places(order))
        node, key = data.draw(st.sampled_from(places))
        node[key] = data.draw(_ODD_TEXT)
    elif action == "drop":
        key = data.draw(st.sampled_from(["documents", "proformas", "amendments", "package"]))
        order.pop(key, None)
    elif action == "repeat":
        key = data.draw(st.sampled_from(["documents", "proformas", "amendments", "items", "destinations"]))
        if order.get(key):
            order[key].append(copy.deepcopy(order[key][0]))


_DOCUMENT = {
    "id": "D-1",
    "type": "proforma",
    "title": "Proforma",
    "url": "https://example.gob.pe/d.pdf",
    "sha256": "0" * 64,
}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_an_orders_release_is_flagged_without_the_walk_as_with_it(data):
    """``splice_flag(..., catalogue=True)`` (publishing an order, rules 2-4 mostly by
    construction) gives what the whole rule gives (the audit's walk, on the object and on its
    stored bytes), for generated orders changed where the construction could fail."""
    order = copy.deepcopy(data.draw(st.sampled_from(_ORDERS)))
    for _ in range(data.draw(st.integers(0, 3))):
        _source_mutation(data, order)
    try:
        raw = orjson.dumps(order)
    except TypeError:
        return
    order = orjson.loads(raw)
    key = agreement_key(order)
    if check_order(order, agreement_key=key):
        return  # refused at publication: never mapped
    release = map_order(order, ocid_prefix=_PREFIX, agreement_key=key).order_release
    release_data = canonical_json(release)
    fast = splice_flag(release, release_data, catalogue=True)
    assert fast == splice_flag(release, release_data)
    assert fast == _check_flagged(orjson.loads(release_data), release_data)


def test_the_cases_the_construction_does_not_cover_are_refused():
    """Each case where ``map_order``'s lists could hold one id twice, or another object the
    release's id, is refused by the flag of an order's release (and by the walk)."""
    shapes = 0
    for order in _ORDERS:
        if not order.get("proformas") or len(order["proformas"]) < 2:
            continue
        cases = []
        same = copy.deepcopy(order)
        same["buyer"]["identifier"] = same["supplier"]["identifier"]
        cases.append(same)
        documents = copy.deepcopy(order)
        documents["proformas"][0]["documents"] = [
            _DOCUMENT,
            dict(_DOCUMENT, url="https://example.gob.pe/e.pdf"),
        ]
        cases.append(documents)
        named = copy.deepcopy(order)
        named["proformas"][0]["id"] = f"{_PREFIX}-{order['orderNumber']}-v{order['version']}"
        cases.append(named)
        for case in cases:
            assert not check_order(case)
            release = map_order(case, ocid_prefix=_PREFIX).order_release
            release_data = canonical_json(release)
            assert not splice_flag(release, release_data, catalogue=True)
            assert not splice_flag(release, release_data)
        release = map_order(order, ocid_prefix=_PREFIX).order_release
        assert splice_flag(release, canonical_json(release), catalogue=True)
        shapes += 1
        if shapes == 5:
            break
    assert shapes == 5
