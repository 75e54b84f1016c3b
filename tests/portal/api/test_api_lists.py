"""/api/releases and /api/records: filters, cursors that survive imports, 400s that name the
parameter, and valid OCDS packages on every page, the empty one included (SQLite and
PostgreSQL)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from api_support import PREFIX, generated, harvest, local, publish, publish_generated
from sqlalchemy import select

from ocds.validate import package_problems
from portal.db import app_engine
from portal.models import parties, records, releases
from portal.readmodel import api_filters


@pytest.fixture
def published(app, tmp_path):
    publish_generated(app, tmp_path, 120, seed=7)
    return app


@pytest.fixture(
    params=[
        "in the window",
        "walking on after the window",
        "walking on a little, then counting",
        "from the processes",
        "walking the releases",
    ]
)
def strategy(request, monkeypatch):
    """Every way a filtered page is found: among the next keys (a frequent match), walking on
    when the first keys held some (without counting the processes, for a while or to the end),
    from the few matching processes, or by walking every release after the cursor (a rare match
    among many processes). The window is narrowed so that the test's small dataset takes each
    way."""
    if request.param != "in the window":
        monkeypatch.setattr(api_filters, "WINDOW", 3)
        # A page by dates then takes keys from the date index two at a time, over several
        # rounds, and walks on after them.
        monkeypatch.setattr(api_filters, "DATE_KEYS", 2)
        # Never counted when the window held a match, counted after one more window, or
        # always counted.
        walk_on = {"walking on after the window": 10**6, "walking on a little, then counting": 1}
        monkeypatch.setattr(api_filters, "WALK_ON_WINDOWS", walk_on.get(request.param, 0))
    if request.param == "walking the releases":
        monkeypatch.setattr(api_filters, "FEW", 0)
    return request.param


def _process_facts(app) -> dict[str, dict]:
    """Per ocid, what the filters match, read straight from the tables (the oracle)."""
    facts: dict[str, dict] = {}
    with app_engine(app).connect() as conn:
        for row in conn.execute(select(records)).mappings():
            facts[row["ocid"]] = {
                "buyer": row["buyer_id"],
                "agreement": row["agreement_ocid"],
                "procurement_method": row["procedure"],
                "region": row["delivery_region"],
                "date": row["date"],
                "supplier": set(),
            }
        for ocid, party in conn.execute(
            select(parties.c.ocid, parties.c.party_id).where(parties.c.role == "supplier")
        ):
            facts[ocid]["supplier"].add(party)
    return facts


def _all_releases(app) -> list[dict]:
    with app_engine(app).connect() as conn:
        return [
            dict(r)
            for r in conn.execute(
                select(releases.c.id, releases.c.ocid, releases.c.release_id, releases.c.date).order_by(
                    releases.c.id
                )
            ).mappings()
        ]


def _most_common(facts: dict[str, dict], key: str) -> str:
    counts: dict[str, int] = defaultdict(int)
    for fact in facts.values():
        values = fact[key] if isinstance(fact[key], set) else {fact[key]}
        for value in values - {None}:
            counts[value] += 1
    assert counts, f"the dataset has no {key}"
    # Not the only value: the filter must leave some processes out.
    return sorted(counts, key=lambda v: (-counts[v], v))[min(1, len(counts) - 1)]


def _matches(fact: dict, key: str, value: str) -> bool:
    return value in fact[key] if isinstance(fact[key], set) else fact[key] == value


@pytest.mark.parametrize("key", ["buyer", "supplier", "agreement", "procurement_method", "region"])
def test_each_process_filter_lists_exactly_the_matching_releases_and_records(published, strategy, key):
    client = published.test_client()
    facts = _process_facts(published)
    value = _most_common(facts, key)
    wanted = {ocid for ocid, fact in facts.items() if _matches(fact, key, value)}
    assert 0 < len(wanted) < len(facts)

    found, packages = harvest(client, f"/api/releases?{key}={value}&limit=7")
    expected = [(r["ocid"], r["release_id"]) for r in _all_releases(published) if r["ocid"] in wanted]
    assert [(r["ocid"], r["id"]) for r in found] == expected  # in publication order, no repeats
    for package in packages:
        assert package_problems(package, "release", deep=True) == []
        assert f"{key}={value}" in package["uri"]

    found_records, record_packages = harvest(client, f"/api/records?{key}={value}&limit=5", key="records")
    assert sorted(r["ocid"] for r in found_records) == sorted(wanted)
    for package in record_packages:
        assert package_problems(package, "record", deep=True) == []


def test_repeated_values_are_alternatives_and_filters_combine(published, strategy):
    client = published.test_client()
    facts = _process_facts(published)
    buyers = sorted({f["buyer"] for f in facts.values() if f["buyer"]})[:2]
    region = _most_common(facts, "region")
    wanted = {o for o, f in facts.items() if f["buyer"] in buyers and f["region"] == region}
    query = "&".join(f"buyer={b}" for b in buyers) + f"&region={region}"
    found, _ = harvest(client, f"/api/records?{query}", key="records")
    assert {r["ocid"] for r in found} == wanted


def test_ocid_prefix_and_date_range(published):
    client = published.test_client()
    every = _all_releases(published)
    ocid = every[len(every) // 2]["ocid"]
    prefix = ocid[:-1]
    found, _ = harvest(client, f"/api/releases?ocid_prefix={prefix}")
    assert {r["ocid"] for r in found} == {r["ocid"] for r in every if r["ocid"].startswith(prefix)}
    # Case-sensitive, on both databases.
    assert harvest(client, f"/api/releases?ocid_prefix={prefix.upper()}")[0] == []

    days = sorted({r["date"][:10] for r in every})
    low, high = days[len(days) // 4], days[3 * len(days) // 4]
    found, _ = harvest(client, f"/api/releases?date_from={low}&date_to={high}")
    expected = [(r["ocid"], r["release_id"]) for r in every if low <= r["date"][:10] <= high]
    assert [(r["ocid"], r["id"]) for r in found] == expected and expected

    facts = _process_facts(published)
    found, _ = harvest(client, f"/api/records?date_from={low}&date_to={high}", key="records")
    assert {r["ocid"] for r in found} == {
        o for o, f in facts.items() if f["date"] and low <= f["date"][:10] <= high
    }


def test_since_bounds_the_publication_time(published):
    client = published.test_client()
    total = len(_all_releases(published))
    assert len(harvest(client, "/api/releases?since=2000-01-01&limit=1000")[0]) == total
    future = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    response = client.get("/api/releases", query_string={"since": future})
    package = response.get_json()
    assert response.status_code == 200 and "releases" not in package and "links" not in package
    # The empty page is still a valid (paginated) OCDS package.
    assert package_problems(package, "release", deep=True) == []
    empty = client.get("/api/records", query_string={"since": future}).get_json()
    assert "records" not in empty and package_problems(empty, "record", deep=True) == []


def test_since_lists_exactly_what_was_published_since_whatever_the_key_order(app, tmp_path):
    """A page with ``since`` starts where the first matching key is (found on the index of
    publication times), yet lists every match: also a release whose key is older than that
    start point but whose publication time is later (a clock set back between imports)."""
    publish_generated(app, tmp_path, 40, seed=7)
    publish_generated(app, tmp_path, 20, seed=8, series="OD")
    engine = app_engine(app)
    with engine.begin() as conn:
        rows = conn.execute(select(releases.c.id, releases.c.published_at).order_by(releases.c.id)).all()
        times = sorted({t for _, t in rows})
        assert len(times) >= 2
        since = times[-1]  # the second import's time
        early = [pk for pk, t in rows if t < since][1::7]
        conn.execute(
            releases.update().where(releases.c.id.in_(early)).values(published_at=since + timedelta(hours=1))
        )
        expected = [pk for pk, t in rows if t >= since or pk in early]
        last_of = dict(conn.execute(select(records.c.ocid, records.c.last_release)).all())
    assert early and min(early) < min(pk for pk, t in rows if t >= since)
    since = (since if since.tzinfo else since.replace(tzinfo=UTC)).astimezone(UTC)
    moment = since.replace(tzinfo=None).isoformat() + "Z"
    client = app.test_client()
    found, _ = harvest(client, f"/api/releases?since={moment}&limit=7")
    keys = {(r["ocid"], r["id"]) for r in found}
    with engine.connect() as conn:
        wanted = conn.execute(
            select(releases.c.ocid, releases.c.release_id).where(releases.c.id.in_(expected))
        ).all()
    assert keys == set(map(tuple, wanted)) and len(found) == len(expected)
    found_records, _ = harvest(client, f"/api/records?since={moment}&limit=7", key="records")
    assert {r["ocid"] for r in found_records} == {o for o, pk in last_of.items() if pk in set(expected)}
    with engine.connect() as conn:
        assert api_filters.since_floor(conn, since, 0) == min(expected) - 1
        assert api_filters.since_floor(conn, since, max(expected)) == max(expected)
        later = since + timedelta(days=1)
        assert api_filters.since_floor(conn, later, 0) == rows[-1][0]


def test_harvesting_while_imports_commit_misses_nothing_and_repeats_nothing(published, tmp_path):
    """A harvester reads a page, orders are imported, it goes on from links.next; later it asks
    the last page's address again and gets what was published since."""
    client = published.test_client()
    first = client.get("/api/releases?limit=50").get_json()
    seen = [(r["ocid"], r["id"]) for r in first["releases"]]
    publish_generated(published, tmp_path, 30, seed=8, series="OD")
    rest, packages = harvest(client, local(first["links"]["next"]))
    seen += [(r["ocid"], r["id"]) for r in rest]
    last_uri = local(packages[-1]["uri"])
    publish_generated(published, tmp_path, 20, seed=9, series="OE")
    again, _ = harvest(client, last_uri)
    seen += [(r["ocid"], r["id"]) for r in again if (r["ocid"], r["id"]) not in set(seen)]
    every = [(r["ocid"], r["release_id"]) for r in _all_releases(published)]
    assert seen == every and len(set(seen)) == len(seen)


