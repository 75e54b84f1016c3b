"""The charts' breakdowns counted from the in-memory facet tally (``portal.readmodel.tally``).

Under filters the summary tables (``portal.dashboards.rollup``) do not serve (a region, a
supplier, an agreement, an agency), :func:`portal.dashboards.queries.breakdown` reads every
matching order of ``records``: 130-270 ms at a million orders with the largest region, supplier
or agreement. The tally already holds every process's keys as arrays (loaded once per process,
kept current by the read model's version), so the same breakdown is a mask of the filters and a
``bincount`` of the group's codes weighted by each order's amount in cents.

The groups, their order, counts and amounts are exactly those of ``breakdown`` (a differential
test compares them on SQLite and PostgreSQL):

* spending is ``portal.queries.SPENDING`` in soles: orders (``kind``), not cancelled
  (``status``), ``currency`` PEN; a NULL amount counts as an order and adds nothing;
* the filters are the listing's own masks (``tally.masks``: the same rows the listing's SQL
  conditions keep), and a year also keeps the date's text in the year's range, as the SQL
  condition does (a date-time whose local month is in another year than its text);
* ``month`` groups by ``records.month`` (oldest first), ``year`` folds the months;
  ``buyer``, ``supplier`` (``records.supplier_id``), ``region`` (``delivery_region``),
  ``agreement`` rank by amount or orders, then by key, leaving out a NULL key;
  ``segment`` counts the orders with an item line in soles of the segment and sums those
  lines' amounts (``tally.LineSums``, per (process, segment) pair);
* amounts are summed in whole cents, exact while the sum of every absolute amount stays below
  2**53 cents (float64 weights); beyond :data:`MAGNITUDE` (or with an amount that is not whole
  cents) the caller sums with SQL. Where SQLite's own float sums of two groups differ only in
  their last bits although equal to the cent, SQL orders them by that noise and the tally by
  key (as PostgreSQL does).

Names are looked up by the caller (``queries._named``), as for the other paths.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np

from portal.readmodel import tally as facets
from portal.readmodel.facets import Browse

#: The currency charted (``portal.dashboards.queries.PEN``).
PEN = "PEN"

#: Most cents the absolute amounts of every order (or item line) in soles may add up to for the
#: tally to sum them: float64 sums of whole numbers stay exact far below 2**53 (9e15), and SQL's
#: own sums on SQLite (floats) round to the same cents there.
MAGNITUDE = 1e14

#: Filter sets whose masks are kept per tally state (each a bool per process and the positions
#: it keeps: about 1 MB plus 4 bytes per kept order at a million processes).
MASKS = 8

#: Ranked breakdowns: the tally's array of each group's code.
_SINGLE = {"buyer": "buyer", "supplier": "order_supplier", "region": "region", "agreement": "agreement"}


@dataclass
class _Prepared:
    """What every breakdown of one tally state reads: the spending mask and amounts in cents."""

    tally: weakref.ref[facets.Tally]  # not kept alive here once the app holds a newer state
    spending: np.ndarray  # bool per process
    cents: np.ndarray  # float64 per process: whole cents, 0 without an amount
    exact: bool  # the sums stay exact (see MAGNITUDE)
    # The last filters' masks and the positions they keep: a page draws a dozen charts under
    # the same filters, and the mask costs more than a chart's bincounts.
    masks: OrderedDict[tuple, tuple[np.ndarray, np.ndarray]] = field(default_factory=OrderedDict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def kept(
        self, tally: facets.Tally, selected: dict[str, tuple[str, ...]]
    ) -> tuple[np.ndarray, np.ndarray]:
        """The mask of the spending orders the filters keep, and their positions."""
        key = tuple(sorted((name, tuple(values)) for name, values in selected.items()))
        with self.lock:
            found = self.masks.get(key)
            if found is not None:
                self.masks.move_to_end(key)
                return found
        mask = _mask(tally, self, selected)
        found = (mask, np.flatnonzero(mask).astype(np.int32))
        with self.lock:
            self.masks[key] = found
            while len(self.masks) > MASKS:
                self.masks.popitem(last=False)
        return found


_prepared: _Prepared | None = None


def _prepare(tally: facets.Tally) -> _Prepared:
    """The spending mask and amounts of ``tally``, computed once per state (states are never
    changed in place once published)."""
    global _prepared
    found = _prepared
    if found is not None and found.tally() is tally:
        return found
    kinds, statuses = tally.vocab["kind"].codes, tally.vocab["status"].codes
    currencies = tally.vocab["currency"].codes
    spending = (tally.single["kind"] == kinds.get("order", -1)) & (
        tally.single["currency"] == currencies.get(PEN, -1)
    )
    if "cancelled" in statuses:
        spending &= tally.single["status"] != statuses["cancelled"]
    has = tally.has_amount
    if tally.dialect == "sqlite":
        scaled = tally.amount * 100
        whole = np.rint(scaled)
        exact = bool(np.all(np.abs(scaled - whole)[spending & has] < 1e-6))
    else:
        whole = tally.amount.astype(np.float64)
        exact = bool(np.all(np.abs(tally.amount[spending & has]) < 2**62))
    cents = np.where(has, whole, 0.0)
    exact = exact and float(np.abs(cents[spending]).sum()) < MAGNITUDE
    _prepared = _Prepared(weakref.ref(tally), spending, cents, exact)
    return _prepared


def _mask(tally: facets.Tally, prepared: _Prepared, selected: dict[str, tuple[str, ...]]) -> np.ndarray:
    """The spending orders the filters keep."""
    mask = prepared.spending.copy()
    for found in facets.masks(tally, Browse(selected=dict(selected)), None).values():
        mask &= found
    years = selected.get("year")
    if years:
        # The year condition's date range (portal.readmodel.queries): the date's text from the
        # first year to before the year after the last.
        mask &= (tally.day >= facets._day(min(years))) & (tally.day < facets._day(str(int(max(years)) + 1)))
    return mask


def _money(cents: float) -> Decimal:
    return Decimal(int(cents)).scaleb(-2)


@dataclass(frozen=True)
class Counted:
    """One group as the tally counts it (named later): key, orders, amount in soles."""

    key: str
    orders: int
    amount: Decimal


def breakdown(
    tally: facets.Tally,
    by: str,
    selected: dict[str, tuple[str, ...]],
    *,
    limit: int | None = None,
    rank: str = "amount",
) -> list[Counted] | None:
    """``queries.breakdown``'s groups (``by``: month, year, buyer, supplier, region, segment,
    agreement; ``"total"``: one group of every order) under the filters ``selected``
    (``Filters.selected`` as a dict), unnamed; None when the tally cannot sum them exactly."""
    if rank not in ("amount", "orders"):
        raise ValueError(f"unknown rank {rank!r}; amount or orders")
    prepared = _prepare(tally)
    if not prepared.exact and by != "segment":  # the segments sum their lines (bounded apart)
        return None
    if by == "year":
        months = breakdown(tally, "month", selected)
        if months is None:
            return None
        years: dict[str, Counted] = {}
        for g in months:
            year = g.key[:4]
            had = years.get(year, Counted(year, 0, Decimal(0)))
            years[year] = Counted(year, had.orders + g.orders, had.amount + g.amount)
        return list(years.values())[:limit] if limit is not None else list(years.values())
    mask, positions = prepared.kept(tally, selected)
    if by == "total":
        return [Counted("", len(positions), _money(prepared.cents[positions].sum()))]
    if by == "segment":
        lines = tally.segment_lines
        if lines is None or not lines.complete or lines.magnitude >= MAGNITUDE:
            return None
        pos, codes = tally.multi["segment"]
        kept = mask[pos] & lines.present
        size = len(tally.vocab["segment"].values)
        orders = np.bincount(codes[kept], minlength=size)
        amounts = np.bincount(codes[kept], weights=lines.cents[kept].astype(np.float64), minlength=size)
        facet = "segment"
    elif by in _SINGLE or by == "month":
        facet = _SINGLE.get(by, "month")
        inside = tally.single[facet][positions]
        size = len(tally.vocab[facet].values)
        orders = np.bincount(inside, minlength=size)
        amounts = np.bincount(inside, weights=prepared.cents[positions], minlength=size)
    else:
        raise ValueError(f"unknown breakdown {by!r}")
    orders[0] = 0  # no value: left out, as the SQL leaves out a NULL key
    found = np.flatnonzero(orders)
    values = tally.vocab[facet].values
    if by == "month":
        ordered = sorted(found, key=lambda c: values[c])
    else:
        measure = amounts if rank == "amount" else orders
        ordered = list(found[np.lexsort((tally.rank(facet)[found], -measure[found]))])
    if limit is not None:
        ordered = ordered[:limit]
    return [Counted(values[c], int(orders[c]), _money(amounts[c])) for c in ordered]
