"""ReleaseValidator and package_problems: must-pass and must-fail cases for every extension."""

from __future__ import annotations

import copy
import multiprocessing
import pickle

import pytest

from ocds import schema as ocds_schema
from ocds.errors import InputError, OCDSError, Problem, ValidationFailed
from ocds.validate import ReleaseValidator, package_problems, validate_release

SHA = "a" * 64


def _with(path: list, value, release):
    release = copy.deepcopy(release)
    node = release
    for part in path[:-1]:
        node = node.setdefault(part, {}) if isinstance(part, str) else node[part]
    node[path[-1]] = value
    return release


def test_small_release_is_valid(make):
    assert ReleaseValidator().problems(make()) == []
    validate_release(make())


def test_every_extension_valid_use(make):
    release = make(
        tender={
            "id": "t1",
            "techniques": {"hasFrameworkAgreement": True},
            "lots": [{"id": "lot-1", "status": "active"}],
            "items": [
                {
                    "id": "1",
                    "relatedLot": "lot-1",
                    "deliveryLocation": {"geometry": {"type": "Point", "coordinates": [-77.0, -12.0]}},
                    "deliveryAddress": {"region": "Lima"},
                }
            ],
            "documents": [{"id": "d1", "integrity": [{"scheme": "sha256", "id": SHA}]}],
        },
        bids={"details": [{"id": "b1", "status": "valid"}]},
    )
    assert ReleaseValidator().problems(release) == []


MUST_FAIL = {
    "bid status accepted": (
        ["bids"],
        {"details": [{"id": "b1", "status": "accepted"}]},
        "bids/details/0/status",
    ),
    "geometry Circle": (
        ["tender"],
        {"id": "t1", "items": [{"id": "1", "deliveryLocation": {"geometry": {"type": "Circle"}}}]},
        "tender/items/0/deliveryLocation/geometry/type",
    ),
    "scale huge": (["parties", 1, "details", "scale"], "huge", "parties/1/details/scale"),
    "hasFrameworkAgreement yes": (
        ["tender"],
        {"id": "t1", "techniques": {"hasFrameworkAgreement": "yes"}},
        "tender/techniques/hasFrameworkAgreement",
    ),
    "empty suppliers": (["contracts", 0, "suppliers"], [], "contracts/0/suppliers"),
    "bad integrity hash": (
        ["tender"],
        {"id": "t1", "documents": [{"id": "d1", "integrity": [{"scheme": "sha256", "id": "XYZ"}]}]},
        "tender/documents/0/integrity/0/id",
    ),
    "integrity scheme md5": (
        ["tender"],
        {"id": "t1", "documents": [{"id": "d1", "integrity": [{"scheme": "md5", "id": SHA}]}]},
        "tender/documents/0/integrity/0/scheme",
    ),
    "bad date-time": (["date"], "2025-02-30T10:00:00Z", "date"),
    "uri with a space": (
        ["contracts", 0, "documents"],
        [{"id": "d", "url": "http://x/a b"}],
        "contracts/0/documents/0/url",
    ),
    "relative uri": (
        ["contracts", 0, "documents"],
        [{"id": "d", "url": "www.x.pe/a"}],
        "contracts/0/documents/0/url",
    ),
    "integer as float": (
        ["tender"],
        {"id": "t1", "numberOfTenderers": 2.0},
        "tender/numberOfTenderers",
    ),
}


@pytest.mark.parametrize("case", sorted(MUST_FAIL))
def test_must_fail(case, make):
    path, value, field = MUST_FAIL[case]
    release = _with(path, value, make())
    validator = ReleaseValidator()
    assert not validator.is_valid(release)
    problems = validator.problems(release)
    assert field in {p.field for p in problems}, problems
    with pytest.raises(ValidationFailed) as info:
        validate_release(release)
    assert info.value.problems == problems


def test_missing_required_field_points_at_it(make):
    release = make()
    del release["contracts"][0]["id"]
    del release["ocid"]
    assert ReleaseValidator().problems(release) == [
        Problem("contracts/0/id", "is required but missing"),
        Problem("ocid", "is required but missing"),
    ]