def test_records_come_again_when_they_change(app, tmp_path):
    orders = generated(120, seed=7)
    # Hold back the last versions of some orders: publishing them later changes those records.
    held = [o for o in orders if o["version"] > 1][-5:]
    publish(app, tmp_path, [o for o in orders if o not in held], name="first")
    client = app.test_client()
    found, packages = harvest(client, "/api/records?limit=40", key="records")
    assert len({r["ocid"] for r in found}) == len(found) == len(_process_facts(app))
    resume = local(packages[-1]["uri"])
    publish(app, tmp_path, held, name="held")
    publish_generated(app, tmp_path, 10, seed=8, series="OD")
    changed, _ = harvest(client, resume, key="records")
    by_ocid = {r["ocid"]: r for r in changed}
    for order in held:
        record = by_ocid[f"{PREFIX}-{order['orderNumber']}"]
        assert len(record["releases"]) == order["version"]
    assert sum(r["ocid"].startswith(f"{PREFIX}-OD-") for r in changed) == len(
        {o["orderNumber"] for o in generated(10, seed=8, series="OD")}
    )
    assert len(_all_records(client)) == len(_process_facts(app))


def _all_records(client) -> list[dict]:
    return harvest(client, "/api/records?limit=1000", key="records")[0]


@pytest.mark.parametrize(
    "query, name",
    [
        ("buyr=x", "buyr"),
        ("limit=0", "limit"),
        ("limit=100000", "limit"),
        ("cursor=-1", "cursor"),
        ("cursor=x", "cursor"),
        ("since=yesterday", "since"),
        ("since=2024-02-30", "since"),
        ("since=2024-01-01T10:00:00", "since"),  # a time needs its offset
        ("date_from=2024-1-1", "date_from"),
        ("date_to=2024-13-01", "date_to"),
        ("date_from=2024-03-02&date_to=2024-03-01", "date_to"),
        ("buyer=", "buyer"),
        ("buyer=a%00b", "buyer"),
        ("ocid=x&ocid=y", "ocid"),
        ("ocid_prefix=" + "x" * 256, "ocid_prefix"),
        ("&".join(f"supplier={i}" for i in range(51)), "supplier"),
    ],
)
@pytest.mark.parametrize("route", ["/api/releases", "/api/records"])
def test_a_bad_parameter_is_a_400_that_names_it(app, route, query, name):
    response = app.test_client().get(f"{route}?{query}")
    assert response.status_code == 400 and response.mimetype == "application/json"
    assert repr(name) in response.get_json()["error"]["detail"]


