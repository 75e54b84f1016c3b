"""The worker step for catalogue orders: its per-worker context and the values it returns."""

from __future__ import annotations

import hashlib
import pickle

import orjson
from builders import all_examples, example_order
from hypothesis import given, settings
from hypothesis import strategies as st

from anchoring.canonical import canonical_json
from ocds.catalogue.generate import generate_orders
from ocds.catalogue.mapping import map_order
from ocds.summary import browse_columns
from portal.documents.listing import order_pdf_document, order_pdf_sha256, without_own_pdf
from portal.documents.publish import attach_order_pdf, catalogue_name
from portal.publishing import Reject, prepare_orders
from portal.publishing.orders import (
    _STAND_IN,
    AgreementStates,
    OrderPreparer,
    PreparedBatch,
    agreement_head,
    order_digest,
)
from portal.publishing.prepared import prepare_release

PREFIX = "ocds-test01"


def _lines(orders: list) -> list[tuple[int, bytes]]:
    return [(n, o if isinstance(o, bytes) else orjson.dumps(o)) for n, o in enumerate(orders, start=1)]


def test_agreement_states_keep_the_most_recently_used_within_their_capacity():
    states = AgreementStates(capacity=2)
    a, b, c = (
        prepare_release(
            {
                "ocid": f"ocds-x-{k}",
                "id": k,
                "date": "2025-01-01T00:00:00Z",
                "tag": ["tender"],
                "initiationType": "tender",
            }
        )
        for k in "abc"
    )
    states.add(("a", "1"), a)
    states.add(("b", "1"), b)
    assert states.get(("a", "1")) is a  # now the most recently used
    states.add(("c", "1"), c)
    assert len(states) == 2
    assert states.get(("b", "1")) is None
    assert states.get(("a", "1")) is a and states.get(("c", "1")) is c


def test_a_worker_prepares_each_agreement_state_once_across_its_batches():
    preparer = OrderPreparer(PREFIX)
    orders = all_examples()  # four of the five orders share one agreement state
    first = preparer.prepare(_lines(orders[:3]))
    second = preparer.prepare(_lines(orders[3:]))
    agreements = [p.agreement for p in first.orders + second.orders]
    assert first.rejects == second.rejects == ()
    shared = [a for a in agreements if a.ocid == agreements[0].ocid]
    assert len(shared) == 4 and all(a is shared[0] for a in shared)
    assert len(preparer.agreements) == 2


def test_a_fresh_worker_prepares_the_same_values():
    lines = _lines(all_examples())
    kept = OrderPreparer(PREFIX).prepare(lines)
    assert prepare_orders(lines, PREFIX) == kept
    assert [OrderPreparer(PREFIX).prepare([line]).orders[0] for line in lines] == list(kept.orders)


def test_rejects_are_plain_values_that_cross_processes():
    negative = example_order("2-package", orderNumber="OC-2025-900001")
    negative["items"][0]["quantity"] = -3
    batch = prepare_orders(
        _lines([example_order("1-single"), b"{not json", negative, b"[1]"]), PREFIX, file="in.jsonl"
    )
    assert batch.lines == 4 and len(batch.orders) == 1
    assert all(isinstance(r, Reject) and r.file == "in.jsonl" for r in batch.rejects)
    assert {r.line for r in batch.rejects} == {"2", "3", "4"}
    assert any(r.record == "OC-2025-900001" and r.field == "items/0/quantity" for r in batch.rejects)
    assert pickle.loads(pickle.dumps(batch)) == batch


BASE_URL = "https://veraz.example"


def _with_pdfs() -> tuple[list[dict], PreparedBatch]:
    orders = all_examples() + list(generate_orders(40, 5))
    return orders, OrderPreparer(PREFIX, BASE_URL).prepare(_lines(orders))


def test_browse_columns_from_the_pdfs_reading_are_those_of_the_published_release():
    _, batch = _with_pdfs()
    assert batch.rejects == () and len(batch.orders) == 45
    assert {p.version == 1 for p in batch.orders} == {True, False}  # first and later versions
    for prepared in batch.orders:
        published = orjson.loads(prepared.order.data)
        assert order_pdf_document(published) is not None
        # The PDF is drawn from the release without its own entry; the columns do not read it.
        assert browse_columns(without_own_pdf(published)) == browse_columns(published)
        # A later version's record is compiled by the writer from all its releases.
        assert prepared.summary_alone == (browse_columns(published) if prepared.version == 1 else None)


def test_a_workers_pdf_is_the_one_rendered_from_the_mapped_order_alone():
    orders, batch = _with_pdfs()
    for order, prepared in zip(orders, batch.orders, strict=True):
        mapped = map_order(order, ocid_prefix=PREFIX)
        pdf, digest = attach_order_pdf(
            mapped.order_release,
            mapped.proformas,
            base_url=BASE_URL,
            catalogue=catalogue_name(mapped.agreement_release),
        )
        assert prepared.pdf == pdf
        assert order_pdf_sha256(orjson.loads(prepared.order.data)) == digest
        assert [q.data_hash for q in prepared.proformas] == [
            hashlib.sha256(canonical_json(p)).hexdigest() for p in mapped.proformas
        ]


