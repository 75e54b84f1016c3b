"""Prepared orders sent from a worker process to the writer, as plain tuples.

A batch of prepared orders goes from a worker to the writer through pickle. Pickled as they
are, each of an order's ten or so dataclass objects is written with its attribute dict and
rebuilt through ``__setstate__`` lookups: about 50 µs an order on both sides together, where
the same values as plain tuples take about 28. So a batch travels as tuples in field order and
is rebuilt into the same dataclasses (``object.__new__`` and the attribute dict, as pickle
itself does). A shared agreement state stays one tuple, written once a batch.
"""

from __future__ import annotations

from dataclasses import fields
from operator import attrgetter
from typing import Any

from portal.publishing.prepared import PreparedOrder, PreparedProforma, PreparedRelease
from portal.publishing.records import PackedRows
from portal.search.documents import Document


def _getter(cls: type) -> attrgetter:
    return attrgetter(*(f.name for f in fields(cls)))


def _names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


_ORDER, _ORDER_NAMES = _getter(PreparedOrder), _names(PreparedOrder)
_RELEASE, _RELEASE_NAMES = _getter(PreparedRelease), _names(PreparedRelease)
_PROFORMA, _PROFORMA_NAMES = _getter(PreparedProforma), _names(PreparedProforma)
_DOCUMENT, _DOCUMENT_NAMES = _getter(Document), _names(Document)
_AGREEMENT_AT = _ORDER_NAMES.index("agreement")


_new = object.__new__
_set = object.__setattr__


def _build(cls: type, names: tuple[str, ...], values: tuple) -> Any:
    # The attribute dict as pickle's BUILD would fill it, without its lookups (frozen classes
    # refuse plain attribute assignment, not object's). The tests compare rebuilt with sent.
    obj: Any = _new(cls)
    _set(obj, "__dict__", dict(zip(names, values, strict=True)))
    return obj


def orders_to_wire(orders: tuple[PreparedOrder, ...]) -> tuple:
    """``orders`` as nested tuples (see :func:`orders_from_wire`)."""
    agreements: dict[int, tuple] = {}
    wire = []
    for order in orders:
        (line, number, version, digest, release, agreement, proformas, columns, read_model, search,
         pdf, pdf_sha256) = _ORDER(order)  # fmt: skip
        shared = agreements.get(id(agreement))
        if shared is None:
            shared = agreements[id(agreement)] = _RELEASE(agreement)
        if read_model is not None:
            read_model = {
                name: (rows.columns, rows.params) if type(rows) is PackedRows else rows
                for name, rows in read_model.items()
            }
        wire.append(
            (
                line, number, version, digest, _RELEASE(release), shared,
                tuple(_PROFORMA(p) for p in proformas), columns, read_model,
                None if search is None else _DOCUMENT(search), pdf, pdf_sha256,
            )
        )  # fmt: skip
    return tuple(wire)


def orders_from_wire(wire: tuple) -> tuple[PreparedOrder, ...]:
    """The prepared orders :func:`orders_to_wire` wrote (equal to them; shared agreement states
    shared again)."""
    agreements: dict[int, PreparedRelease] = {}
    orders = []
    for values in wire:
        (line, number, version, digest, release, agreement, proformas, columns, read_model, search,
         pdf, pdf_sha256) = values  # fmt: skip
        shared = agreements.get(id(agreement))
        if shared is None:
            shared = agreements[id(agreement)] = _build(PreparedRelease, _RELEASE_NAMES, agreement)
        if read_model is not None:
            read_model = {
                name: PackedRows(*rows) if type(rows) is tuple else rows for name, rows in read_model.items()
            }
        orders.append(
            _build(
                PreparedOrder,
                _ORDER_NAMES,
                (
                    line,
                    number,
                    version,
                    digest,
                    _build(PreparedRelease, _RELEASE_NAMES, release),
                    shared,
                    tuple(_build(PreparedProforma, _PROFORMA_NAMES, p) for p in proformas),
                    columns,
                    read_model,
                    None if search is None else _build(Document, _DOCUMENT_NAMES, search),
                    pdf,
                    pdf_sha256,
                ),
            )  # fmt: skip
        )
    return tuple(orders)
