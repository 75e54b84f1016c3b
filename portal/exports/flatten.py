"""CSV and XLSX from compiled releases, with flatterer (the OCP Data Registry's flattener).

One table per array, linked to its parents: ``_link`` is the row's place in its release
(``0.awards.0.items.1``: release 0 of the file, its first award, that award's second item),
``_link_<table>`` its parent row's ``_link``, and every table also carries the ``ocid`` and
``id`` of the release and the ``id`` of each enclosing object (``_release.ocid``,
``_release.id``, ``_awards.id``). Other columns are named by their JSON Pointer within the row's
object (``/unit/value/amount``); in a table of an array of strings (``tag``,
``parties.roles``) the element itself is ``value``. Why flatterer, measured against
flatten-tool: ``docs/bulk-downloads.md``.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

from isal import igzip

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


def _flatten(source: Path, out: Path, **options) -> None:
    """flatterer on ``source`` into ``out``, in a child process: its memory (pandas and numpy on
    import; an XLSX workbook is built in memory, about 300 MB for 25,000 compiled releases) is
    returned when it ends, and the exporting process stays small. Raises ``OSError`` with
    flatterer's message when it fails (the export then says why)."""
    arguments = {
        "input": str(source),
        "output_dir": str(out),
        "ndjson": True,
        "gzip_input": True,
        "main_table_name": MAIN,
        "pushdown": ["ocid", "id"],
        "arrays_new_table": True,
        "path_separator": _SEPARATOR,
        "force": True,
        **options,
    }
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
        else:
            titled = work / "fields-titled.csv"
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
            out = partial / f"xlsx-{year}"
            _flatten(source, out, csv=False, xlsx=True, fields_csv=str(titled))
            path = partial / layout.xlsx_name(year)
            shutil.move(out / "output.xlsx", path)
            fsync_file(path)
            made.append((path, layout.XLSX))
            shutil.rmtree(out, ignore_errors=True)
        timings["xlsx"] = timings.get("xlsx", 0.0) + time.perf_counter() - clock
    shutil.rmtree(work, ignore_errors=True)
    return made, skipped


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
