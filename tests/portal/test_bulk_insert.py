"""portal.db.bulk_insert stores exactly what SQLAlchemy's insert() stores (SQLite, PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    create_engine,
    insert,
    select,
)

from portal.db import bulk_insert

metadata = MetaData()
sample = Table(
    "bulk_sample",
    metadata,
    Column("k", String(20), primary_key=True),
    Column("big", BigInteger),
    Column("flag", Boolean),
    Column("at", DateTime(timezone=True)),
    Column("amount", Numeric(20, 2)),
    Column("blob", LargeBinary),
    Column("note", Text),
)


def _rows(prefix: str) -> list[dict]:
    return [
        {
            "k": f"{prefix}1",
            "big": 2**53 + 1,
            "flag": True,
            "at": datetime(2026, 11, 21, 10, 5, 7, 123456, tzinfo=UTC),
            "amount": Decimal("1234.50"),
            "blob": b"\x00\xffbytes",
            "note": "ñandú \"quoted\" 'single'",
        },
        {
            "k": f"{prefix}2",
            "big": None,
            "flag": False,
            "at": None,
            "amount": None,
            "blob": None,
            "note": None,
        },
    ]


def test_same_rows_as_sqlalchemy_insert(database_url):
    engine = create_engine(database_url)
    metadata.create_all(engine)
    try:
        with engine.begin() as conn:
            conn.execute(insert(sample), _rows("a"))
            bulk_insert(conn, sample, _rows("b"))
            bulk_insert(conn, sample, [])
        with engine.connect() as conn:
            got = {r.k: r._asdict() for r in conn.execute(select(sample))}
        for n in ("1", "2"):
            a, b = dict(got[f"a{n}"]), dict(got[f"b{n}"])
            a.pop("k"), b.pop("k")
            assert a == b
        assert got["b1"]["at"].replace(tzinfo=UTC) == _rows("b")[0]["at"].replace(tzinfo=UTC)
        assert got["b1"]["blob"] == b"\x00\xffbytes" and got["b1"]["flag"] is True
    finally:
        metadata.drop_all(engine)
        engine.dispose()


def test_binary_values_are_stored_as_sqlalchemy_stores_them(database_url):
    """``portal.db.bind_processor`` leaves bytes unwrapped for SQLite binary columns: the stored
    value is the same BLOB (type and bytes) as through SQLAlchemy's own ``sqlite3.Binary``."""
    engine = create_engine(database_url)
    metadata.create_all(engine)
    payloads = [b"", b"\x00\xffbytes", bytes(range(256)) * 40, None]
    try:
        with engine.begin() as conn:
            conn.execute(insert(sample), [{"k": f"a{i}", "blob": p} for i, p in enumerate(payloads)])
            bulk_insert(conn, sample, [{"k": f"b{i}", "blob": p} for i, p in enumerate(payloads)])
        if engine.dialect.name == "sqlite":
            shown = "typeof(blob) || ':' || coalesce(hex(blob), 'null')"
        else:
            shown = "pg_typeof(blob)::text || ':' || coalesce(encode(blob, 'hex'), 'null')"
        with engine.connect() as conn:
            stored = {k: v for k, v in conn.exec_driver_sql(f"SELECT k, {shown} FROM bulk_sample")}
        for i in range(len(payloads)):
            assert stored[f"a{i}"] == stored[f"b{i}"]
        if engine.dialect.name == "sqlite":
            assert stored["b1"] == "blob:00FF6279746573"
    finally:
        metadata.drop_all(engine)
        engine.dispose()