# --- the order digest, the agreement block spliced in ---------------------------------------

_JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
    | st.sampled_from([_STAND_IN, _STAND_IN + "x", "\\u0000", '"'])
)
_JSON = st.recursive(
    _JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=8) | st.just(_STAND_IN), inner, max_size=4)
    ),
    max_leaves=20,
)


def _whole(order: dict) -> str:
    return hashlib.sha256(canonical_json(order)).hexdigest()


@settings(max_examples=400, deadline=None)
@given(
    st.dictionaries(st.text(max_size=10) | st.just(_STAND_IN), _JSON, max_size=6),
    _JSON,
)
def test_the_spliced_order_digest_is_the_digest_of_the_whole_order(outer, agreement):
    """Arbitrary JSON around and in the agreement, the stand-in's own text included (as a
    name, a value, or inside another string): the splice equals writing the whole order."""
    order = {**outer, "agreement": agreement}
    block = canonical_json(agreement)
    assert order_digest(order, block) == _whole(order)
    assert order_digest(order, block, agreement_head(block)) == _whole(order)
    assert order_digest(order) == _whole(order)


def test_the_spliced_order_digest_on_generated_orders_and_when_the_stand_in_is_there():
    orders = [orjson.loads(orjson.dumps(o)) for o in generate_orders(200, 3)]
    for order in orders:
        block = canonical_json(order["agreement"])
        assert order_digest(order, block) == _whole(order)
        assert order_digest(order, block, agreement_head(block)) == _whole(order)
        # A member before the agreement: the head does not apply, the splice still does.
        earlier = {**order, "aaa": 1}
        assert order_digest(earlier, block, agreement_head(block)) == _whole(earlier)
    # The stand-in's text inside the order: written whole, still the same digest.
    order = dict(orders[0], orderNumber=_STAND_IN)
    block = canonical_json(order["agreement"])
    assert order_digest(order, block, agreement_head(block)) == _whole(order)
    # A wrong agreement_json or head would give a wrong digest: the splice does use them.
    assert order_digest(orders[0], canonical_json({"id": "other"})) != _whole(orders[0])
    other = canonical_json({"id": "other"})
    block = canonical_json(orders[0]["agreement"])
    assert order_digest(orders[0], block, agreement_head(other)) != _whole(orders[0])


def test_a_worker_digests_each_order_as_the_whole_order():
    orders = [orjson.loads(orjson.dumps(o)) for o in generate_orders(60, 5)]
    batch = OrderPreparer(PREFIX).prepare(_lines(orders))
    assert batch.rejects == ()
    by_state = {(o["orderNumber"], o["version"]): o for o in orders}
    assert len(batch.orders) == len(orders)
    assert [p.digest for p in batch.orders] == [
        _whole(by_state[p.order_number, p.version]) for p in batch.orders
    ]


def test_a_later_version_arriving_alone_gets_its_record_compiled_by_the_writer(sqlite_url, tmp_path):
    """The workers leave the record's columns, rows and document of a later version of an order
    to the writer, which compiles the record from every release of the process; one that
    arrives without its earlier versions (a file that starts later) still gets all of them: those
    of its one release."""
    from builders import write_jsonl
    from sqlalchemy import create_engine, select

    from ocds.summary import read_model_rows
    from portal.models import item_lines, records, releases
    from portal.publishing import import_orders
    from portal.search.documents import document
    from portal.search.tables import search_documents

    later = next(o for o in generate_orders(60, 5) if o["version"] > 1)
    ocid = map_order(later, ocid_prefix=PREFIX).order_release["ocid"]
    engine = create_engine(sqlite_url)
    try:
        path = write_jsonl(tmp_path / "o.jsonl", [later])
        summary = import_orders(engine, path, ocid_prefix=PREFIX, workers=1)
        assert summary.rejects == [] and summary.new_orders == 1
        with engine.connect() as conn:
            data = conn.execute(select(releases.c.data).where(releases.c.ocid == ocid)).scalar_one()
            release = orjson.loads(data)
            row = conn.execute(select(records).where(records.c.ocid == ocid)).mappings().one()
            expected = browse_columns(release)
            assert {k: row[k] for k in expected} == expected and row["release_count"] == 1
            stored = conn.execute(
                select(search_documents.c.identifiers, search_documents.c.words).where(
                    search_documents.c.ocid == ocid
                )
            ).one()
            made = document(ocid, release)
            assert tuple(stored) == (made.identifiers, made.words)
            lines = conn.execute(select(item_lines.c.description).where(item_lines.c.ocid == ocid)).scalars()
            assert list(lines) == [r["description"] for r in read_model_rows(release)["item_lines"]]
    finally:
        engine.dispose()
