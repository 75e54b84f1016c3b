"""CSV and XLSX from compiled releases, with flatterer (the OCP Data Registry's flattener).

One table per array, linked to its parents: ``_link`` is the row's place in its release
(``0.awards.0.items.1``: release 0 of the file, its first award, that award's second item),
``_link_<table>`` its parent row's ``_link``, and every table also carries the ``ocid`` and
``id`` of the release and the ``id`` of each enclosing object (``_release.ocid``,
``_release.id``, ``_awards.id``). Other columns are named by their JSON Pointer within the row's
object (``/unit/value/amount``); in a table of an array of strings (``tag``,
``parties.roles``) the element itself is ``value``. Why flatterer, measured against
flatten-tool: ``docs/bulk-downloads.md``.

The XLSX workbook is written from the CSV files of that same flatterer run, with xlsxwriter in
its constant-memory mode (each row goes to disk as it is written), so that memory stays flat
whatever the size of the year; what each cell holds is in ``docs/bulk-downloads.md``.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import xlsxwriter
from isal import igzip
from xlsxwriter.utility import _preserve_whitespace, _utf16_len, _utf16_truncate, xl_col_to_name
from xlsxwriter.worksheet import Worksheet

from portal.exports import layout
from portal.exports.files import GZIP_LEVEL, fsync_file

MAIN = "release"
_SEPARATOR = "."

#: Column headers: JSON Pointers, or the OCDS schema's titles in a language. Only English
#: titles ship with the project (the vendored 1.1.5 schema); the standard's Spanish titles live
#: in its translation catalogues, which no package installs (see docs/bulk-downloads.md).
POINTERS = "pointer"
HEADERS = (POINTERS, "en")


#: The English titles of the OCDS 1.1.5 release schema's fields, as a tree of keys (``""``
#: holds a field's own title), taken from the official schema (the project's vendored copy is
#: stripped of titles and descriptions).
TITLES_FILE = Path(__file__).with_name("ocds-titles-en.json")


@functools.cache
def _titles() -> dict[str, Any]:
    return json.loads(TITLES_FILE.read_text(encoding="utf-8"))["titles"]


def schema_title(path: tuple[str, ...]) -> str | None:
    """The OCDS schema's title of the field at ``path`` (keys from the release, arrays passed
    through), each level's title joined by ``": "`` (``Tender: Value: Amount``); None for a
    field the schema does not describe (an extension's, or the publisher's own)."""
    node: Any = _titles()
    titles: list[str] = []
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            return None
        title = node.get("")
        titles.append(title if isinstance(title, str) and title else key)
    return ": ".join(titles) if titles else None


#: flatterer's options for a year's compiled releases (``.jsonl.gz``).
OPTIONS: dict[str, Any] = {
    "ndjson": True,
    "gzip_input": True,
    "main_table_name": MAIN,
    "pushdown": ["ocid", "id"],
    "arrays_new_table": True,
    "path_separator": _SEPARATOR,
    "force": True,
}


def _flatten(source: Path, out: Path, **options) -> None:
    """flatterer on ``source`` into ``out``, in a child process: its memory (pandas and numpy on
    import, about 100 MB in all) is returned when it ends, and the exporting process stays
    small. Raises ``OSError`` with flatterer's message when it fails (the export then says
    why)."""
    arguments = {"input": str(source), "output_dir": str(out), **OPTIONS, **options}
    code = "import json, sys, flatterer; flatterer.flatten(**json.loads(sys.argv[1]))"
    done = subprocess.run([sys.executable, "-c", code, json.dumps(arguments)], capture_output=True, text=True)
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        raise OSError(f"flatterer could not flatten {source.name}: {reason}")


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def header(table: str, name: str, data_columns: list[str]) -> str:
    """The published header of column ``name`` of ``table`` (flatterer's name, see the module
    docstring for the rule)."""
    if name.startswith("_link"):
        return name
    ancestors = [
        MAIN,
        *(_SEPARATOR.join(table.split(_SEPARATOR)[: i + 1]) for i in range(table.count(_SEPARATOR))),
    ]
    if table != MAIN and any(name == f"{a}{_SEPARATOR}{k}" for a in ancestors for k in ("ocid", "id")):
        return "_" + name
    if table != MAIN and data_columns == ["value"]:
        return "value"
    return "/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in name.split(_SEPARATOR))


def headers(fields: list[dict[str, str]], style: str = POINTERS) -> dict[tuple[str, str], str]:
    """``{(table, flatterer's field name): published header}`` for every field of ``fields.csv``.

    With ``style="en"``, a data column is headed by the schema's English title of its field
    (:func:`schema_title`) instead of its JSON Pointer, where the schema has one and no other
    column of the table has that title already (the pointer then, so that headers stay unique)."""
    by_table: dict[str, list[str]] = {}
    for f in fields:
        by_table.setdefault(f["table_name"], []).append(f["field_name"])
    out = {}
    for table, names in by_table.items():
        ancestors = {
            MAIN,
            *(_SEPARATOR.join(table.split(_SEPARATOR)[: i + 1]) for i in range(table.count(_SEPARATOR))),
        }
        data = [
            n
            for n in names
            if not n.startswith("_link")
            and not (
                table != MAIN and any(n == f"{a}{_SEPARATOR}{k}" for a in ancestors for k in ("ocid", "id"))
            )
        ]
        used: set[str] = set()
        for n in names:
            published = header(table, n, data)
            if style != POINTERS and published.startswith("/"):
                within = [] if table == MAIN else table.split(_SEPARATOR)
                title = schema_title((*within, *n.split(_SEPARATOR)))
                if title is not None and title not in used:
                    published = title
            used.add(published)
            out[(table, n)] = published
    return out


def tables(
    source: Path,
    partial: Path,
    year: str,
    *,
    make_csv: bool,
    make_xlsx: bool,
    xlsx_max_rows: int,
    timings: dict[str, float],
    titles: str = POINTERS,
) -> tuple[list[tuple[Path, str]], list[dict[str, str]]]:
    """Flatten the compiled releases of ``source`` (a year's ``.jsonl.gz``) into ``YYYY.csv.tar.gz``
    and ``YYYY.xlsx`` in ``partial``: the files made (path, kind), and those skipped (why)."""
    made: list[tuple[Path, str]] = []
    skipped: list[dict[str, str]] = []
    work = partial / f"flat-{year}"
    clock = time.perf_counter()
    _flatten(source, work, csv=True)
    fields = _read_csv(work / "fields.csv")
    names = headers(fields, titles)
    table_files = _read_csv(work / "tables.csv")
    if make_csv:
        path = partial / layout.csv_name(year)
        _tar_csv(work, table_files, names, year, path)
        made.append((path, layout.CSV))
    timings["csv"] = timings.get("csv", 0.0) + time.perf_counter() - clock
    if make_xlsx:
        clock = time.perf_counter()
        rows = {f["table_name"]: int(f["count"] or 0) for f in fields if f["field_name"] == "_link"}
        biggest = max(rows.items(), key=lambda kv: kv[1], default=("", 0))
        if biggest[1] + 1 > xlsx_max_rows:
            skipped.append(
                {
                    "year": year,
                    "name": layout.xlsx_name(year),
                    "reason": f"table {biggest[0]} has {biggest[1]:,} rows; an Excel sheet holds "
                    f"{xlsx_max_rows - 1:,} under its header. Use {layout.csv_name(year)}.",
                }
            )
        elif (widest := _widest(fields))[1] > XLSX_MAX_COLUMNS:
            skipped.append(
                {
                    "year": year,
                    "name": layout.xlsx_name(year),
                    "reason": f"table {widest[0]} has {widest[1]:,} columns; an Excel sheet holds "
                    f"{XLSX_MAX_COLUMNS:,}. Use {layout.csv_name(year)}.",
                }
            )
        else:
            path = partial / layout.xlsx_name(year)
            workbook(work, table_files, fields, names, path)
            fsync_file(path)
            made.append((path, layout.XLSX))
        timings["xlsx"] = timings.get("xlsx", 0.0) + time.perf_counter() - clock
    shutil.rmtree(work, ignore_errors=True)
    return made, skipped


#: Excel's limits: columns in a sheet, characters in a sheet's name.
XLSX_MAX_COLUMNS = 16_384
SHEET_NAME_MAX = 31
#: The significant decimal digits a number cell keeps (Excel computes and shows 15).
EXCEL_DIGITS = 15
#: The workbook's creation date (docProps/core.xml): a constant, so that the same tables give
#: the same bytes (the date a file was made is in the manifest).
CREATED = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)

_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_SHORT_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]*)?")
_NOT_IN_SHEET_NAMES = re.compile(r"[\[\]:*?/\\]")


def _widest(fields: list[dict[str, str]]) -> tuple[str, int]:
    columns: dict[str, int] = {}
    for f in fields:
        columns[f["table_name"]] = columns.get(f["table_name"], 0) + 1
    return max(columns.items(), key=lambda kv: kv[1], default=("", 0))


def excel_number(text: str) -> float | None:
    """The number a cell of a column flatterer typed ``number`` holds, or None when the text is
    to stay text: it is not a decimal number (``NaN``, ``inf``, ``1_000``, `` 7``), it has more
    significant digits than Excel keeps (``12345678901234567890``: Excel would show and
    compute ``12345678901234500000``), or it is out of Excel's range (beyond 1e308, or a
    non-zero magnitude under 1e-307, which Excel makes 0)."""
    if len(text) <= EXCEL_DIGITS and _SHORT_NUMBER.fullmatch(text):
        return float(text)
    if not _NUMBER.fullmatch(text):
        return None
    number = Decimal(text)
    if number.is_zero():
        return float(number)
    digits = "".join(map(str, number.as_tuple().digits)).strip("0")
    if len(digits) > EXCEL_DIGITS or not -307 <= number.adjusted() <= 307:
        return None
    return float(number)


def _cut(text: str, size: int) -> str:
    """The longest start of ``text`` of at most ``size`` bytes in UTF-8 (whole characters)."""
    data = text.encode("utf-8")
    return text if len(data) <= size else data[:size].decode("utf-8", "ignore")


def _shortened(table: str) -> str:
    """flatterer's rule for a table name longer than a sheet name may be (31, counted in UTF-8
    bytes as flatterer does, which is never fewer than Excel's UTF-16 units): a name of one part
    is cut at 31; otherwise the last part is kept whole and each enclosing part is cut to an
    equal share of what is left (``verylongparentname.mid.leaf`` → ``verylongpare.mid.leaf``),
    or, when no share is left, the last part alone is cut at 31. Where flatterer fails (a cut
    inside a character: it panics), the cut is made before that character."""
    parts = table.split(_SEPARATOR)
    size = len(table.encode("utf-8"))
    if len(parts) == 1 or size <= SHEET_NAME_MAX:
        return _cut(table, SHEET_NAME_MAX)
    last = parts[-1]
    left = SHEET_NAME_MAX - min(len(last.encode("utf-8")), SHEET_NAME_MAX)
    share = left // (len(parts) - 1) - len(_SEPARATOR)
    if share < 1:
        return _cut(last, SHEET_NAME_MAX)
    return _SEPARATOR.join([*(_cut(p, share) for p in parts[:-1]), last])


def sheet_name(table: str, taken: set[str]) -> str:
    """The sheet name of ``table``: flatterer's (:func:`_shortened`) where flatterer makes one.
    Where it fails, this one does not: a character Excel forbids in a sheet name (``[]:*?/\\``)
    becomes ``_``, as does an apostrophe at either end, and a name already ``taken`` (Excel
    ignores case) gets ``~2``, ``~3``... at its end. Adds the name to ``taken``."""
    name = _shortened(_NOT_IN_SHEET_NAMES.sub("_", table)) or "_"
    if name.startswith("'"):
        name = "_" + name[1:]
    if name.endswith("'"):
        name = name[:-1] + "_"
    base, n = name, 1
    while name.lower() in taken:
        n += 1
        suffix = f"~{n}"
        name = _cut(base, SHEET_NAME_MAX - len(suffix)) + suffix
    taken.add(name.lower())
    return name


class _RowSheet(Worksheet):
    """An xlsxwriter worksheet, in constant-memory mode, that takes a whole row of text at a time.

    It writes exactly the XML that ``write_string`` and ``write_number`` followed by the
    worksheet's own row flush write (an inline string per text cell, ``<v>`` with 16 significant
    digits per number; tests compare the bytes), about four times faster: one string per row
    instead of an object, a dimension check and a format lookup per cell. It uses xlsxwriter's
    row file (``fh``), dimension check and escaping routines, hence the pinned version."""

    def add_row(self, row: int, values: list[str], numbers: list[bool], letters: list[str]) -> None:
        """Row ``row`` (0 is the first), its non-empty ``values`` from column 0; ``numbers[i]``
        says whether column ``i`` holds numbers (:func:`excel_number`), ``letters`` names the
        columns (``A``, ``B``...)."""
        last = len(values) - 1
        while last >= 0 and not values[last]:
            last -= 1
        if last < 0:
            return
        first = next(i for i, v in enumerate(values) if v)
        if self._check_dimensions(row, first) or self._check_dimensions(row, last):
            raise ValueError(f"row {row + 1} or column {last + 1} is out of an Excel sheet")
        at = str(row + 1)
        cells = [f'<row r="{at}">']
        for col, value in enumerate(values):
            if not value:
                continue
            if numbers[col] and (number := excel_number(value)) is not None:
                cells.append(f'<c r="{letters[col]}{at}"><v>{number:.16G}</v></c>')
                continue
            if len(value) > _LONG or _CARE.search(value):
                if len(value) > _LONG and _utf16_len(value) > _STRING_MAX:
                    value = _utf16_truncate(value, _STRING_MAX)
                value = self._escape_control_characters(value)
                preserve = _preserve_whitespace(value)
                value = self._escape_data(value)
            else:
                preserve = value[0].isspace() or value[-1].isspace()
            space = ' xml:space="preserve"' if preserve else ""
            cells.append(f'<c r="{letters[col]}{at}" t="inlineStr"><is><t{space}>{value}</t></is></c>')
        cells.append("</row>")
        self.fh.write("".join(cells))


#: Excel's longest string in a cell, in UTF-16 code units; a string of at most half as many
#: characters cannot be longer.
_STRING_MAX = 32_767
_LONG = _STRING_MAX // 2
#: What makes a string need xlsxwriter's escaping: XML's special characters, control characters
#: (written as Excel's ``_xHHHH_``), and text that looks like such an escape (``_x005F_`` first).
_CARE = re.compile(r"[&<>\x00-\x08\x0b-\x1f]|_x[0-9a-fA-F]{4}_")


def workbook(
    work: Path,
    table_files: list[dict[str, str]],
    fields: list[dict[str, str]],
    names: dict[tuple[str, str], str],
    path: Path,
) -> None:
    """``path``, an XLSX workbook of flatterer's CSV files in ``work``: one sheet per table in
    flatterer's order, headed as the CSV (``names``), a row per CSV row. A cell of a column
    flatterer typed ``number`` is a number where :func:`excel_number` says so; every other
    non-empty cell is text (inline strings, never formulas), cut at Excel's 32,767 UTF-16 code
    units, control characters written as Excel's ``_xHHHH_`` escapes. Rows go to disk as they
    are written (xlsxwriter's constant-memory mode, its temporary files in ``work``), and the
    bytes depend only on the tables (fixed creation date, fixed times in the ZIP)."""
    numeric = {(f["table_name"], f["field_name"]) for f in fields if f["field_type"] == "number"}
    book = xlsxwriter.Workbook(
        str(path),
        {
            "constant_memory": True,
            "tmpdir": str(work),
            "strings_to_numbers": False,
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "use_zip64": True,
        },
    )
    book.set_properties({"created": CREATED})
    taken: set[str] = set()
    try:
        for table in table_files:
            name = table["table_name"]
            csv_path = work / "csv" / f"{table['table_title']}.csv"
            if not csv_path.is_file():
                continue
            sheet = book.add_worksheet(sheet_name(name, taken), worksheet_class=_RowSheet)
            assert isinstance(sheet, _RowSheet)
            with open(csv_path, newline="", encoding="utf-8") as f:
                reader = csv.reader(f)
                columns = next(reader, [])
                letters = [xl_col_to_name(i) for i in range(min(len(columns), XLSX_MAX_COLUMNS))]
                sheet.add_row(0, [names.get((name, c), c) for c in columns], [False] * len(columns), letters)
                numbers = [(name, column) in numeric for column in columns]
                for row, values in enumerate(reader, 1):
                    sheet.add_row(row, values, numbers, letters)
            sheet._opt_close()  # one open file at a time, however many tables
    finally:
        book.close()


def _tar_csv(
    work: Path, table_files: list[dict[str, str]], names: dict[tuple[str, str], str], year: str, path: Path
) -> None:
    """Every table's CSV in one ``.tar.gz`` (``YYYY/<table>.csv``), headers as published; the
    bytes depend only on the content (no times, owners or names in the headers)."""
    with open(path, "wb") as raw:
        with igzip.IGzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=GZIP_LEVEL) as gz:
            with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
                for table in table_files:
                    name, title = table["table_name"], table["table_title"]
                    csv_path = work / "csv" / f"{title}.csv"
                    if not csv_path.is_file():
                        continue
                    with open(csv_path, "rb") as f:
                        first = f.readline()
                        columns = next(csv.reader(io.StringIO(first.decode("utf-8"))))
                        buffer = io.StringIO()
                        csv.writer(
                            buffer, lineterminator="\r\n" if first.endswith(b"\r\n") else "\n"
                        ).writerow([names.get((name, c), c) for c in columns])
                        head = buffer.getvalue().encode("utf-8")
                        info = tarfile.TarInfo(f"{year}/{title}.csv")
                        info.size = csv_path.stat().st_size - len(first) + len(head)
                        info.mtime = 0
                        info.mode = 0o644
                        stream = _Prefixed(head, f)
                        tar.addfile(info, stream)
        raw.flush()
        os.fsync(raw.fileno())


class _Prefixed:
    """A file read with other bytes in place of its first line (already read)."""

    def __init__(self, head: bytes, rest) -> None:
        self.head = head
        self.rest = rest

    def read(self, size: int = -1) -> bytes:
        head, self.head = self.head, b""
        if size < 0:
            return head + self.rest.read()
        if len(head) > size:
            head, self.head = head[:size], head[size:]
            return head
        return head + self.rest.read(size - len(head))