def test_not_an_object():
    assert ReleaseValidator().problems(["x"]) == [Problem("", "a release must be a JSON object")]


def test_validating_does_not_fill_defaults(make):
    release = make()
    ReleaseValidator().problems(release)
    assert "language" not in release  # the schema's default "en" must not be written in


def test_picklable(make):
    validator = pickle.loads(pickle.dumps(ReleaseValidator()))
    assert validator.problems(make()) == []


def _count_problems(release):
    return len(ReleaseValidator().problems(release))


@pytest.mark.parametrize("method", ["spawn", "fork"])
def test_worker_processes(method, make):
    bad = _with(["parties", 1, "details", "scale"], "huge", make())
    with multiprocessing.get_context(method).Pool(2) as pool:
        assert pool.map(_count_problems, [make(), bad]) == [0, 1]


PUBLISHER = {"name": "Veraz"}


def _release_package(make, **overrides):
    package = {
        "uri": "https://veraz.example/p/1.json",
        "version": "1.1",
        "publishedDate": "2025-03-04T10:15:00Z",
        "publisher": PUBLISHER,
        "releases": [make()],
    }
    package.update(overrides)
    return package


def test_package_problems_metadata(make):
    assert package_problems(_release_package(make), "release") == []
    problems = package_problems(_release_package(make, uri="not a uri", version=None), "release")
    assert {p.field for p in problems} == {"uri", "version"}
    bad_release = _release_package(make, releases=[_with(["parties", 1, "details", "scale"], "huge", make())])
    assert package_problems(bad_release, "release") == []  # shallow by default
    assert package_problems(bad_release, "release", deep=True) == [
        Problem(
            "releases/0/parties/1/details/scale",
            "'huge' is not one of ['micro', 'sme', 'small', 'medium', 'large', 'selfEmployed', None]",
        )
    ]


def test_package_problems_records_and_links(make):
    linked = {
        "ocid": "ocds-abc123-0001",
        "releases": [{"url": "https://x/r.json", "date": "2025-01-01T00:00:00Z"}],
    }
    embedded = {
        "ocid": "ocds-abc123-0001",
        "releases": [make()],
        "compiledRelease": make(),
    }
    package = _release_package(make, records=[linked, embedded])
    del package["releases"]
    assert package_problems(package, "record", deep=True) == []
    no_url = {"ocid": "x", "releases": [{"date": "2025-01-01T00:00:00Z"}]}
    package["records"] = [no_url]
    assert package_problems(package, "record") != []
    paged = {"links": {"next": "https://x/p/2"}, "releases": [make()], "version": "1.1"}
    assert package_problems(paged, "release") == []
    assert [p.field for p in package_problems({**paged, "links": {"next": 5}}, "release")] == ["links/next"]
    with pytest.raises(InputError, match="kind"):
        package_problems(paged, "records")  # type: ignore[arg-type]


@pytest.fixture
def make(release_factory):
    return release_factory


# --- Bad arguments: InputError ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda: package_problems({}, "records"),  # type: ignore[arg-type]
        lambda: ocds_schema.package_schema("records"),
        lambda: ocds_schema.codes("no-such-codelist.csv"),
        lambda: ocds_schema.codes("currency.csv", extension="no-such-extension"),
        lambda: ocds_schema.extension_patch("no-such-extension"),
        lambda: ocds_schema.extension_patch("../../../anchoring", "errors.py"),
    ],
    ids=["package kind", "schema kind", "codelist", "extension codelist", "extension", "outside"],
)
def test_bad_arguments_raise_input_error(call):
    with pytest.raises(InputError) as info:
        call()
    assert isinstance(info.value, OCDSError)


def test_validate_release_raises_validation_failed_with_problems(make):
    with pytest.raises(ValidationFailed) as info:
        validate_release({**make(), "date": "yesterday"})
    assert isinstance(info.value, OCDSError)
    assert [p.field for p in info.value.problems] == ["date"]
