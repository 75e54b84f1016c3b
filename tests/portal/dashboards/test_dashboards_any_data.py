"""Any publisher's OCDS draws: mutated orders (amounts as text, huge or missing, odd dates,
regions and suppliers of any type) stored through the real import, then every dashboard page
and every chart's data answers without a server error (SQLite and PostgreSQL)."""

from __future__ import annotations

import itertools

import orjson
from builders import example_order
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import json_paths, replace_at_paths

from ocds.catalogue.mapping import map_order
from portal.dashboards import charts, layout
from portal.dashboards import filters as dfilters
from portal.dashboards.pages import PAGES
from portal.db import app_engine
from portal.publishing import import_ocds

ORDER = map_order(example_order("3-partial"), ocid_prefix="ocds-dash06").order_release

ODD = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53 - 1), max_value=2**53 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(["", "PEN", "USD", "cancelled", "2024-13-45", "1.500,00", "Lima", "43"]),
    st.lists(st.text(max_size=4), max_size=2),
    st.dictionaries(st.sampled_from(["id", "amount", "currency", "region", "name"]), st.text(max_size=5)),
)


PATHS = [p for p in json_paths(ORDER) if p[0] not in ("ocid", "id", "tag")]


@st.composite
def mutated(draw) -> dict:
    release = orjson.loads(orjson.dumps(ORDER))
    return replace_at_paths(draw, release, ODD, min_changes=1, max_changes=6, paths=PATHS)


def test_any_stored_order_draws_on_every_dashboard(app, tmp_path):
    client = app.test_client()
    engine = app_engine(app)
    serial = itertools.count()

    @settings(
        max_examples=15,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(st.lists(mutated(), min_size=1, max_size=4))
    def check(group):
        n = next(serial)
        for i, release in enumerate(group):
            release["ocid"], release["id"] = f"ocds-dash06-{n}-{i}", f"r-{n}-{i}"
        path = tmp_path / f"r{n}.jsonl"
        path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in group))
        import_ocds(engine, [path])
        for page in PAGES:
            response = client.get(f"/dashboards/{page.PATH}")
            assert response.status_code == 200, page.PATH
            with app.test_request_context(f"/dashboards/{page.PATH}"), engine.connect() as conn:
                layout.page(conn, page, dfilters.Filters())  # every figure, option and total
        for name in charts.CHARTS:
            for ext in ("csv", "json"):
                response = client.get(f"/dashboards/data/{name}.{ext}")
                assert response.status_code == 200, (name, ext, response.status_code)

    check()
