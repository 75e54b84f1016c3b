"""Any publisher's OCDS renders: generated and mutated releases, stored through the real import,
answer every address that shows a record (SQLite and PostgreSQL): never a server error, never
a 404 for a release that is stored."""

from __future__ import annotations

import itertools
from urllib.parse import quote

import orjson
import pytest
from builders import example_order
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import json_paths, replace_at_paths

from ocds.catalogue.mapping import map_order
from portal.db import app_engine
from portal.publishing import import_ocds

SCALARS = st.one_of(
    # integers within what canonical JSON stores exactly (the import rejects larger ones)
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53 - 1), max_value=2**53 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=10),
    st.sampled_from(["", "buyer", "supplier", "framework", "cancelled", "1-1-1", "12", "2024-13-45"]),
)
KEYS = [
    "tender",
    "awards",
    "contracts",
    "parties",
    "buyer",
    "relatedProcesses",
    "bids",
    "items",
    "value",
    "amount",
    "currency",
    "quantity",
    "unit",
    "roles",
    "identifier",
    "relationship",
    "details",
    "tenderers",
    "milestones",
    "deliveryAddress",
    "documents",
    "integrity",
    "amendments",
    "title",
    "status",
    "date",
    "dateSigned",
    "period",
    "name",
    "id",
    "url",
    "techniques",
    "hasFrameworkAgreement",
    "classification",
    "region",
    "address",
    "scale",
]
JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(KEYS), inner, max_size=5)
    ),
    max_leaves=30,
)
# ocids and release ids as publishers write them: slashes, accents, spaces, percent signs
NAMES = st.text(alphabet="abcXYZ019-_/ é%+:", min_size=1, max_size=16).filter(
    lambda s: not s.startswith("/") and not s.endswith("/") and "//" not in s
)

ORDER = map_order(example_order("3-partial"), ocid_prefix="ocds-rndr01").order_release


@st.composite
def releases(draw) -> dict:
    """A Veraz order with a few values replaced, or a release made of OCDS keys and any values."""
    if draw(st.booleans()):
        release = orjson.loads(orjson.dumps(ORDER))
        # ocid, id and tag are the import's to check (it rejects or stores them); the rest is
        # whatever a publisher wrote
        paths = [p for p in json_paths(release) if p[0] not in ("ocid", "id", "tag")]
        replace_at_paths(draw, release, JSON, min_changes=1, max_changes=5, paths=paths)
    else:
        release = draw(st.dictionaries(st.sampled_from(KEYS), JSON, max_size=8))
    # the import keeps a release's date in a 40-character column: a string that fits
    release["date"] = draw(st.one_of(st.just("2025-03-05T10:00:00Z"), st.text(max_size=20)))
    return release


def _url(*parts: str) -> str:
    return "/".join(quote(p, safe="/") for p in parts)


def test_any_stored_record_renders_on_every_address(app, tmp_path):
    client = app.test_client()
    engine = app_engine(app)
    serial = itertools.count()

    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(st.lists(releases(), min_size=1, max_size=3), NAMES, NAMES)
    def check(group, ocid_name, release_name):
        n = next(serial)
        ocid = f"ocds-rndr01-{ocid_name}-{n}"
        for i, release in enumerate(group):
            release["ocid"], release["id"] = ocid, f"{release_name}-{i}"
        path = tmp_path / f"r{n}.jsonl"
        path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in group))
        summary = import_ocds(engine, [path])
        # every release is stored as published, even one the merge routine cannot compile
        assert summary.read == len(group) and all(r.field == "" for r in summary.rejects)
        release = client.get(_url("/api/releases", f"{release_name}-0"), query_string={"ocid": ocid})
        assert release.status_code == 200
        assert release.get_json()["releases"][0]["ocid"] == ocid
        for address in (
            _url("/contracts", ocid),
            _url("/contracts", ocid) + ".json",
            _url("/api/records", ocid),
        ):
            response = client.get(address)
            assert response.status_code == 200, (address, response.status_code)

    check()


def _with(path: tuple, value) -> dict:
    release = orjson.loads(orjson.dumps(ORDER))
    node = release
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return release


# Values that once answered 500 (the money formatter met None, a string quantity was multiplied,
# an index was assumed, a link was built to a framework without identifier), and their kin.
MALFORMED = {
    "no amount": _with(("contracts", 0, "value"), {"currency": "PEN"}),
    "null amount": _with(("contracts", 0, "value", "amount"), None),
    "amount as text": _with(("contracts", 0, "value", "amount"), "1.500,00"),
    "amount too large to format": _with(("contracts", 0, "value", "amount"), 1e300),
    "quantity as text": _with(("contracts", 0, "items", 0, "quantity"), "12 cajas"),
    "unit price null": _with(("contracts", 0, "items", 0, "unit", "value", "amount"), None),
    "no contracts": _with(("contracts",), []),
    "awards as an object": _with(("awards",), {"id": "1"}),
    "framework without identifier": _with(("relatedProcesses", 0, "identifier"), None),
    "roles as text": _with(("parties", 0, "roles"), "buyer"),
    "tenderers as an object": _with(("bids", "details", 0, "tenderers"), {"name": "X"}),
    "dates that are not dates": _with(("contracts", 0, "dateSigned"), "mañana"),
    "status as a number": _with(("contracts", 0, "status"), 3),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_a_malformed_value_renders_as_absent_or_as_published(sqlite_app, tmp_path, case):
    release = MALFORMED[case]
    path = tmp_path / "r.jsonl"
    path.write_bytes(orjson.dumps(release) + b"\n")
    assert import_ocds(app_engine(sqlite_app), [path]).rejects == []
    client = sqlite_app.test_client()
    page = client.get(f"/contracts/{release['ocid']}")
    assert page.status_code == 200
    assert release["id"] in page.get_data(as_text=True)  # the history is there
    assert client.get(f"/contracts/{release['ocid']}.json").status_code == 200
    assert client.get(f"/api/records/{release['ocid']}").status_code == 200


def test_an_amount_as_text_is_shown_as_published(sqlite_app, tmp_path):
    release = MALFORMED["amount as text"]
    path = tmp_path / "r.jsonl"
    path.write_bytes(orjson.dumps(release) + b"\n")
    import_ocds(app_engine(sqlite_app), [path])
    page = sqlite_app.test_client().get(f"/contracts/{release['ocid']}").get_data(as_text=True)
    assert "1.500,00 PEN" in page


def test_a_process_whose_releases_cannot_be_compiled_still_has_its_page(sqlite_app, tmp_path):
    ocid = "ocds-rndr01-unmergeable"
    group = [
        {
            "ocid": ocid,
            "id": "first",
            "date": "2025-01-01T00:00:00Z",
            "tag": ["tender"],
            "tender": {"title": "Compra"},
        },
        {"ocid": ocid, "id": "second", "date": None, "tag": ["award"]},
    ]
    path = tmp_path / "r.jsonl"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in group))
    summary = import_ocds(app_engine(sqlite_app), [path])
    # both releases are kept as published; the record is what cannot be built
    assert summary.read == 2 and len(summary.rejects) == 1 and "date" in summary.rejects[0].reason
    client = sqlite_app.test_client()
    page = client.get(f"/contracts/{ocid}")
    assert page.status_code == 200
    assert "first" in page.get_data(as_text=True) and "second" in page.get_data(as_text=True)
    [record] = client.get(f"/contracts/{ocid}.json").get_json()["records"]
    assert sorted(r["id"] for r in record["releases"]) == ["first", "second"]
    assert "compiledRelease" not in record
