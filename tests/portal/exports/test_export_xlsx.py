"""The XLSX bulk downloads are written with xlsxwriter from the CSV files of flatterer's run:
every cell is read back against those CSV files, and against the workbook flatterer itself makes
from the same compiled releases (its second run, as the export did before; flatterer stays the
reference), which they match but where flatterer loses data; the same tables give the same
bytes, and the fast row writer writes what xlsxwriter's own cell writers write."""

from __future__ import annotations

import csv
import gzip
import hashlib
import itertools
import json
import math
import re
from pathlib import Path

import flatterer
import openpyxl
import pytest
import xlsxwriter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from xlsxwriter.utility import _utf16_truncate

from portal.exports import flatten

#: Excel's escape of a character in a string (ECMA-376 ST_Xstring); openpyxl leaves it as is.
_ESCAPED = re.compile(r"_x([0-9A-Fa-f]{4})_")
#: What flatterer's workbook drops from strings.
_DROPPED = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _unescape(text: str) -> str:
    return _ESCAPED.sub(lambda m: chr(int(m[1], 16)), text)


def _write_jsonl(path: Path, releases: list[dict]) -> Path:
    with gzip.open(path, "wt", encoding="utf-8") as f:
        for release in releases:
            f.write(json.dumps(release) + "\n")
    return path


