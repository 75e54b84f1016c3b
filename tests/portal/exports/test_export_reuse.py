"""An export copies the compiled releases of processes without new releases from the previous
export instead of compiling them again, and gives exactly what compiling gives; CSV and XLSX
left behind by an export without tables are brought up to date when asked (SQLite and
PostgreSQL)."""

from __future__ import annotations

import csv
import gzip
import io
import tarfile

import orjson
from evidence_builders import publish_examples
from exports_support import a_new_order, folder_of, import_other, manifest, other_package, run_export
from sqlalchemy import select

from portal.db import app_engine
from portal.exports import Publication, export, flatten
from portal.models import releases
from portal.publishing import import_ocds

COMPILED = frozenset({"compiled"})


def _years(folder) -> dict[str, bytes]:
    return {p.name: gzip.decompress(p.read_bytes()) for p in sorted(folder.glob("[0-9u]*.jsonl.gz"))}


def test_unchanged_processes_are_copied_and_the_result_is_what_compiling_gives(app, tmp_path):
    publish_examples(app, tmp_path)
    import_other(app, tmp_path, "ocds-abc123-1", n=1)
    import_other(app, tmp_path, "ocds-abc123-2", n=2)
    first = run_export(app, formats=COMPILED)
    assert first.reused == 0 and first.compiled > 2
    before = _years(folder_of(app))
    # A process gets a second release (its compiled release changes), another process is new.
    import_other(app, tmp_path, "ocds-abc123-1", n=2)
    publish_examples(app, tmp_path, [a_new_order("OC-2025-006666")], name="more")
    with app_engine(app).connect() as conn:
        changed = set(conn.execute(select(releases.c.ocid).where(releases.c.id > first.release_id)).scalars())
    assert "ocds-abc123-1" in changed

    second = run_export(app, full=True, formats=COMPILED)
    fresh_folder = tmp_path / "fresh"
    fresh = export(
        app_engine(app), fresh_folder, Publication.from_config(app.config), formats=COMPILED, recompile=True
    )
    assert fresh.reused == 0
    # Every process that was exported before and has no new release is copied, no other.
    assert second.reused == first.compiled - len(changed & _ocids(before))
    after = _years(folder_of(app))
    assert after == _years(fresh_folder)
    assert after["2023.jsonl.gz"] != before["2023.jsonl.gz"]  # the changed process is compiled anew


def _ocids(years: dict[str, bytes]) -> set[str]:
    return {orjson.loads(line)["ocid"] for data in years.values() for line in data.splitlines()}


def test_a_keys_file_that_disagrees_only_costs_compiling(app, tmp_path):
    publish_examples(app, tmp_path)
    first = run_export(app, formats=COMPILED)
    state = folder_of(app) / ".state"
    keys = sorted(state.glob("*.keys"))
    assert [k.name.split("-")[0] for k in keys] == sorted(
        f["year"] for f in manifest(app)["files"] if f["kind"] == "compiled-releases" and f["year"]
    )
    lines = keys[0].read_bytes().splitlines()
    lines[0] = lines[0].replace(b":", b":9", 1)  # another key for the first process
    keys[0].write_bytes(b"\n".join(lines) + b"\n")
    before = _years(folder_of(app))
    again = run_export(app, full=True, formats=COMPILED)
    assert again.reused == first.compiled - 1
    assert _years(folder_of(app)) == before


def _main_table(path, year: str) -> str:
    with tarfile.open(path) as tar:
        member = tar.extractfile(f"{year}/release.csv")
        assert member is not None
        return io.TextIOWrapper(member, encoding="utf-8").read()


def test_tables_left_behind_are_brought_up_to_date_when_asked(app, tmp_path):
    publish_examples(app, tmp_path)
    run_export(app)
    publish_examples(app, tmp_path, [a_new_order("OC-2025-005555")], name="more")
    quick = run_export(app, formats=frozenset({"compiled", "packages"}))
    assert quick.rebuilt_years == ["2025"] and quick.tables_left == ["2025"]
    files = {f["name"]: f for f in manifest(app)["files"]}
    for name in ("2025.csv.tar.gz", "2025.xlsx"):
        assert (folder_of(app) / name).is_file()
        assert files[name]["release_id"] < files["2025.jsonl.gz"]["release_id"]
    ocid = "-OC-2025-005555"
    assert ocid not in _main_table(folder_of(app) / "2025.csv.tar.gz", "2025")
    assert run_export(app, formats=frozenset({"compiled", "packages"})).up_to_date

    tables = run_export(app)
    assert not tables.up_to_date and tables.rebuilt_years == []
    assert {"2025.csv.tar.gz", "2025.xlsx"} <= set(tables.written)
    assert not {"2024.csv.tar.gz", "2024.xlsx"} & set(tables.written)
    files = {f["name"]: f for f in manifest(app)["files"]}
    assert files["2025.csv.tar.gz"]["release_id"] == files["2025.jsonl.gz"]["release_id"]
    assert ocid in _main_table(folder_of(app) / "2025.csv.tar.gz", "2025")
    assert run_export(app).up_to_date


def _header(path, year: str) -> list[str]:
    return next(csv.reader(io.StringIO(_main_table(path, year))))


