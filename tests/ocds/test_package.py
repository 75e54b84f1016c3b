from ocds.compile import make_record
from ocds.package import record_package, release_package
from ocds.schema import EXTENSION_URLS, RELEASE_EXTENSIONS
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
    paged = release_package(
        [release_factory()], **META, links={"next": "https://veraz.example/p/2"}
    )
    assert paged["links"] == {"next": "https://veraz.example/p/2"}
    assert package_problems(paged, "release", deep=True) == []


def test_record_package_validates(release_factory):
    release = release_factory()
    package = record_package([make_record(release["ocid"], [release])], **META)
    assert package_problems(package, "record", deep=True) == []
