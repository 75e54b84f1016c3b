"""The export folder's layout: file names, kinds and formats, and the year of a date.

The OCP Data Registry's layout, so that tools written for it work unchanged: compiled releases
as ``full.jsonl.gz`` and one ``YYYY.jsonl.gz`` per year plus ``undated.jsonl.gz``, and per year
``YYYY.csv.tar.gz`` and ``YYYY.xlsx``. Beside them, OCDS release packages and record packages
per year, split as the OCDS guidance says, ``SHA256SUMS`` and ``manifest.json``.
"""

from __future__ import annotations

import re

MANIFEST = "manifest.json"
SHA256SUMS = "SHA256SUMS"
FULL = "full.jsonl.gz"
UNDATED = "undated"

# Kinds of file, as the manifest names them.
COMPILED = "compiled-releases"
RELEASE_PACKAGE = "release-package"
RECORD_PACKAGE = "record-package"
CSV = "csv"
XLSX = "xlsx"

#: What each file is served as.
CONTENT_TYPES = {
    ".jsonl.gz": "application/gzip",
    ".json.gz": "application/gzip",
    ".csv.tar.gz": "application/gzip",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    MANIFEST: "application/json",
    SHA256SUMS: "text/plain; charset=utf-8",
}

# OCDS guidance on bulk files: a package holds at most 250,000 releases (records) and at most
# 1 GB of JSON once uncompressed, so that common tools can open it.
MAX_PACKAGE_ITEMS = 250_000
MAX_PACKAGE_BYTES = 1_000_000_000
#: Rows of one Excel sheet, its header included (Excel's limit).
XLSX_MAX_ROWS = 1_048_576

_NAME = re.compile(
    r"(?:full\.jsonl\.gz|(?:\d{4}|undated)\.(?:jsonl\.gz|csv\.tar\.gz|xlsx)"
    r"|(?:release|record)-package-(?:\d{4}|undated)-\d+\.json\.gz|manifest\.json|SHA256SUMS)"
)


def year_of(date: object) -> str:
    """The year of an OCDS date as published (``"2024-..."`` → ``"2024"``), or ``"undated"`` for
    a date that is missing or does not start with a four-digit year. The year is read from the
    date as written, in its own offset, as the Data Registry does."""
    # The same as matching r"(\d{4})-" (\d: what str.isdecimal accepts), without a regex: it
    # runs several times per process of an export.
    if isinstance(date, str) and date[4:5] == "-" and date[:4].isdecimal():
        return date[:4]
    return UNDATED


def compiled_name(year: str) -> str:
    return f"{year}.jsonl.gz"


def package_name(kind: str, year: str, number: int) -> str:
    return f"{kind}-{year}-{number}.json.gz"


def csv_name(year: str) -> str:
    return f"{year}.csv.tar.gz"


def xlsx_name(year: str) -> str:
    return f"{year}.xlsx"


def is_export_name(name: str) -> bool:
    """Whether ``name`` is one a Veraz export writes (the only names ``/downloads`` serves)."""
    return _NAME.fullmatch(name) is not None


def content_type(name: str) -> str:
    for suffix, mimetype in CONTENT_TYPES.items():
        if name.endswith(suffix):
            return mimetype
    return "application/octet-stream"


def year_order(year: str) -> tuple[int, str]:
    """Sort key of years: in order, ``undated`` last."""
    return (1, year) if year == UNDATED else (0, year)
