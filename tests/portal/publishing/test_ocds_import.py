"""import_ocds on a real SQLite file and a real PostgreSQL: conflicting copies decided by content
whatever the order of the files, package metadata stored per release, linked records reported
(not rejected), numbers canonical JSON cannot write rejected alone, a report per file."""

from __future__ import annotations

import hashlib
import json

import pytest
from sqlalchemy import create_engine, select

from anchoring.canonical import canonical_json
from portal.models import release_packages, releases
from portal.publishing import import_ocds


def _release(**overrides):
    release = {
        "ocid": "ocds-abc123-0001",
        "id": "r1",
        "date": "2025-03-04T10:15:00-05:00",
        "tag": ["tender"],
        "initiationType": "tender",
        "parties": [{"id": "PE-RUC-20100000001", "name": "Ministerio", "roles": ["buyer"]}],
        "buyer": {"id": "PE-RUC-20100000001", "name": "Ministerio"},
    }
    release.update(overrides)
    return release


def _package(releases_, **metadata):
    return json.dumps({"uri": "https://x/p.json", "version": "1.1", **metadata, "releases": releases_})


def _sha(release) -> str:
    return hashlib.sha256(canonical_json(release)).hexdigest()


@pytest.fixture
def engine(database_url):
    engine = create_engine(database_url)
    yield engine
    engine.dispose()


@pytest.mark.parametrize("reverse", [False, True])
def test_the_winning_copy_does_not_depend_on_the_order_of_files(engine, tmp_path, reverse):
    older = _release(tender={"title": "Papel"})
    newer = _release(tender={"title": "Papel A4"})
    upgraded_later = {k: v for k, v in _release(tender={"title": "Papel bond"}).items() if k != "parties"}
    files = [tmp_path / "a.json", tmp_path / "b.json", tmp_path / "c.json"]
    files[0].write_text(_package([older], publishedDate="2024-01-01T00:00:00Z"))
    files[1].write_text(_package([newer], publishedDate="2024-06-01T00:00:00Z"))
    # Published last, but as OCDS 1.0: upgraded here, so it loses to both 1.1 copies.
    files[2].write_text(_package([upgraded_later], publishedDate="2025-01-01T00:00:00Z", version="1.0"))
    summary = import_ocds(engine, files[::-1] if reverse else files)
    with engine.connect() as conn:
        stored = conn.execute(select(releases.c.data_hash)).scalars().all()
    assert stored == [_sha(newer)]
    assert summary.published_releases == 1 and summary.rejected == 2
    for reject in summary.rejects:
        assert reject.record == "ocds-abc123-0001 r1" and reject.field == "id"
        assert f"kept sha256 {_sha(newer)} from {files[1]} releases[0]" in reject.reason
    assert {r.file for r in summary.rejects} == {str(files[0]), str(files[2])}
    assert f"this copy is sha256 {_sha(older)}" in next(
        r.reason for r in summary.rejects if r.file == str(files[0])
    )


def test_what_is_stored_wins_over_a_later_import(engine, tmp_path):
    first, second = tmp_path / "1.json", tmp_path / "2.json"
    first.write_text(_package([_release(tender={"title": "a"})], publishedDate="2024-01-01T00:00:00Z"))
    second.write_text(_package([_release(tender={"title": "b"})], publishedDate="2025-01-01T00:00:00Z"))
    import_ocds(engine, [first])
    summary = import_ocds(engine, [second])
    (reject,) = summary.rejects
    assert "already published with different content" in reject.reason
    assert reject.line == "releases[0]"


def test_package_metadata_is_stored_per_release(engine, tmp_path):
    path = tmp_path / "p.json"
    path.write_text(
        _package(
            [_release(), _release(id="r2")],
            publishedDate="2024-05-01T00:00:00Z",
            license="https://cc/by",
            publicationPolicy="https://x/policy",
            extensions=["https://x/ext.json"],
            publisher={"name": "DNCP", "scheme": "PY-RUC", "uid": "1", "uri": "https://dncp"},
        )
    )
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps(_release(id="r3")))
    summary = import_ocds(engine, [path, bare])
    assert summary.published_releases == 3 and summary.rejected == 0
    with engine.connect() as conn:
        rows = (
            conn.execute(
                select(releases.c.release_id, release_packages)
                .join(release_packages, release_packages.c.release_pk == releases.c.id)
                .order_by(releases.c.release_id)
            )
            .mappings()
            .all()
        )
    assert [r["release_id"] for r in rows] == ["r1", "r2", "r3"]
    assert rows[0]["publisher_name"] == "DNCP" and rows[1]["license"] == "https://cc/by"
    assert rows[0]["extensions"] == '["https://x/ext.json"]' and rows[0]["version"] == "1.1"
    assert rows[1]["source_location"] == "releases[1]" and rows[1]["source_file"] == str(path)
    assert rows[2]["package_uri"] is None and rows[2]["source_location"] == "document"