def test_page_sizes_are_bounded_by_the_settings(app):
    client = app.test_client()
    most = app.config["API_MAX_PAGE_SIZE"]
    assert client.get(f"/api/releases?limit={most}").status_code == 200
    assert client.get(f"/api/records?limit={most + 1}").status_code == 400


def test_pages_by_date_or_prefix_start_at_their_first_match_after_any_cursor(published, strategy):
    """The walk of a page filtered by dates or an ocid prefix starts at the first matching key
    (found on an index): from any cursor, the page is the next matches, none skipped."""
    every = _all_releases(published)
    facts = _process_facts(published)
    buyer = _most_common(facts, "buyer")
    days = sorted({r["date"][:10] for r in every})
    middle = every[len(every) // 2]["ocid"]
    filters = {
        "days": (
            f"date_from={days[len(days) // 3]}&date_to={days[len(days) // 2]}",
            lambda r: days[len(days) // 3] <= r["date"][:10] <= days[len(days) // 2],
        ),
        "prefix": (f"ocid_prefix={middle[:-1]}", lambda r: r["ocid"].startswith(middle[:-1])),
        "none match": ("date_from=1999-01-01&date_to=1999-12-31", lambda r: False),
        "prefix, days and buyer": (
            f"ocid_prefix={PREFIX}&date_from={days[len(days) // 2]}&buyer={buyer}",
            lambda r: (
                r["ocid"].startswith(PREFIX)
                and r["date"][:10] >= days[len(days) // 2]
                and facts[r["ocid"]]["buyer"] == buyer
            ),
        ),
    }
    client = published.test_client()
    cursors = [0, *(r["id"] for r in every[:: max(1, len(every) // 12)]), every[-1]["id"]]
    for name, (query, matches) in filters.items():
        for cursor in cursors:
            response = client.get(f"/api/releases?limit=5&cursor={cursor}&{query}")
            assert response.status_code == 200, (name, cursor)
            expected = [r["release_id"] for r in every if r["id"] > cursor and matches(r)][:5]
            assert [r["id"] for r in response.get_json().get("releases", [])] == expected, (name, cursor)


def test_pages_of_records_by_prefix_dates_or_process_from_any_cursor(published, strategy):
    every = _all_releases(published)
    facts = _process_facts(published)
    last = {r["ocid"]: r["id"] for r in every}  # in key order: the newest release wins
    listed = sorted(last, key=last.__getitem__)
    region = _most_common(facts, "region")
    days = sorted({f["date"][:10] for f in facts.values() if f["date"]})
    middle = listed[len(listed) // 2]
    filters = {
        "prefix": (f"ocid_prefix={middle[:-1]}", lambda o: o.startswith(middle[:-1])),
        "days": (
            f"date_from={days[len(days) // 3]}",
            lambda o: bool(facts[o]["date"]) and facts[o]["date"][:10] >= days[len(days) // 3],
        ),
        "region and method": (
            f"region={region}&procurement_method=catalogue_order",
            lambda o: facts[o]["region"] == region and facts[o]["procurement_method"] == "catalogue_order",
        ),
        # Dates with other filters: the records of those dates are read from the read model
        # alone, the other filters on them.
        "days between, region and prefix": (
            f"date_from={days[len(days) // 4]}&date_to={days[3 * len(days) // 4]}&region={region}"
            f"&ocid_prefix={PREFIX}",
            lambda o: (
                bool(facts[o]["date"])
                and days[len(days) // 4] <= facts[o]["date"][:10] <= days[3 * len(days) // 4]
                and facts[o]["region"] == region
                and o.startswith(PREFIX)
            ),
        ),
    }
    client = published.test_client()
    cursors = [0, *(r["id"] for r in every[:: max(1, len(every) // 12)]), every[-1]["id"]]
    for name, (query, matches) in filters.items():
        assert any(matches(o) for o in listed), name
        for cursor in cursors:
            response = client.get(f"/api/records?limit=5&cursor={cursor}&{query}")
            assert response.status_code == 200, (name, cursor)
            expected = [o for o in listed if last[o] > cursor and matches(o)][:5]
            got = [r["ocid"] for r in response.get_json().get("records", [])]
            assert got == expected, (name, cursor)
