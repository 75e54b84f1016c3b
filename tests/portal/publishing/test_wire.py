"""A prepared batch sent from a worker to the writer arrives equal to what was sent."""

from __future__ import annotations

import pickle

import orjson
import pytest

from ocds.catalogue.generate import generate_orders
from portal.publishing.orders import OrderPreparer, PreparedBatch
from portal.publishing.records import PackedRows


@pytest.mark.parametrize(
    ("dialect", "base_url"),
    [("sqlite+pysqlite", None), (None, None), ("postgresql+psycopg", "https://veraz.example")],
)
def test_a_batch_round_trips_through_pickle(dialect, base_url):
    lines = [(n, orjson.dumps(o)) for n, o in enumerate(generate_orders(60, 3), start=1)]
    lines.append((61, b"{not json"))
    batch = OrderPreparer("ocds-test", base_url, dialect=dialect).prepare(lines)
    assert batch.orders and batch.rejects
    back = pickle.loads(pickle.dumps(batch, protocol=pickle.HIGHEST_PROTOCOL))
    assert type(back) is PreparedBatch
    assert back == batch
    for sent, got in zip(batch.orders, back.orders, strict=True):
        assert type(got) is type(sent) and vars(got) == vars(sent)
        assert type(got.order) is type(sent.order) and type(got.search_alone) is type(sent.search_alone)
        rows = got.read_model_alone or {}
        assert all(type(r) is (PackedRows if dialect else list) for r in rows.values())
    # An agreement state shared by orders is sent once and shared again.
    sent_states = {id(o.agreement) for o in batch.orders}
    got_states = {id(o.agreement) for o in back.orders}
    assert len(got_states) == len(sent_states) < len(batch.orders)
    if base_url:
        assert all(o.pdf for o in back.orders)