def _read(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _sheets(path: Path) -> dict[str, list[tuple]]:
    book = openpyxl.load_workbook(path, read_only=True)
    try:
        return {
            sheet.title: [tuple(row) for row in sheet.iter_rows(values_only=True)]
            for sheet in book.worksheets
        }
    finally:
        book.close()


def _flatterer(source: Path, out: Path, titles: str = flatten.POINTERS) -> tuple[Path, Path | None]:
    """flatterer's CSV run (its folder), and the workbook flatterer made in a second run before
    (None where flatterer fails to make one), columns titled through a fields file as then."""
    work = out / "flat"
    flatterer.flatten(str(source), str(work), csv=True, **flatten.OPTIONS)
    fields = _read(work / "fields.csv")
    names = flatten.headers(fields, titles)
    titled = out / "fields-titled.csv"
    with open(titled, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["table_name", "field_name", "field_type", "field_title"])
        for field in fields:
            writer.writerow(
                [
                    field["table_name"],
                    field["field_name"],
                    field["field_type"],
                    names[(field["table_name"], field["field_name"])],
                ]
            )
    try:
        flatterer.flatten(
            str(source), str(out / "old"), csv=False, xlsx=True, fields_csv=str(titled), **flatten.OPTIONS
        )
    except BaseException as e:  # flatterer raises, or panics (its Rust code), on some table names
        if isinstance(e, KeyboardInterrupt):
            raise
        return work, None
    return work, out / "old" / "output.xlsx"


def _new_workbook(work: Path, path: Path, titles: str = flatten.POINTERS) -> Path:
    fields = _read(work / "fields.csv")
    flatten.workbook(work, _read(work / "tables.csv"), fields, flatten.headers(fields, titles), path)
    return path


def _check_against_csv(path: Path, work: Path, titles: str = flatten.POINTERS) -> int:
    """Every cell of the workbook at ``path`` against flatterer's CSV files in ``work``: the
    sheets in the order of the tables, each named by the rule, headed as the CSV, and each cell
    the CSV's value (a number where Excel holds it exactly, else the text, cut at Excel's
    limit). The cells compared."""
    fields = _read(work / "fields.csv")
    names = flatten.headers(fields, titles)
    numeric = {(f["table_name"], f["field_name"]) for f in fields if f["field_type"] == "number"}
    sheets = _sheets(path)
    taken: set[str] = set()
    expected_titles = []
    checked = 0
    for table, rows in zip(_read(work / "tables.csv"), sheets.values(), strict=True):
        name = table["table_name"]
        title = flatten.sheet_name(name, taken)
        expected_titles.append(title)
        assert len(title.encode("utf-8")) <= 31 and not re.search(r"[\[\]:*?/\\]", title), title
        with open(work / "csv" / f"{table['table_title']}.csv", newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            columns = next(reader)
            for line, (row, values) in enumerate(itertools.zip_longest(rows, [columns, *reader])):
                assert values is not None and row is not None, (name, line)
                numbers = [line > 0 and (name, c) in numeric for c in columns]
                if line == 0:
                    values = [names[(name, c)] for c in columns]
                for col, (cell, value) in enumerate(itertools.zip_longest(row, values)):
                    where = (name, line, col, cell, value)
                    if not value:
                        assert cell is None, where
                    elif numbers[col] and flatten.excel_number(value) is not None:
                        assert not isinstance(cell, bool | str) and cell == float(value), where
                    else:
                        assert isinstance(cell, str), where
                        assert _unescape(cell) == _utf16_truncate(value, 32_767), where
                    checked += 1
    assert list(sheets) == expected_titles
    return checked


def _check_against_flatterer(old: Path, new: Path) -> int:
    """The new workbook holds what flatterer's held, cell by cell, but where flatterer lost data:
    a number beyond Excel's 15 digits is the exact text (flatterer: its binary value), ``NaN``
    or ``inf`` in a number column the text (flatterer: nothing), a control character Excel's
    escape of it (flatterer: dropped). The cells that differ in that way."""
    old_sheets, new_sheets = _sheets(old), _sheets(new)
    assert list(old_sheets) == list(new_sheets)
    better = 0
    for title in old_sheets:
        for line, (old_row, new_row) in enumerate(
            itertools.zip_longest(old_sheets[title], new_sheets[title], fillvalue=())
        ):
            for col, (was, cell) in enumerate(itertools.zip_longest(old_row, new_row)):
                where = (title, line, col, was, cell)
                if isinstance(cell, str):
                    text = _unescape(cell)
                    if isinstance(was, str):
                        # flatterer escapes a carriage return as Excel does, but not text that
                        # looks like an escape (Excel then reads ``_x0041_`` as ``A``)
                        assert _DROPPED.sub("", text) in (was, _unescape(was)), where
                        better += _unescape(was) != text
                    elif was is None:  # flatterer wrote nothing: only control characters, or NaN
                        assert not _DROPPED.sub("", text) or (
                            flatten.excel_number(text) is None and not math.isfinite(float(text))
                        ), where
                        better += 1
                    else:
                        assert flatten.excel_number(text) is None and float(text) == float(was), where
                        better += 1
                elif cell is None:
                    assert was is None, where
                else:
                    assert isinstance(was, int | float) and not isinstance(was, bool), where
                    assert float(was) == cell, where
    return better


ODD = [
    {
        "ocid": "ocds-x-1",
        "id": "r1",
        "date": "2025-01-02T10:00:00Z",
        "tag": ["tender", "award"],
        "tender": {
            "value": {"amount": 12.5, "currency": "PEN"},
            "numberOfTenderers": 3,
            "tooPrecise": 12345678901234567890,
            "sixteenDigits": 1234567890123456,
            "tiny": -0.0001,
            "huge": 1e300,
            "flag": True,
            "long": "x" * 40_000,
            "padded": " leading and trailing ",
            "escaped": '_x0041_ & <b> "quoted"',
            "formula": '=HYPERLINK("http://example.org")',
            "zeros": "00123",
            "items": [{"id": "i1", "quantity": 2}, {"id": "i2", "quantity": "3"}],
        },
        "awards": [{"id": "a1", "items": [{"id": "ai1", "unit": {"value": {"amount": 1}}}]}],
        "parties": [
            {"id": "p1", "roles": ["buyer", "procuringEntity"], "name": "Ñandú \u0001 ctrl\ttab\nnl"}
        ],
        "mixed": 1,
        "ratio": "NaN",
        "publisherExtensionWithAVeryLongName": {
            "arrayOfObjectsWithLongNames": [{"deeperArrayName": [{"x": 1}]}]
        },
        "verylongparentnamexxxxxxxx": {"mid": [{"leaf": [{"x": 1}]}]},
    },
    {
        "ocid": "ocds-x-2",
        "id": "r2",
        "date": "2025-03-02T10:00:00Z",
        "tag": ["planning"],
        "tender": {
            "value": {"amount": "not a number", "currency": "PEN"},
            "tooPrecise": 1.5,
            "items": [{"id": "i3", "quantity": 2.75}],
        },
        "mixed": "text",
        "ratio": 0.25,
        "publisherExtensionWithAVeryLongName": {
            "arrayOfObjectsWithLongNames": [{"deeperArrayName": [{"x": 2}]}]
        },
    },
]


@pytest.mark.parametrize("titles", flatten.HEADERS)
def test_the_workbook_holds_the_csv_and_what_flatterers_held(tmp_path, titles):
    source = _write_jsonl(tmp_path / "2025.jsonl.gz", ODD)
    timings: dict[str, float] = {}
    made, skipped = flatten.tables(
        source,
        tmp_path,
        "2025",
        make_csv=False,
        make_xlsx=True,
        xlsx_max_rows=1_048_576,
        timings=timings,
        titles=titles,
    )
    assert made == [(tmp_path / "2025.xlsx", "xlsx")] and skipped == [] and "xlsx" in timings
    work, old = _flatterer(source, tmp_path / "reference", titles)
    assert old is not None
    assert _check_against_csv(made[0][0], work, titles) > 150
    # what flatterer lost: two numbers beyond 15 digits, NaN, a control character, and text
    # Excel reads as an escape (``_x0041_``, which Excel shows as ``A``)
    assert _check_against_flatterer(old, made[0][0]) == 5
    sheets = _sheets(made[0][0])
    assert {
        "pub.arrayOfObjectsWithLongNames",
        "publish.arrayOf.deeperArrayName",
        "verylongpare.mid.leaf",
    } <= set(sheets)
    release = dict(zip(sheets["release"][0], sheets["release"][1], strict=True))
    if titles == flatten.POINTERS:
        assert release["/tender/tooPrecise"] == "12345678901234567890"
        assert release["/tender/huge"] == 1e300 and release["/tender/numberOfTenderers"] == 3
        assert release["/tender/formula"].startswith("=") and release["/ratio"] == "NaN"
        assert len(release["/tender/long"]) == 32_767
    else:
        assert release["Tender: Number of tenderers"] == 3


def test_the_same_tables_give_the_same_bytes(tmp_path):
    source = _write_jsonl(tmp_path / "2025.jsonl.gz", ODD)
    work, _ = _flatterer(source, tmp_path / "reference")
    digests = {
        hashlib.sha256(_new_workbook(work, tmp_path / f"{i}.xlsx").read_bytes()).hexdigest() for i in range(2)
    }
    assert len(digests) == 1


_KEYS = st.text(alphabet="abcdefghijXYZ_ñ", min_size=1, max_size=34)
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["3", "NaN", "inf", "1e5", " 7", "00123", "_x0041_", "a&b<c>", "=1+2", ""]),
    st.text(max_size=30),
)
_OBJECTS = st.recursive(
    st.dictionaries(_KEYS, _SCALARS, max_size=4),
    lambda inner: st.dictionaries(
        _KEYS,
        st.one_of(
            _SCALARS,
            inner,
            st.lists(inner, min_size=1, max_size=3),
            st.lists(st.text(max_size=5), max_size=3),
        ),
        max_size=4,
    ),
    max_leaves=12,
)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(_OBJECTS, min_size=1, max_size=4))
def test_any_releases_give_the_csvs_cells_and_flatterers(tmp_path_factory, objects):
    tmp_path = tmp_path_factory.mktemp("any")
    releases = [{"ocid": f"ocds-h-{i}", "id": str(i), **o} for i, o in enumerate(objects)]
    source = _write_jsonl(tmp_path / "2025.jsonl.gz", releases)
    try:
        work, old = _flatterer(source, tmp_path / "reference")
    except BaseException as e:  # not data the CSV step takes (it would fail the export there)
        if isinstance(e, KeyboardInterrupt):
            raise
        return
    new = _new_workbook(work, tmp_path / "new.xlsx")
    _check_against_csv(new, work)
    if old is not None:
        _check_against_flatterer(old, new)


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("3", 3.0),
        ("-0.0001", -0.0001),
        ("1e300", 1e300),
        ("2.75", 2.75),
        ("123456789012345", 123456789012345.0),
        ("1234567890123450000", 1.23456789012345e18),  # 15 significant digits
        ("0.000000000000000000012", 1.2e-20),
        ("-0", -0.0),
        ("1234567890123456", None),  # 16 significant digits
        ("12345678901234567890", None),
        ("0.30000000000000004", None),
        ("1e308", None),
        ("1e-308", None),
        ("NaN", None),
        ("inf", None),
        ("1_000", None),
        (" 7", None),
        ("0x10", None),
        ("", None),
    ],
)
def test_a_number_cell_is_what_excel_holds_exactly(text, number):
    assert flatten.excel_number(text) == number


