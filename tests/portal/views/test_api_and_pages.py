"""Pages and the OCDS API over an imported dataset (SQLite and PostgreSQL)."""

from __future__ import annotations

import json

import orjson
import pytest
from builders import all_examples, write_jsonl
from jsonschema import Draft4Validator, ValidationError

from ocds.schema import EXTENSION_URLS, EXTENSIONS_DIR, package_schema
from ocds.validate import ReleaseValidator, package_problems
from portal.db import app_engine
from portal.publishing import import_ocds, import_orders


@pytest.fixture
def loaded(app, tmp_path):
    engine = app_engine(app)
    summary = import_orders(
        engine,
        write_jsonl(tmp_path / "o.jsonl", all_examples()),
        ocid_prefix=app.config["OCID_PREFIX"],
        workers=1,
    )
    assert summary.rejects == []
    return app


def _check_package(package: dict, kind: str) -> None:
    assert package_problems(package, kind, deep=True) == []


def test_release_pages_follow_links_next_to_the_end(loaded, client):
    seen = []
    url = "/api/releases?limit=3"
    pages = 0
    validator = ReleaseValidator()
    while url:
        response = client.get(url)
        assert response.status_code == 200 and response.mimetype == "application/json"
        package = response.get_json()
        # package metadata complete, valid against the (paginated) package schema
        for key in (
            "uri",
            "publisher",
            "license",
            "publicationPolicy",
            "publishedDate",
            "version",
            "extensions",
        ):
            assert package[key]
        _check_package(package, "release")
        for release in package["releases"]:
            assert validator.problems(release) == []
        seen += [(r["ocid"], r["id"]) for r in package["releases"]]
        nxt = package.get("links", {}).get("next")
        url = nxt.replace("http://localhost", "") if nxt else None
        pages += 1
    assert pages == 3  # 7 releases: 3 + 3 + 1
    assert len(seen) == len(set(seen)) == 7


def test_release_by_id_and_record_package(loaded, client):
    package = client.get("/api/releases?limit=100").get_json()
    release = next(r for r in package["releases"] if "contract" in r["tag"])
    one = client.get(f"/api/releases/{release['id']}")
    assert one.status_code == 200
    assert one.get_json()["releases"] == [release]
    record_pkg = client.get(f"/api/records/{release['ocid']}").get_json()
    _check_package(record_pkg, "record")
    record = record_pkg["records"][0]
    assert record["ocid"] == release["ocid"]
    assert record["compiledRelease"]["tag"] == ["compiled"]
    assert "versionedRelease" in record
    assert record_pkg["uri"] == f"http://localhost/api/records/{release['ocid']}"


def test_the_pages_json_twin_is_the_record_package_with_the_compiled_release_shown(loaded, client):
    ocid = f"{loaded.config['OCID_PREFIX']}-OC-2025-000127"
    twin = client.get(f"/contracts/{ocid}.json")
    assert twin.status_code == 200 and twin.mimetype == "application/json"
    package = orjson.loads(twin.data)
    _check_package(package, "record")
    assert package["uri"] == f"http://localhost/contracts/{ocid}.json"
    [record] = package["records"]
    api = client.get(f"/api/records/{ocid}").get_json()["records"][0]
    assert record["ocid"] == ocid and "versionedRelease" not in record
    assert record["compiledRelease"] == api["compiledRelease"]
    assert record["releases"] == api["releases"]


def test_an_empty_release_page_is_a_valid_release_package(app, client):
    """The core schema wants at least one release; a page declares the pagination extension,
    which makes ``releases`` optional: the end of the feed leaves it out."""
    package = client.get("/api/releases").get_json()
    assert "releases" not in package and "links" not in package
    assert EXTENSION_URLS["pagination"] in package["extensions"]
    schema = package_schema("release", paginated=True)
    Draft4Validator(schema, format_checker=Draft4Validator.FORMAT_CHECKER).validate(package)
    with pytest.raises(ValidationError, match="'releases' is a required property"):
        Draft4Validator(package_schema("release")).validate(package)


