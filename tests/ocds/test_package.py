from datetime import datetime, timedelta, timezone

import orjson
import pytest

from ocds.compile import make_record
from ocds.package import (
    declared_extensions,
    local_extension_file,
    published_date,
    record_package,
    release_package,
    release_package_json,
)
from ocds.schema import EXTENSION_URLS, LOCAL_EXTENSIONS, RELEASE_EXTENSIONS
from ocds.validate import package_problems

META = {
    "uri": "https://veraz.example/api/releases.json",
    "publisher": {"name": "Veraz", "uri": "https://veraz.example"},
    "license": "https://creativecommons.org/licenses/by/4.0/",
    "publication_policy": "https://veraz.example/policy",
    "published_date": "2025-03-06T00:00:00Z",
    "extensions": [EXTENSION_URLS[e] for e in RELEASE_EXTENSIONS],
}


def test_release_package_validates(release_factory):
    package = release_package([release_factory()], **META)
    assert package["version"] == "1.1"
    assert package_problems(package, "release", deep=True) == []
    paged = release_package([release_factory()], **META, links={"next": "https://veraz.example/p/2"})
    assert paged["links"] == {"next": "https://veraz.example/p/2"}
    assert package_problems(paged, "release", deep=True) == []


def test_record_package_validates(release_factory):
    release = release_factory()
    package = record_package([make_record(release["ocid"], [release])], **META)
    assert package_problems(package, "record", deep=True) == []


def test_the_json_of_a_release_package_around_serialised_releases_is_that_package(release_factory):
    releases = [release_factory(), release_factory()]
    links = {"next": "https://veraz.example/p/2"}
    meta = META | {"extensions": [*META["extensions"], EXTENSION_URLS["pagination"]]}
    body = release_package_json([orjson.dumps(r) for r in releases], **meta, links=links)
    assert orjson.loads(body) == release_package(releases, **meta, links=links)


def test_an_empty_package_is_only_the_end_of_a_paginated_feed():
    with pytest.raises(ValueError, match="at least one"):
        release_package([], **META)
    with pytest.raises(ValueError, match="at least one"):
        record_package([], **META)
    with pytest.raises(ValueError, match="at least one"):
        release_package_json([], **META)
    paged = META | {"extensions": [*META["extensions"], EXTENSION_URLS["pagination"]]}
    empty = release_package([], **paged)
    assert "releases" not in empty and orjson.loads(release_package_json([], **paged)) == empty
    assert "records" not in record_package([], **paged)


def test_declared_extensions_name_the_local_ones_where_the_portal_serves_them():
    urls = declared_extensions("https://veraz.example/extensions/")
    assert urls[: len(RELEASE_EXTENSIONS)] == [EXTENSION_URLS[e] for e in RELEASE_EXTENSIONS]
    assert urls[len(RELEASE_EXTENSIONS) :] == [
        f"https://veraz.example/extensions/{e}/extension.json" for e in LOCAL_EXTENSIONS
    ]
    assert declared_extensions("https://v", paginated=True)[-1] == EXTENSION_URLS["pagination"]


def test_local_extension_files_are_read_from_the_extension_folder_only():
    assert orjson.loads(local_extension_file("integrity", "extension.json"))["schemas"] == [
        "release-schema.json"
    ]
    assert local_extension_file("integrity", "codelists/integrityScheme.csv").startswith(b"Code,")
    for name, filename in [
        ("integrity", "../bids/extension.json"),
        ("integrity", "nope.json"),
        ("bids", "extension.json"),
        ("integrity", "/etc/passwd"),
    ]:
        assert local_extension_file(name, filename) is None


def test_published_date_is_utc_to_the_second():
    lima = timezone(timedelta(hours=-5))
    assert published_date(datetime(2025, 3, 5, 23, 30, 15, 999, tzinfo=lima)) == "2025-03-06T04:30:15Z"
    assert published_date(datetime(2025, 3, 5, 23, 30, 15)) == "2025-03-05T23:30:15Z"
