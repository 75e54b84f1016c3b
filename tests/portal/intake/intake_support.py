"""Helpers of the intake tests: quotes from the documented examples, tokens, the log's size."""

from __future__ import annotations

import copy

from builders import example_order
from sqlalchemy import func, select

from portal.db import app_engine
from portal.evidence import store
from portal.intake import tokens
from portal.intake.tables import refusals
from portal.models import proformas, releases


def example_quotes(name: str = "3-partial") -> list[dict]:
    """The quotes of an example order, each as the intake takes it (with its order number)."""
    order = example_order(name)
    return [{"orderNumber": order["orderNumber"], **copy.deepcopy(p)} for p in order["proformas"]]


def many_quotes(n: int, order_number: str = "OC-2025-000999") -> list[dict]:
    """``n`` distinct valid quotes of one order."""
    base = example_quotes()[0]
    return [
        dict(copy.deepcopy(base), orderNumber=order_number, id=f"PF-{i}", total=100.0 + i) for i in range(n)
    ]


def token(app, scope: str, **kwargs) -> str:
    with app_engine(app).begin() as conn:
        return tokens.create(conn, scope, f"test {scope}", **kwargs)[1]


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def written(app) -> tuple[int, int, int, int]:
    """(log size, quotes, releases, refusals): what a refused request must leave unchanged."""
    with app_engine(app).connect() as conn:
        return (
            store.size(conn),
            conn.execute(select(func.count()).select_from(proformas)).scalar_one(),
            conn.execute(select(func.count()).select_from(releases)).scalar_one(),
            conn.execute(select(func.count()).select_from(refusals)).scalar_one(),
        )