def test_linked_records_are_reported_not_rejected(engine, tmp_path):
    record = {
        "ocid": "ocds-abc123-0001",
        "compiledRelease": _release(id="compiled", tag=["compiled"]),
        "releases": [
            {"url": "https://x/r1", "date": "2025-03-04T10:15:00-05:00", "tag": ["tender"]},
            _release(id="r2"),
        ],
    }
    path = tmp_path / "records.json"
    path.write_text(json.dumps({"version": "1.1", "uri": "u", "records": [record]}))
    summary = import_ocds(engine, [path])
    assert summary.rejected == 0 and summary.published_releases == 1
    (note,) = summary.linked
    assert note.line == "records[0]" and note.reason.startswith("1 linked release (url, date, tag)")
    (report,) = summary.files
    assert (report.releases, report.published, report.linked, report.lost) == (1, 1, 1, 0)
    with engine.connect() as conn:
        assert conn.execute(select(releases.c.release_id)).scalars().all() == ["r2"]


def test_a_number_canonical_json_cannot_write_costs_its_release_only(engine, tmp_path):
    text = _package([_release(id="r1"), _release(id="r2"), _release(id="r3")])
    text = text.replace('"id": "r2", ', '"id": "r2", "amount": 123456789012345678901, ')
    path = tmp_path / "n.json"
    path.write_text(text)
    summary = import_ocds(engine, [path])
    (reject,) = summary.rejects
    assert (reject.line, reject.field) == ("releases[1]", "amount")
    assert reject.reason.startswith("RFC 8785 canonical JSON (IEEE 754 doubles)")
    (report,) = summary.files
    assert (report.releases, report.published, report.rejected) == (2, 2, 1)
    with engine.connect() as conn:
        assert sorted(conn.execute(select(releases.c.release_id)).scalars()) == ["r1", "r3"]


@pytest.mark.parametrize("reverse", [False, True])
def test_equal_packages_fall_back_to_the_smaller_hash(engine, tmp_path, reverse):
    copies = [_release(tender={"title": title}) for title in ("uno", "dos")]
    files = [tmp_path / "x.json", tmp_path / "y.json"]
    for path, copy in zip(files, copies, strict=True):
        path.write_text(_package([copy], publishedDate="2024-06-01T00:00:00-05:00"))
    summary = import_ocds(engine, files[::-1] if reverse else files)
    with engine.connect() as conn:
        stored = conn.execute(select(releases.c.data_hash)).scalars().all()
    assert stored == [min(_sha(c) for c in copies)]
    assert summary.rejected == 1 and summary.published_releases == 1


def test_a_linked_record_package_beside_its_releases_compiles_as_ocdsmerge(engine, shared_dir):
    # Jalisco publishes record packages whose records link their releases and carry a
    # compiledRelease, beside the release packages themselves. Only the releases are imported:
    # each record compiles from them alone, as ocdsmerge compiles the releases.
    import ocdsmerge

    from ocds import schema as ocds_schema
    from portal.queries import compiled_release

    dataset = shared_dir / "real-ocds" / "mexico-jalisco"
    summary = import_ocds(engine, sorted(dataset.glob("raw/*/*")))
    assert summary.rejected == 0 and len(summary.linked) == 10
    published = [json.loads(line) for line in (dataset / "releases.jsonl").read_text().splitlines()]
    merger = ocdsmerge.Merger(schema=ocds_schema.release_schema())
    with engine.connect() as conn:
        for ocid in sorted({r["ocid"] for r in published}):
            expected = merger.create_compiled_release([r for r in published if r["ocid"] == ocid])
            assert compiled_release(conn, ocid) == expected, ocid


@pytest.mark.parametrize(
    "odd",
    [
        {"bids": {"details": True}},
        {"bids": {"details": 7}},
        {"bids": {"details": {"id": "b1"}}},
        {"bids": True},
        {"contracts": [{"documents": [{"id": "OC-1-veraz-pdf", "integrity": True}]}]},
        {"contracts": [{"documents": [{"id": "OC-1-veraz-pdf", "integrity": 5}]}]},
        {"contracts": [{"documents": True}]},
        {"contracts": True},
    ],
)
def test_a_release_with_odd_bids_or_documents_is_kept_as_published(engine, tmp_path, odd):
    # What the evidence entry reads (bid ids for hash 3, the order PDF's hash 2) is looked for
    # only where OCDS puts a list: anything else there is no bid and no PDF, never a lost release.
    release = _release(**odd)
    path = tmp_path / "odd.json"
    path.write_text(_package([release]))
    summary = import_ocds(engine, [path])
    assert summary.rejects == []
    (report,) = summary.files
    assert (report.releases, report.published) == (1, 1)
    with engine.connect() as conn:
        (stored,) = conn.execute(select(releases.c.data)).scalars().all()
    assert bytes(stored) == canonical_json(release)