@pytest.mark.parametrize("url", ["/api/releases/nope", "/api/records/nope"])
def test_unknown_ids_are_json_404s(app, client, url):
    response = client.get(url)
    assert response.status_code == 404
    assert response.get_json()["error"]["status"] == 404


BAD_NUMBERS = [
    "0x",
    "abc",
    "-1",
    " 5",
    "5 ",
    "+5",
    "1.0",
    "1e3",
    "²",
    "٣",
    "５",
    "1_000",
    "9223372036854775808",
    "99999999999999999999999",
    "",
]


@pytest.mark.parametrize("name", ["limit", "cursor"])
@pytest.mark.parametrize("raw", BAD_NUMBERS)
def test_a_number_parameter_that_is_not_ascii_digits_in_range_is_a_400_naming_it(sqlite_app, name, raw):
    response = sqlite_app.test_client().get("/api/releases", query_string={name: raw})
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["status"] == 400 and f"'{name}'" in error["detail"]


@pytest.mark.parametrize("raw", ["0", "100000"])
def test_a_limit_outside_the_page_sizes_is_a_400_naming_it(sqlite_app, raw):
    response = sqlite_app.test_client().get(f"/api/releases?limit={raw}")
    assert response.status_code == 400 and "'limit'" in response.get_json()["error"]["detail"]


def test_the_largest_cursor_is_an_empty_page(sqlite_app):
    response = sqlite_app.test_client().get("/api/releases?cursor=9223372036854775807&limit=1")
    assert response.status_code == 200 and "releases" not in response.get_json()


@pytest.mark.parametrize(
    "url, unknown",
    [
        ("/api/releases?limt=5", "'limt'"),
        ("/api/releases?limit=5&page=2&x=1", "'page', 'x'"),
        ("/api/releases/nope?ocid=a&cursor=1", "'cursor'"),
        ("/api/records/nope?versioned=0", "'versioned'"),
    ],
)
def test_unknown_query_parameters_of_the_api_are_a_400_naming_them(sqlite_app, url, unknown):
    response = sqlite_app.test_client().get(url)
    assert response.status_code == 400
    assert unknown in response.get_json()["error"]["detail"]


def test_the_language_parameter_is_accepted_everywhere(sqlite_app):
    assert sqlite_app.test_client().get("/api/releases?lang=en&limit=1").status_code == 200


def test_home_and_order_pages_in_spanish_and_english(loaded, client):
    home = client.get("/").get_data(as_text=True)
    assert 'lang="es"' in home and "órdenes de compra" in home and "S/" in home
    english = client.get("/?lang=en")
    assert "purchase orders" in english.get_data(as_text=True)
    assert "lang=en" in english.headers["Set-Cookie"]
    ocid = f"{loaded.config['OCID_PREFIX']}-OC-2025-000127"
    # the cookie remembers the choice
    assert "Deliveries by destination" in client.get(f"/contracts/{ocid}").get_data(as_text=True)
    page = client.get(f"/contracts/{ocid}?lang=es").get_data(as_text=True)
    assert "Entregas por destino" in page and "Destino 2" in page
    assert "Historial de entregas" in page and "contractAmendment" in page
    missing = client.get("/contracts/ocds-nothing-here")
    assert missing.status_code == 404 and "No encontrado" in missing.get_data(as_text=True)


def test_everything_shown_is_escaped(app, client, tmp_path):
    from builders import example_order

    evil = example_order("1-single", orderNumber="OC-2025-000666")
    evil["buyer"]["name"] = "<script>alert('x')</script> Municipalidad"
    import_orders(
        app_engine(app),
        write_jsonl(tmp_path / "e.jsonl", [evil]),
        ocid_prefix=app.config["OCID_PREFIX"],
        workers=1,
    )
    page = client.get(f"/contracts/{app.config['OCID_PREFIX']}-OC-2025-000666").get_data(as_text=True)
    assert "<script>alert" not in page and "&lt;script&gt;" in page


