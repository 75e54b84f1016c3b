"""The worker step for catalogue orders: its per-worker context and the values it returns."""

from __future__ import annotations

import pickle

import orjson
from builders import all_examples, example_order

from portal.publishing import Reject, prepare_orders
from portal.publishing.orders import AgreementStates, OrderPreparer
from portal.publishing.prepared import prepare_release

PREFIX = "ocds-test01"


def _lines(orders: list) -> list[tuple[int, bytes]]:
    return [(n, o if isinstance(o, bytes) else orjson.dumps(o)) for n, o in enumerate(orders, start=1)]


def test_agreement_states_keep_the_most_recently_used_within_their_capacity():
    states = AgreementStates(capacity=2)
    a, b, c = (prepare_release({"ocid": f"ocds-x-{k}", "id": k, "date": "2025-01-01T00:00:00Z",
                                "tag": ["tender"], "initiationType": "tender"}) for k in "abc")
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
    batch = prepare_orders(_lines([example_order("1-single"), b"{not json", negative, b"[1]"]),
                           PREFIX, file="in.jsonl")
    assert batch.lines == 4 and len(batch.orders) == 1
    assert all(isinstance(r, Reject) and r.file == "in.jsonl" for r in batch.rejects)
    assert {r.line for r in batch.rejects} == {"2", "3", "4"}
    assert any(r.record == "OC-2025-900001" and r.field == "items/0/quantity" for r in batch.rejects)
    assert pickle.loads(pickle.dumps(batch)) == batch
