"""The tables hold the JSON, every value of it, and the packages carry the data whole: CSV and
XLSX read back cell by cell against the compiled releases, and the exported release packages,
imported into a fresh instance with ``veraz import-ocds``, give the same compiled releases
(SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import io
import tarfile
from pathlib import Path

import openpyxl
import pytest
from evidence_builders import publish_examples
from exports_support import folder_of, import_other, jsonl, manifest, run_export
from support import fresh_postgres_db, make_app

from portal import queries
from portal.cli import main
from portal.db import app_engine, upgrade


@pytest.fixture
def exported(app, tmp_path):
    publish_examples(app, tmp_path)
    import_other(app, tmp_path)
    run_export(app)
    return app


def _leaves(value, path=()):
    """Every scalar of a JSON value with its path; empty objects and arrays hold none."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _leaves(item, (*path, str(i)))
    elif value is not None:
        yield path, value


def _unpointer(header: str) -> tuple[str, ...]:
    return tuple(p.replace("~1", "/").replace("~0", "~") for p in header[1:].split("/"))


def _cells(table_rows: dict[str, list[dict]]) -> dict[tuple, object]:
    """``{(release index, *path): cell}`` of every non-empty data cell of the tables."""
    cells = {}
    for table, rows in table_rows.items():
        for row in rows:
            link = str(row["_link"]).split(".")
            release, at = int(link[0]), tuple(link[1:])
            for header, cell in row.items():
                if cell is None or cell == "":
                    continue
                if header.startswith("/"):
                    key = (release, *at, *_unpointer(header))
                elif header == "value":
                    key = (release, *at)
                else:
                    assert header.startswith("_"), (table, header)
                    continue
                assert key not in cells, key
                cells[key] = cell
    return cells


def _same(cell, value) -> bool:
    if isinstance(value, bool):
        return str(cell).lower() == str(value).lower()
    if isinstance(value, int | float):
        return float(cell) == float(value)
    if hasattr(cell, "isoformat"):  # a date the spreadsheet typed
        return value.startswith(cell.isoformat()[:10])
    return str(cell) == str(value)


def _check(tables: dict[str, list[dict]], compiled: list[dict]) -> int:
    cells = _cells(tables)
    leaves = {(i, *path): value for i, release in enumerate(compiled) for path, value in _leaves(release)}
    assert sorted(cells) == sorted(leaves)  # every value is in a cell, every cell is a value
    for key, value in leaves.items():
        assert _same(cells[key], value), (key, cells[key], value)
    return len(leaves)


def _csv_tables(path: Path) -> dict[str, list[dict]]:
    tables = {}
    with tarfile.open(path) as tar:
        for member in tar.getmembers():
            text = tar.extractfile(member).read().decode("utf-8")
            tables[member.name] = list(csv.DictReader(io.StringIO(text)))
    return tables


def _xlsx_tables(path: Path) -> dict[str, list[dict]]:
    book = openpyxl.load_workbook(path, read_only=True)
    tables = {}
    for sheet in book.worksheets:
        rows = list(sheet.iter_rows(values_only=True))
        tables[sheet.title] = [dict(zip(rows[0], row, strict=False)) for row in rows[1:]]
    return tables


def test_csv_and_xlsx_hold_every_value_of_the_compiled_releases(exported):
    folder = folder_of(exported)
    checked = 0
    for year in manifest(exported)["years"]:
        compiled = jsonl(folder / f"{year}.jsonl.gz")
        checked += _check(_csv_tables(folder / f"{year}.csv.tar.gz"), compiled)
        checked += _check(_xlsx_tables(folder / f"{year}.xlsx"), compiled)
    assert checked > 500


def test_csv_headers_are_json_pointers_and_links(exported):
    tables = _csv_tables(folder_of(exported) / "2025.csv.tar.gz")
    main = tables["2025/release.csv"]
    assert {"_link", "/ocid", "/id", "/date", "/buyer/name", "/tender/value/amount"} <= set(main[0])
    items = tables["2025/awards.items.csv"]
    assert {"_link", "_link_awards", "_release.ocid", "_release.id", "_awards.id", "/quantity"} <= set(
        items[0]
    )
    ocids = {r["/ocid"] for r in main}
    assert {r["_release.ocid"] for r in items} <= ocids


def test_xlsx_is_skipped_with_a_note_when_a_table_does_not_fit(app, tmp_path):
    from portal.exports import Limits

    publish_examples(app, tmp_path)
    run_export(app, limits=Limits(xlsx_max_rows=3))
    m = manifest(app)
    assert not any(f["name"] == "2025.xlsx" for f in m["files"])
    (note,) = [s for s in m["skipped"] if s["name"] == "2025.xlsx"]
    assert "2025.csv.tar.gz" in note["reason"] and note["year"] == "2025"
    assert not (folder_of(app) / "2025.xlsx").exists()


def test_importing_the_release_packages_elsewhere_gives_the_same_compiled_releases(
    exported, request, tmp_path
):
    if exported.config["DATABASE_URL"].startswith("sqlite"):
        url = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    else:
        url = fresh_postgres_db(request.getfixturevalue("postgres_server"))
    upgrade(url)
    fresh = make_app(url, tmp_path / "fresh")
    folder = folder_of(exported)
    files = [str(folder / f["name"]) for f in manifest(exported)["files"] if f["kind"] == "release-package"]
    result = fresh.test_cli_runner().invoke(main, ["import-ocds", *files])
    assert result.exit_code == 0, result.output
    try:
        with app_engine(exported).connect() as here, app_engine(fresh).connect() as there:
            ocids = sorted(r[0] for r in here.exec_driver_sql("SELECT ocid FROM records"))
            assert ocids == sorted(r[0] for r in there.exec_driver_sql("SELECT ocid FROM records"))
            for ocid in ocids:
                assert queries.compiled_release(there, ocid) == queries.compiled_release(here, ocid)
                assert [r["data"] for r in queries.release_rows(there, ocid)] == [
                    r["data"] for r in queries.release_rows(here, ocid)
                ]
    finally:
        app_engine(fresh).dispose()