def test_english_titles_as_headers_and_back(app, tmp_path):
    publish_examples(app, tmp_path)
    tables = frozenset({"compiled", "csv"})
    run_export(app, formats=tables, headers="en")
    assert manifest(app)["tableHeaders"] == "en"
    titled = _header(folder_of(app) / "2024.csv.tar.gz", "2024")
    back = run_export(app, formats=tables)
    # Other headers: every year's tables are made again, though nothing was published.
    assert not back.up_to_date and {"2024.csv.tar.gz", "2025.csv.tar.gz"} <= set(back.written)
    assert manifest(app)["tableHeaders"] == "pointer"
    pointers = _header(folder_of(app) / "2024.csv.tar.gz", "2024")
    assert len(titled) == len(pointers) == len(set(titled))
    named = 0
    for title, pointer in zip(titled, pointers, strict=True):
        if title != pointer:
            assert pointer.startswith("/")
            assert title == flatten.schema_title(tuple(pointer[1:].split("/")))
            named += 1
    assert named >= 5 and "Tender: Tender ID" in titled
    assert flatten.schema_title(("awards", "items", "unit", "value", "amount")) == (
        "Awards: Items awarded: Unit: Value: Amount"
    )
    assert flatten.schema_title(("tender", "notInTheSchema")) is None
    assert run_export(app, formats=tables).up_to_date


def test_the_quick_path_gives_the_lines_a_rebuild_gives(app, tmp_path, monkeypatch):
    # Segments of two lines, so that a year holds several and most of them are copied as bytes.
    from portal.exports import build

    monkeypatch.setattr(build, "SEGMENT_LINES", 2)
    publish_examples(app, tmp_path)
    for i in range(1, 8):
        import_other(app, tmp_path, f"ocds-abc123-{i}", n=1)
    first = run_export(app, formats=COMPILED)
    assert not first.quick and first.packages_left == first.rebuilt_years
    # One process gets a second release in the middle of 2023's ocids, one leaves 2023 for
    # 2024, one is new at the end of 2023, and an order of 2025 is new.
    import_other(app, tmp_path, "ocds-abc123-4", n=2)
    later = other_package("ocds-abc123-6", 1)
    later["releases"][0].update(id="ocds-abc123-6-later", date="2024-02-01T00:00:00Z")
    (tmp_path / "later.json").write_bytes(orjson.dumps(later))
    assert import_ocds(app_engine(app), [tmp_path / "later.json"]).rejected == 0
    import_other(app, tmp_path, "ocds-abc123-9", n=1)
    publish_examples(app, tmp_path, [a_new_order("OC-2025-004444")], name="more")
    quick = run_export(app, formats=COMPILED)
    assert quick.quick and quick.rebuilt_years == ["2023", "2024", "2025"]
    assert 0 < quick.reused < quick.compiled
    fresh_folder = tmp_path / "fresh"
    export(
        app_engine(app), fresh_folder, Publication.from_config(app.config), formats=COMPILED, recompile=True
    )
    assert _years(folder_of(app)) == _years(fresh_folder)
    assert gzip.decompress((folder_of(app) / "full.jsonl.gz").read_bytes()) == gzip.decompress(
        (fresh_folder / "full.jsonl.gz").read_bytes()
    )
    ocids = [orjson.loads(line)["ocid"] for line in _years(folder_of(app))["2023.jsonl.gz"].splitlines()]
    assert "ocds-abc123-6" not in ocids and ocids == sorted(ocids) and "ocds-abc123-9" in ocids
    # The packages of the rebuilt years were left as they were, and the manifest says so.
    m = manifest(app)
    assert m["packagesLeft"] == ["2023", "2024", "2025"]
    client = app.test_client()
    es = client.get("/downloads").get_data(as_text=True)
    assert "Los paquetes de entregas y de registros de 2023, 2024, 2025 son de una exportación anterior" in es
    en = client.get("/downloads?lang=en").get_data(as_text=True)
    assert "The release and record packages of 2023, 2024, 2025 are from an earlier export" in en
    # Once more, on the segments the quick path wrote itself; then the packages catch up.
    # A release of 2023 for a process whose compiled release stays in 2024: 2023 changes only
    # for its packages, and its compiled file is copied whole.
    later["releases"][0].update(id="ocds-abc123-6-mid", date="2023-06-01T00:00:00Z")
    (tmp_path / "mid.json").write_bytes(orjson.dumps(later))
    assert import_ocds(app_engine(app), [tmp_path / "mid.json"]).rejected == 0
    again = run_export(app, formats=COMPILED)
    assert again.quick and again.rebuilt_years == ["2023", "2024"]
    assert "2023.jsonl.gz" in {f["name"] for f in manifest(app)["files"]}
    recompiled = export(
        app_engine(app), fresh_folder, Publication.from_config(app.config), formats=COMPILED, recompile=True
    )
    assert not recompiled.quick and _years(folder_of(app)) == _years(fresh_folder)
    caught_up = run_export(app, formats=frozenset({"compiled", "packages"}))
    assert not caught_up.quick and caught_up.packages_left == []
    assert {"release-package-2023-1.json.gz", "record-package-2024-1.json.gz"} <= set(caught_up.written)
    assert manifest(app)["packagesLeft"] == []
    assert "earlier export" not in client.get("/downloads?lang=en").get_data(as_text=True)
    assert run_export(app, formats=frozenset({"compiled", "packages"})).up_to_date


def test_previous_files_that_disagree_with_their_segments_mean_the_full_path(app, tmp_path):
    publish_examples(app, tmp_path)
    import_other(app, tmp_path, "ocds-abc123-1", n=1)
    run_export(app, formats=COMPILED)
    year_file = folder_of(app) / "2023.jsonl.gz"
    year_file.write_bytes(year_file.read_bytes()[:-8])  # its last gzip member cut short
    import_other(app, tmp_path, "ocds-abc123-2", n=1)
    again = run_export(app, formats=COMPILED)
    assert not again.quick and again.rebuilt_years == ["2023"]
    fresh_folder = tmp_path / "fresh"
    export(
        app_engine(app), fresh_folder, Publication.from_config(app.config), formats=COMPILED, recompile=True
    )
    assert _years(folder_of(app)) == _years(fresh_folder)
