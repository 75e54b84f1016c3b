"""The dashboards' shared filters, parsed once from a query string.

Every dashboard view is its URL: ``/dashboards/<page>?year=2024&buyer=PE-RUC-...``. The
parameters are the listing's own (``/contracts``: ``year``, ``region``, ``buyer``,
``supplier``, ``segment``, ``family``, ``agreement``), so the link from a chart to the orders
behind it is the same query string on ``/contracts``, and a filter means one thing everywhere.
A malformed value is a :class:`BadFilter` naming the parameter and what it accepts (the web
layer answers 400), never a filter silently dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

from sqlalchemy import Connection

from portal.readmodel import queries as readmodel
from portal.readmodel.facets import Browse

#: The filters, in the order they show and are written in a URL.
FILTERS = ("year", "region", "buyer", "supplier", "segment", "family", "agreement")

#: Parameters every dashboard URL also accepts: the language (read by the app).
OTHER_PARAMS = ("lang",)

#: Most values one filter may select; longest value.
MAX_VALUES, MAX_LENGTH = 50, 255

_FORMATS = {
    "year": (re.compile(r"(19|20)[0-9]{2}"), "a year written YYYY, such as 2024"),
    "segment": (re.compile(r"[0-9]{2}"), "two digits (a UNSPSC segment, such as 43)"),
    "family": (re.compile(r"[0-9]{4}"), "four digits (a UNSPSC family, such as 4321)"),
}


class BadFilter(ValueError):
    """A query parameter the dashboards do not accept: ``param`` and what it accepts."""

    def __init__(self, param: str, accepted: str) -> None:
        super().__init__(f"Parameter {param!r} must be {accepted}.")
        self.param = param
        self.accepted = accepted


@dataclass(frozen=True)
class Filters:
    """Selected values per filter (values of one filter are alternatives; filters combine)."""

    selected: tuple[tuple[str, tuple[str, ...]], ...] = ()
    lang: str | None = None

    def values(self, name: str) -> tuple[str, ...]:
        return dict(self.selected).get(name, ())

    @classmethod
    def of(cls, values: Mapping[str, Iterable[str]], lang: str | None = None) -> Filters:
        """Filters from ``{name: values}``, in :data:`FILTERS` order, duplicates and empty
        values dropped, values sorted (so one view has one key and one URL)."""
        picked = []
        for name in FILTERS:
            kept = tuple(sorted(dict.fromkeys(v for v in values.get(name, ()) or () if v)))
            if kept:
                picked.append((name, kept))
        return cls(tuple(picked), lang)

    def key(self) -> tuple:
        """What a cached aggregate depends on (not the language)."""
        return self.selected

    def browse(self) -> Browse:
        """The same filters as the ``/contracts`` listing's state."""
        return Browse(selected=dict(self.selected))

    def query_string(self, *, with_lang: bool = True) -> str:
        """The filters written as a query string (no ``?``), :data:`FILTERS` order."""
        pairs = [(name, v) for name, values in self.selected for v in values]
        if with_lang and self.lang:
            pairs.append(("lang", self.lang))
        return urlencode(pairs)


def parse(pairs: Iterable[tuple[str, str]], locales: Iterable[str] = ("es", "en")) -> Filters:
    """Filters from query-string pairs; :class:`BadFilter` for an unknown parameter or a
    malformed value."""
    values: dict[str, list[str]] = {}
    lang = None
    for name, value in pairs:
        if name == "lang":
            if value not in tuple(locales):
                raise BadFilter("lang", "one of " + ", ".join(locales))
            lang = value
            continue
        if name not in FILTERS:
            known = ", ".join((*FILTERS, *OTHER_PARAMS))
            raise BadFilter(name, f"one of {known} (an unknown parameter)")
        if len(value) > MAX_LENGTH:
            raise BadFilter(name, f"a value of at most {MAX_LENGTH} characters")
        if value and name in _FORMATS and _FORMATS[name][0].fullmatch(value) is None:
            raise BadFilter(name, _FORMATS[name][1])
        values.setdefault(name, []).append(value)
        if len(values[name]) > MAX_VALUES:
            raise BadFilter(name, f"at most {MAX_VALUES} values")
    return Filters.of(values, lang)


def parse_search(search: str | None, locales: Iterable[str] = ("es", "en")) -> Filters:
    """Filters from a URL's search part (``?year=2024``, or empty)."""
    return parse(parse_qsl((search or "").lstrip("?"), keep_blank_values=True), locales)


def unknown_values(conn: Connection, filters: Filters) -> list[tuple[str, str]]:
    """``(filter, value)`` pairs that no published process has (a typo to name, not a view
    that silently shows nothing)."""
    return [
        (name, value)
        for name, values in filters.selected
        for value in values
        if not readmodel.value_exists(conn, name, value)
    ]


def conditions(filters: Filters) -> list:
    """The filters as SQL conditions over ``records`` (the listing's own, counting form)."""
    return list(readmodel.conditions(filters.browse(), counting=True).values())
