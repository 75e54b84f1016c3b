"""The dashboards' summary tables (``portal.dashboards.rollup``): every chart read from them
gives exactly the groups the records give, after a full refresh and after a partial one that
follows new orders and new versions of old ones; ``veraz audit``'s check finds an edited sum
or contribution. SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import create_engine, func, select, update

from ocds.catalogue.generate import write_orders
from portal.dashboards import filters as dfilters
from portal.dashboards import rollup
from portal.dashboards.queries import BREAKDOWNS, breakdown, summarised, totals
from portal.dashboards.tables import dash_orders, dash_spending
from portal.models import item_lines, records
from portal.publishing import import_orders


@pytest.fixture
def halves(database_url, tmp_path):
    """The first 220 lines of a generated stream published, then the summary refreshed; the
    path of the other 80 lines (new orders and new versions of published ones)."""
    engine = create_engine(database_url)
    write_orders(tmp_path / "all.jsonl", 300, 7)
    text = (tmp_path / "all.jsonl").read_text().splitlines(keepends=True)
    (tmp_path / "first.jsonl").write_text("".join(text[:220]))
    (tmp_path / "rest.jsonl").write_text("".join(text[220:]))
    assert import_orders(engine, tmp_path / "first.jsonl", ocid_prefix="ocds-roll01", workers=1).rejects == []
    yield engine, tmp_path / "rest.jsonl"
    engine.dispose()


def _filter_sets(conn) -> list[dfilters.Filters]:
    years = sorted({m[:4] for m in conn.execute(select(records.c.month).distinct()).scalars() if m})
    segments = [
        s
        for s, _n in conn.execute(
            select(item_lines.c.segment, func.count())
            .where(item_lines.c.segment.is_not(None))
            .group_by(item_lines.c.segment)
            .order_by(func.count().desc(), item_lines.c.segment)
            .limit(2)
        )
    ]
    out = [dfilters.Filters()]
    out.append(dfilters.parse([("year", years[-1])]))
    out.append(dfilters.parse([("year", y) for y in years]))
    out.append(dfilters.parse([("segment", segments[1])]))
    out += [dfilters.parse([("segment", segments[0]), ("year", years[-1])])]
    return out


def _same_as_records(engine, ranks=("amount", "orders")) -> int:
    """Every breakdown, both rankings, under each filter set: the summary's groups are the
    records' groups, in the same order. Returns how many were compared."""
    compared = 0
    with engine.connect() as conn:
        assert rollup.current(conn)
        for filters, by, rank in itertools.product(_filter_sets(conn), BREAKDOWNS, ranks):
            selected = dict(filters.selected)
            limit = None if by in ("month", "year") else 15
            fast = summarised(conn, by, selected, limit=limit, rank=rank)
            assert fast is not None, (by, selected)
            slow = breakdown(conn, by, dfilters.conditions(filters), limit=limit, rank=rank)
            assert fast == slow, (by, rank, selected)
            compared += 1
        total = summarised(conn, "total", dict(filters.selected))
        assert total == [totals(conn, dfilters.conditions(filters))]
    return compared


def _problems(engine) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    with engine.connect() as conn:
        rollup.check(conn, lambda subject, detail: found.append((subject, detail)))
    return found


def test_the_summary_gives_the_records_groups_before_and_after_a_partial_refresh(halves):
    engine, rest = halves
    with engine.connect() as conn:
        assert not rollup.current(conn)  # never refreshed: the charts read records
        assert summarised(conn, "month", {}) is None
    first = rollup.refresh(engine)
    assert first.full and first.orders > 0
    assert _same_as_records(engine) > 50
    assert _problems(engine) == []

    assert import_orders(engine, rest, ocid_prefix="ocds-roll01", workers=1).rejects == []
    with engine.connect() as conn:
        assert not rollup.current(conn)  # written since: read records until refreshed
        assert summarised(conn, "buyer", {}) is None
    again = rollup.refresh(engine)
    assert not again.full, again.reasons
    assert 0 < again.changed <= again.orders
    _same_as_records(engine, ranks=("amount",))
    assert _problems(engine) == []
    with engine.connect() as conn:
        kept = sorted(conn.execute(select(dash_spending)).all())
    rebuilt = rollup.refresh(engine, full=True)
    assert rebuilt.full
    with engine.connect() as conn:
        assert sorted(conn.execute(select(dash_spending)).all()) == kept  # partial == full
    _cancel_one(engine)
    _tamper_and_check(engine)


def _cancel_one(engine) -> None:
    """An order cancelled (its row rewritten as publishing does): the partial refresh takes its
    orders and amount out."""
    with engine.begin() as conn:
        ocid, amount = conn.execute(
            select(records.c.ocid, records.c.amount)
            .where(records.c.kind == "order", records.c.currency == "PEN", records.c.amount > 0)
            .order_by(records.c.ocid)
            .limit(1)
        ).one()
        before = summarised(conn, "total", {})
        newest = conn.execute(select(func.max(records.c.updated_at))).scalar_one()
        # As publishing does: the row rewritten with a newer updated_at.
        conn.execute(
            update(records)
            .where(records.c.ocid == ocid)
            .values(status="cancelled", updated_at=newest + timedelta(seconds=1))
        )
    summary = rollup.refresh(engine)
    assert not summary.full and summary.changed == 1
    with engine.connect() as conn:
        after = summarised(conn, "total", {})
    assert after[0].orders == before[0].orders - 1
    assert after[0].amount == before[0].amount - Decimal(str(amount)).quantize(Decimal("0.01"))
    _same_as_records(engine, ranks=("orders",))


def _tamper_and_check(engine) -> None:
    """The audit's check names an edited sum and an edited contribution."""
    with engine.begin() as conn:
        row = conn.execute(select(dash_spending).where(dash_spending.c.dimension == "buyer").limit(1)).one()
        conn.execute(
            update(dash_spending)
            .where(
                dash_spending.c.dimension == row.dimension,
                dash_spending.c.segment == row.segment,
                dash_spending.c.year == row.year,
                dash_spending.c.key == row.key,
                dash_spending.c.month == row.month,
            )
            .values(amount=row.amount + 1)
        )
        ocid = conn.execute(select(dash_orders.c.ocid).order_by(dash_orders.c.ocid).limit(1)).scalar_one()
        conn.execute(update(dash_orders).where(dash_orders.c.ocid == ocid).values(contribution="[]"))
    subjects = {subject for subject, _detail in _problems(engine)}
    assert f"summary buyer/{row.segment}/{row.year}/{row.key}/" in subjects
    assert ocid in subjects
