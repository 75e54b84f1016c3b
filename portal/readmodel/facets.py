"""The browse page's filters and facets as values: what a query asks, parsed once.

A :class:`Browse` is the state of ``/contracts`` (filters, text, sort); the view builds it from
the query string (``portal.views.browse``), and :mod:`portal.readmodel.queries` turns it into SQL.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

import orjson

#: Amount ranges (lower bound inclusive, upper bound exclusive), in the process's currency.
AMOUNT_RANGES: dict[str, tuple[Decimal | None, Decimal | None]] = {
    "0-1000": (None, Decimal(1000)),
    "1000-10000": (Decimal(1000), Decimal(10_000)),
    "10000-100000": (Decimal(10_000), Decimal(100_000)),
    "100000-1000000": (Decimal(100_000), Decimal(1_000_000)),
    "1000000-": (Decimal(1_000_000), None),
}

#: Facets by query parameter: each takes several values (OR), facets combine with AND.
FACETS = (
    "procedure",
    "segment",
    "family",
    "buyer",
    "supplier",
    "amount",
    "region",
    "year",
    "month",
    "status",
    "agreement",
)

#: Facets with too many values to list: the page shows the largest and can search the rest.
LONG_FACETS = frozenset({"buyer", "supplier", "family", "agreement", "region"})

SORTS = ("-date", "date", "-amount", "amount")


@dataclass(frozen=True)
class Browse:
    """What a person asked of the listing: selected facet values, text, sort."""

    selected: dict[str, tuple[str, ...]] = field(default_factory=dict)
    q: str | None = None
    sort: str = "-date"
    amount_min: Decimal | None = None
    amount_max: Decimal | None = None
    # The order date's calendar day (as published, its first ten characters), both inclusive.
    date_from: date | None = None
    date_to: date | None = None

    def values(self, facet: str) -> tuple[str, ...]:
        return self.selected.get(facet, ())

    def filters(self) -> tuple:
        """The filters alone (not the sort): what facet counts and totals depend on."""
        return (
            tuple(sorted((k, tuple(sorted(v))) for k, v in self.selected.items() if v)),
            self.q,
            self.amount_min,
            self.amount_max,
            self.date_from,
            self.date_to,
        )

    def fingerprint(self) -> str:
        """What a page cursor is bound to: the filters and the sort (not the page size)."""
        state = [
            sorted((k, sorted(v)) for k, v in self.selected.items() if v),
            self.q,
            self.sort,
            str(self.amount_min),
            str(self.amount_max),
        ]
        if self.date_from is not None or self.date_to is not None:
            # Only then: cursors made before the date filter existed stay valid.
            state += [str(self.date_from), str(self.date_to)]
        return hashlib.sha256(orjson.dumps(state)).hexdigest()[:16]


class BadCursor(ValueError):
    """A page cursor that is malformed or belongs to another query or sort."""


def encode_cursor(browse: Browse, key: str | None, ocid: str) -> str:
    """An opaque cursor: the query's fingerprint, and the sort key and ocid of the last row."""
    raw = orjson.dumps([browse.fingerprint(), key, ocid])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(browse: Browse, cursor: str) -> tuple[str | None, str]:
    """The (sort key, ocid) a cursor of ``browse`` resumes after; :class:`BadCursor` otherwise."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        fingerprint, key, ocid = orjson.loads(raw)
    except (ValueError, TypeError) as error:
        raise BadCursor("it is not a cursor this site made") from error
    if fingerprint != browse.fingerprint():
        raise BadCursor("it belongs to another query or sort order")
    if not isinstance(ocid, str) or not (key is None or isinstance(key, str)):
        raise BadCursor("it is not a cursor this site made")
    if key is not None and browse.sort.lstrip("-") == "amount":
        try:
            Decimal(key)
        except ArithmeticError as error:
            raise BadCursor("it is not a cursor this site made") from error
    return key, ocid
