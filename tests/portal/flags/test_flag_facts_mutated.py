"""Imported OCDS may hold anything: the flags' facts are read from mutated releases without
raising and with the types their columns take, and mutated processes published through the
real importer never crash a refresh, the page or the JSON (SQLite and PostgreSQL)."""

from __future__ import annotations

import copy
import json
import random
from decimal import Decimal

from builders import SHAPES, example_order
from flags_support import with_flag_tables
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from support import json_paths, make_app

from ocds.catalogue.mapping import map_order
from portal.db import app_engine
from portal.flags import flags_of_order, refresh, summary, thresholds
from portal.flags.facts import release_facts
from portal.flags.tables import flag_facts
from portal.publishing import import_ocds

PREFIX = "ocds-test01"

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    st.sampled_from(
        ["", "delivery", "met", "notMet", "2024-13-01", "2024-02-30", "2025-01-01T00:00:00Z", "1e400"]
    ),
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


def _mutate(release: dict, choose_path, choose_value, times: int) -> dict:
    release = copy.deepcopy(release)
    paths = list(json_paths(release))
    for _ in range(times):
        path = choose_path(paths)
        node = release
        try:
            for step in path[:-1]:
                node = node[step]
            node[path[-1]] = choose_value()
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed this path
    return release


def _release(shape: str) -> dict:
    return map_order(example_order(shape), ocid_prefix=PREFIX).order_release


@st.composite
def mutated(draw):
    release = _release(draw(st.sampled_from(SHAPES)))
    times = draw(st.integers(min_value=1, max_value=8))
    return _mutate(release, lambda paths: draw(st.sampled_from(paths)), lambda: draw(JSON), times)


def _check(facts: dict) -> None:
    for name in ("deliveries", "deliveries_met", "deliveries_late", "deliveries_not_met"):
        assert isinstance(facts[name], int) and facts[name] >= 0
    assert facts["deliveries_met"] + facts["deliveries_not_met"] <= 2 * facts["deliveries"]
    assert facts["quotes"] is None or (isinstance(facts["quotes"], int) and 0 <= facts["quotes"] < 2**31)
    assert facts["days_late"] is None or facts["days_late"] > 0
    amount = facts["first_amount"]
    assert amount is None or (isinstance(amount, Decimal) and abs(amount) < Decimal(10) ** 17)
    assert facts["first_currency"] is None or len(facts["first_currency"]) <= 3


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(), st.one_of(st.none(), mutated()))
def test_mutated_releases_give_facts_without_raising(compiled, first):
    _check(release_facts(compiled, first))


@settings(max_examples=200, deadline=None)
@given(JSON, JSON)
def test_any_json_gives_facts_without_raising(compiled, first):
    _check(release_facts(compiled, first))


def test_mutated_imports_never_crash_the_flags(database_url, tmp_path):
    rng = random.Random(14)
    values = [None, True, -1, 10**30, 1.5e300, "", "x", "2024-13-01", [], {}, [{"a": 1}], {"amount": "1e400"}]
    lines = []
    for n in range(60):
        release = _release(SHAPES[n % len(SHAPES)])
        release = _mutate(release, rng.choice, lambda: rng.choice(values), rng.randint(1, 8))
        release["ocid"] = f"ocds-mut001-{n}"
        release["id"] = f"r{n}"
        release["date"] = "2025-03-01T00:00:00Z"
        lines.append(json.dumps(release).encode() + b"\n")  # orjson refuses integers past 64 bits
    path = tmp_path / "mutated.jsonl"
    path.write_bytes(b"".join(lines))
    engine = with_flag_tables(database_url)
    import_ocds(engine, [path])
    refresh(engine, thresholds())
    with engine.connect() as conn:
        ocids = list(conn.execute(select(flag_facts.c.ocid)).scalars())
        assert len(ocids) > 20  # the importer keeps about half of them (invalid ones too)
        assert sum(s["count"] for s in summary(conn)) >= 0
        for ocid in ocids:
            flags_of_order(conn, ocid)
    engine.dispose()
    app = make_app(database_url, tmp_path)
    client = app.test_client()
    assert client.get("/flags").status_code == 200
    for ocid in ocids[:10]:
        assert client.get(f"/api/flags/orders/{ocid}").status_code == 200
    app_engine(app).dispose()