@pytest.mark.parametrize(
    ("tables", "names"),
    [
        # flatterer's names, as flatterer 0.25 makes them
        (["release", "awards.items"], ["release", "awards.items"]),
        (["a" * 32], ["a" * 31]),
        (["verylongparentnamexxxxxxxx.mid.leaf"], ["verylongpare.mid.leaf"]),
        (["aaaaaaaaaa.bbbbbbbbbb.cccccccccc.dddddddddd"], ["aaaaaa.bbbbbb.cccccc.dddddddddd"]),
        (["z" * 30 + ".e"], ["z" * 29 + ".e"]),
        (
            ["extension_field_with_a_very_long_name.arr_of_objects_with_long_names"],
            ["arr_of_objects_with_long_names"],
        ),
        # where flatterer fails
        (["a:b", "c[d]", "'quoted'"], ["a_b", "c_d_", "_quoted_"]),
        (["Upper", "upper", "UPPER"], ["Upper", "upper~2", "UPPER~3"]),
        (["p." + "b" * 35, "q." + "b" * 35], ["b" * 31, "b" * 29 + "~2"]),
        (["XXXXXXXXXXXXXXXXXXXñññññX.X"], ["XXXXXXXXXXXXXXXXXXXñññññ.X"]),  # 31 bytes
        (["ñabcdefghijklmnopqrstuvwxyzabcdefgh.cd.e"], ["ñabcdefghijkl.cd.e"]),
        (["ñ" * 40], ["ñ" * 15]),  # flatterer: a cut inside a character, and a panic
        (["😀" * 20, "x.😀😀"], ["😀" * 7, "x.😀😀"]),
    ],
)
def test_sheet_names_follow_flatterers_rule_and_are_always_valid(tables, names):
    taken: set[str] = set()
    assert [flatten.sheet_name(t, taken) for t in tables] == names


