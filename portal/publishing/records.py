"""Records: each ocid's compiled release and browse columns, derived from its stored releases,
and the rest of the read model (item lines, parties: ``ocds.summary.read_model_rows``).

Records are not evidence: they are replaced whenever an ocid gets a new release, and can always
be recompiled from the releases (``veraz reindex``). The read model's rows of an ocid are
replaced with its record, in the same transaction, so the two never disagree.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import Connection, Dialect, select

from ocds.compile import compile_release
from ocds.summary import (
    READ_MODEL_COLUMNS,
    browse_columns_of,
    read_model_rows,
    read_model_values_of,
    row_facts,
)
from portal.db import IN_CLAUSE_CHUNK, bind_processor, driver_params, in_list, insert_driver_params
from portal.models import item_lines, parties, records, releases
from portal.search.documents import Document, document_of

#: The read model's tables other than ``records``, by the names ``read_model_rows`` uses.
READ_MODEL_TABLES = {"item_lines": item_lines, "parties": parties}


@dataclass(frozen=True)
class PackedRows:
    """Rows of one read-model table as the database driver takes them
    (:func:`portal.db.driver_params` for the writer's dialect): what a publishing worker sends,
    cheaper to send and to insert than dicts of Decimals."""

    columns: tuple[str, ...]
    params: list[tuple]


def pack_read_model(read_model: dict[str, list[dict]], dialect) -> dict[str, PackedRows]:
    """``read_model`` (``ocds.summary.read_model_rows``) as :class:`PackedRows` for ``dialect``."""
    return {
        name: PackedRows(*driver_params(READ_MODEL_TABLES[name], rows, dialect))
        for name, rows in read_model.items()
    }


def packed_read_model_of(facts: dict, dialect: Dialect) -> dict[str, PackedRows]:
    """``pack_read_model(read_model_rows_of(facts), dialect)`` from the rows as tuples
    (``ocds.summary.read_model_values_of``): no dict per row to build and take apart, and only
    the values of columns whose bind processor does something (the amounts on SQLite) sent
    through it. The publishing workers' path; tested equal to the dicts' packing."""
    packed = {}
    for name, rows in read_model_values_of(facts).items():
        if not rows:
            packed[name] = PackedRows((), [])  # what driver_params gives for no rows
            continue
        convert = _conversions(name, dialect)
        if convert:
            params = []
            for row in rows:
                values = list(row)
                for i, processor in convert:
                    values[i] = processor(values[i])
                params.append(tuple(values))
            rows = params
        packed[name] = PackedRows(READ_MODEL_COLUMNS[name], rows)
    return packed


@functools.cache
def _conversions(name: str, dialect: Dialect) -> tuple[tuple[int, Any], ...]:
    """(position, bind processor) of each column of read-model table ``name`` that has one."""
    table = READ_MODEL_TABLES[name]
    return tuple(
        (i, processor)
        for i, column in enumerate(READ_MODEL_COLUMNS[name])
        if (processor := bind_processor(table.c[column], dialect)) is not None
    )


@dataclass(frozen=True)
class RecordRow:
    """One ``records`` row to store."""

    # The compiled release as JSON; None for a one-release record, whose compiled release is
    # derived on read (portal.queries.compiled_release), which halves what publishing writes.
    compiled: bytes | None
    columns: dict  # browse columns (ocds.summary.browse_columns)
    release_count: int
    last_release: int  # primary key of the ocid's newest release
    # The read model's rows and the search document, when the caller already made them from the
    # same compiled release (ocds.summary.read_model_rows, portal.search.documents.document):
    # the writer then neither reads the release back nor reads it again.
    read_model: dict[str, list[dict]] | dict[str, PackedRows] | None = None
    search: Document | None = None


def recompile(conn: Connection, ocids: Iterable[str]) -> dict[str, RecordRow]:
    """Compile the records of ``ocids`` from every stored release (oldest first).

    The releases of up to IN_CLAUSE_CHUNK ocids are read in one query (the writer recompiles
    hundreds of ocids per batch: one query each was a visible share of its time).
    """
    out = {}
    wanted = list(dict.fromkeys(ocids))
    quote = conn.dialect.identifier_preparer.quote
    for i in range(0, len(wanted), IN_CLAUSE_CHUNK):
        chunk = tuple(wanted[i : i + IN_CLAUSE_CHUNK])
        # Driver-level: the statement is the one select() renders, and the rows come as the
        # driver gives them (the release bytes not copied again by the binary type's result
        # processor: orjson reads bytes and memoryviews alike).
        sql = (
            f"SELECT {quote('ocid')}, {quote('id')}, {quote('data')} FROM {quote(releases.name)} "
            f"WHERE {quote('ocid')} {in_list(conn.dialect, len(chunk))} "
            f"ORDER BY {quote('ocid')}, {quote('date')}, {quote('id')}"
        )
        by_ocid: dict[str, list] = {}
        for ocid, pk, data in conn.exec_driver_sql(sql, chunk):
            by_ocid.setdefault(ocid, []).append((pk, data))
        for ocid in chunk:
            group = by_ocid.get(ocid)
            if not group:
                continue
            compiled = compile_release([orjson.loads(data) for _, data in group])
            facts = row_facts(compiled)  # what the columns, rows and document read
            out[ocid] = RecordRow(
                orjson.dumps(compiled),
                browse_columns_of(facts),
                len(group),
                max(pk for pk, _ in group),
                # As the driver takes them, as the publishing workers send theirs: no dict per
                # row to build and take apart.
                packed_read_model_of(facts, conn.dialect),
                document_of(ocid, facts),
            )
    return out


def store_records(
    conn: Connection,
    rows_by_ocid: dict[str, RecordRow],
    compiled: dict[str, dict] | None = None,
    *,
    new: Collection[str] = (),
) -> None:
    """Replace the ``records`` rows of the given ocids, and their read-model rows.

    ``compiled`` may give the compiled release of some of them (a caller that has it saves
    reading it again). ``new``: ocids the caller knows had no release before its transaction,
    hence no record and no read-model rows (they derive from releases only): nothing of
    theirs is deleted first. The publishing writer knows them (most ocids of an import), and
    the deletes found nothing for them at the cost of a lookup in each table's index."""
    if not rows_by_ocid:
        return
    ocids = [o for o in rows_by_ocid if o not in new] if new else list(rows_by_ocid)
    quote = conn.dialect.identifier_preparer.quote
    for i in range(0, len(ocids), IN_CLAUSE_CHUNK):
        chunk = tuple(ocids[i : i + IN_CLAUSE_CHUNK])
        for table in (records, *READ_MODEL_TABLES.values()):
            conn.exec_driver_sql(
                f"DELETE FROM {quote(table.name)} WHERE {quote('ocid')} {in_list(conn.dialect, len(chunk))}",
                chunk,
            )
    insert_driver_params(conn, records, *_record_params(rows_by_ocid, conn.dialect))
    made = [row.read_model for row in rows_by_ocid.values() if row.read_model is not None]
    missing = {o: row for o, row in rows_by_ocid.items() if row.read_model is None}
    made += [read_model_rows(release) for release in _compiled_releases(conn, missing, compiled or {})]
    # Each table's rows as driver parameters, one executemany per table and column list (rows
    # packed by the workers and rows made here have the same columns: one statement).
    derived: dict[str, dict[tuple[str, ...], list[tuple]]] = {name: {} for name in READ_MODEL_TABLES}
    dialect = conn.dialect
    for read_model in made:
        for name, rows in read_model.items():
            packed = rows if isinstance(rows, PackedRows) else pack_read_model({name: rows}, dialect)[name]
            if packed.params:
                derived[name].setdefault(packed.columns, []).extend(packed.params)
    for name, by_columns in derived.items():
        for columns, params in by_columns.items():
            insert_driver_params(conn, READ_MODEL_TABLES[name], columns, params)


def _record_params(
    rows_by_ocid: dict[str, RecordRow], dialect: Dialect
) -> tuple[tuple[str, ...], list[tuple]]:
    """The ``records`` rows as driver parameters: what :func:`portal.db.bulk_insert` would send
    for the dicts ``{ocid, compiled, release_count, last_release, updated_at, **columns}``, with
    the time (the same for every row) processed once instead of once a row."""
    names = tuple(next(iter(rows_by_ocid.values())).columns)
    columns = ("ocid", "compiled", "release_count", "last_release", "updated_at", *names)
    processors = [bind_processor(records.c[c], dialect) for c in columns]
    now: Any = datetime.now(UTC)
    if processors[4] is not None:
        now = processors[4](now)
    processors[4] = None
    convert = [(i, p) for i, p in enumerate(processors) if p is not None]
    pick = itemgetter(*names) if len(names) > 1 else (lambda c: (c[names[0]],))
    params = []
    for ocid, row in rows_by_ocid.items():
        values = [ocid, row.compiled, row.release_count, row.last_release, now, *pick(row.columns)]
        for i, processor in convert:
            values[i] = processor(values[i])
        params.append(tuple(values))
    return columns, params


def _compiled_releases(conn: Connection, rows_by_ocid: dict[str, RecordRow], known: dict[str, dict]):
    """Each row's compiled release: given, stored, or for a one-release record its release,
    read back in the caller's transaction (it compiles to that release with a new id and tag,
    which the read model does not read)."""
    alone = []
    for ocid, row in rows_by_ocid.items():
        if ocid in known:
            yield known[ocid]
        elif row.compiled is not None:
            yield orjson.loads(row.compiled)
        else:
            alone.append(row.last_release)
    for i in range(0, len(alone), IN_CLAUSE_CHUNK):
        query = select(releases.c.data).where(releases.c.id.in_(alone[i : i + IN_CLAUSE_CHUNK]))
        for (data,) in conn.execute(query):
            yield orjson.loads(data)