def test_the_local_extension_is_served_from_its_files_at_the_url_packages_declare(sqlite_app):
    client = sqlite_app.test_client()
    declared = client.get("/api/releases").get_json()["extensions"]
    [url] = [u for u in declared if u.startswith("http://localhost/")]
    assert url == "http://localhost/extensions/integrity/extension.json"
    ext = client.get(url.removeprefix("http://localhost")).get_json()
    on_disk = json.loads((EXTENSIONS_DIR / "integrity" / "extension.json").read_text(encoding="utf-8"))
    assert ext == on_disk | {"documentationUrl": {"en": "http://localhost/about#integrity"}}
    patch = client.get("/extensions/integrity/release-schema.json").get_json()
    assert "integrity" in patch["definitions"]["Document"]["properties"]
    codelist = client.get("/extensions/integrity/codelists/integrityScheme.csv")
    assert codelist.mimetype == "text/csv"
    assert codelist.data == (EXTENSIONS_DIR / "integrity" / "codelists" / "integrityScheme.csv").read_bytes()
    assert client.get("/extensions/integrity/../../__init__.py").status_code == 404
    assert client.get("/extensions/bids/extension.json").status_code == 404


def _import(app, tmp_path, releases: list[dict]) -> None:
    path = tmp_path / "imported.jsonl"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in releases))
    summary = import_ocds(app_engine(app), [path])
    assert summary.rejects == []


def test_an_ocid_with_slashes_renders_on_every_address(app, client, tmp_path):
    ocid = "ocds-213czf-2024/LP-7/b"
    _import(
        app,
        tmp_path,
        [
            {
                "ocid": ocid,
                "id": "r/1",
                "date": "2024-01-02T00:00:00Z",
                "tag": ["tender"],
                "initiationType": "tender",
                "tender": {"id": "t", "title": "Con barra"},
            },
            {
                "ocid": ocid,
                "id": "r/2",
                "date": "2024-02-02T00:00:00Z",
                "tag": ["award"],
                "initiationType": "tender",
                "awards": [{"id": "a", "status": "active"}],
            },
        ],
    )
    page = client.get(f"/contracts/{ocid}")
    assert page.status_code == 200 and "Con barra" in page.get_data(as_text=True)
    twin = client.get(f"/contracts/{ocid}.json")
    assert twin.status_code == 200 and twin.get_json()["records"][0]["ocid"] == ocid
    api = client.get(f"/api/records/{ocid}")
    assert api.status_code == 200 and api.get_json()["records"][0]["ocid"] == ocid
    one = client.get(f"/api/releases/r/2?ocid={ocid}")
    assert one.status_code == 200 and one.get_json()["releases"][0]["id"] == "r/2"


@pytest.mark.parametrize(
    "path, endpoint, ocid",
    [
        ("/contracts/ocds-a-1", "contracts.contract", "ocds-a-1"),
        ("/contracts/ocds-a/1/x", "contracts.contract", "ocds-a/1/x"),
        ("/contracts/ocds-a-1.json", "contracts.contract_json", "ocds-a-1"),
        ("/contracts/ocds-a/1/x.json", "contracts.contract_json", "ocds-a/1/x"),
        ("/contracts/ocds-a-1/order.pdf", "verify.order_pdf", "ocds-a-1"),
        ("/contracts/ocds-a/1/x/order.pdf", "verify.order_pdf", "ocds-a/1/x"),
    ],
)
def test_the_order_pdf_address_is_not_taken_by_the_order_page(sqlite_app, path, endpoint, ocid):
    assert sqlite_app.url_map.bind("localhost").match(path) == (endpoint, {"ocid": ocid})
