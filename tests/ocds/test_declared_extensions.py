"""A third party's release is judged against the schema patched with the extensions ITS package
declares (the vendored copies), not against the ones Veraz declares."""

from __future__ import annotations

from ocds.schema import EXTENSION_URLS, declared_extensions
from ocds.validate import ReleaseValidator

BIDS_AT_A_TAG = (
    "https://raw.githubusercontent.com/open-contracting-extensions/ocds_bid_extension/v1.1.4/extension.json"
)
LOTS_ON_MASTER = (
    "https://raw.githubusercontent.com/open-contracting-extensions/ocds_lots_extension/master/extension.json"
)
UNKNOWN = "https://example.org/ocds_mystery_extension/extension.json"

RELEASE = {
    "ocid": "ocds-abc-1",
    "id": "1",
    "date": "2024-01-01T00:00:00Z",
    "tag": ["tender"],
    "initiationType": "tender",
    "bids": {"details": "not a list"},
}


def test_declared_urls_map_to_vendored_extensions_in_a_fixed_order():
    names, unknown = declared_extensions(
        [LOTS_ON_MASTER, UNKNOWN, BIDS_AT_A_TAG, EXTENSION_URLS["pagination"]]
    )
    assert names == ("bids", "lots")  # Veraz's order, whatever the declaration's
    assert unknown == (UNKNOWN,)


def test_nothing_declared_means_the_core_schema():
    assert declared_extensions([]) == ((), ())
    assert declared_extensions(["not a url", ""]) == ((), ("not a url", ""))


def test_a_release_is_judged_by_what_its_package_declared():
    # The core schema says nothing of bids: without the bids extension, any bids are allowed.
    assert ReleaseValidator(()).problems(RELEASE) == []
    with_bids = ReleaseValidator(declared_extensions([BIDS_AT_A_TAG])[0]).problems(RELEASE)
    assert [p.field for p in with_bids] == ["bids/details"]
    # Veraz's own default declares bids too.
    assert [p.field for p in ReleaseValidator().problems(RELEASE)] == ["bids/details"]