_ROW_TEXT = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", " x", "x ", "\x01", "_x0041_", 'a&<>"b', "\u2028", "😀", "12", "1e400", "-0"]),
    st.text(max_size=12).map(lambda t: t * 3000),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(st.lists(_ROW_TEXT, min_size=1, max_size=5), min_size=1, max_size=5),
    st.lists(st.booleans(), min_size=5, max_size=5),
)
def test_the_row_writer_writes_what_xlsxwriters_cell_writers_write(tmp_path_factory, rows, numbers):
    """The same bytes as writing each cell with xlsxwriter's public ``write_string`` and
    ``write_number``: the row writer only skips their per-cell bookkeeping."""
    tmp_path = tmp_path_factory.mktemp("rows")
    letters = [xlsxwriter.utility.xl_col_to_name(i) for i in range(5)]
    files = []
    for fast in (True, False):
        path = tmp_path / f"{fast}.xlsx"
        book = xlsxwriter.Workbook(str(path), {"constant_memory": True, "tmpdir": str(tmp_path)})
        book.set_properties({"created": flatten.CREATED})
        if fast:
            sheet = book.add_worksheet("t", worksheet_class=flatten._RowSheet)
            for r, row in enumerate(rows):
                sheet.add_row(r, row, numbers, letters)
        else:
            sheet = book.add_worksheet("t")
            for r, row in enumerate(rows):
                for c, value in enumerate(row):
                    if value and numbers[c] and (n := flatten.excel_number(value)) is not None:
                        sheet.write_number(r, c, n)
                    elif value:
                        sheet.write_string(r, c, value)
        book.close()
        files.append(path.read_bytes())
    assert files[0] == files[1]


def test_a_table_wider_than_a_sheet_gets_no_workbook_and_a_note(tmp_path, monkeypatch):
    monkeypatch.setattr(flatten, "XLSX_MAX_COLUMNS", 5)
    source = _write_jsonl(tmp_path / "2025.jsonl.gz", ODD)
    made, skipped = flatten.tables(
        source, tmp_path, "2025", make_csv=True, make_xlsx=True, xlsx_max_rows=1_048_576, timings={}
    )
    assert [kind for _, kind in made] == ["csv"] and not (tmp_path / "2025.xlsx").exists()
    (note,) = skipped
    assert note["name"] == "2025.xlsx" and "columns" in note["reason"] and "2025.csv.tar.gz" in note["reason"]
