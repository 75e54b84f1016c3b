"""The dashboards' summary tables (migration ``0022``), kept by ``portal.dashboards.rollup``.

``dash_spending``: spending (``portal.queries.SPENDING``, in soles) summed per group: one row
per ``(dimension, key, year, month, segment)`` with its orders and amount. ``dash_orders``: per
spending order, what it added to ``dash_spending`` (so that a changed order's old contribution
can be taken out without reading every order again). ``dash_state``: the newest
``records.updated_at`` the tables follow. All are derived from the read model: dropping their
rows and running ``veraz dashboards refresh --full`` gives them back, and ``veraz audit``
recomputes and compares them.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, MetaData, Numeric, String, Table, Text

metadata = MetaData(
    naming_convention={"ix": "ix_%(table_name)s_%(column_0_N_name)s", "pk": "pk_%(table_name)s"}
)

dash_spending = Table(
    "dash_spending",
    metadata,
    # "month" (key ""): per month; "buyer", "supplier", "region", "agreement", "segment": per key
    # and year (month "").
    Column("dimension", String(16), primary_key=True),
    Column("segment", String(2), primary_key=True),  # "" every order; else orders with a line in it
    Column("year", String(8), primary_key=True),  # records.month's year; "" none; "~YYYY" see rollup
    Column("key", String(255), primary_key=True),
    Column("month", String(7), primary_key=True),  # records.month ("" none) for "month" rows
    Column("orders", BigInteger, nullable=False),
    Column("amount", Numeric(30, 2), nullable=False),
)

dash_orders = Table(
    "dash_orders",
    metadata,
    Column("ocid", String(255), primary_key=True),
    Column("contribution", Text, nullable=False),  # JSON: rollup.Order, as it was summed
)

dash_state = Table(
    "dash_state",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)
