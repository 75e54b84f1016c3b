"""LineReader: source order lines parsed with each agreement block parsed once, always equal to
parsing the whole line (orjson.loads and agreement_key), whatever the line holds."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ocds.catalogue.generate import generate_orders
from ocds.catalogue.source import LineReader, agreement_key


def _whole(raw: bytes):
    """What the reader must give: the whole parse and its key, or orjson's error message."""
    try:
        order = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        return ("error", str(error))
    return (order, agreement_key(order))


def _read(reader: LineReader, raw: bytes):
    try:
        return reader.read(raw)
    except orjson.JSONDecodeError as error:
        return ("error", str(error))


LINES = [orjson.dumps(order) for order in generate_orders(300, 7)]
BLOCK = orjson.dumps(orjson.loads(LINES[0])["agreement"])


def _primed() -> LineReader:
    reader = LineReader()
    for raw in LINES:
        reader.read(raw)
    return reader


def test_generated_lines_read_as_a_whole_parse_with_blocks_shared():
    reader = LineReader()
    for raw in LINES:
        assert _read(reader, raw) == _whole(raw)
    agreements = {agreement_key(orjson.loads(raw)) for raw in LINES}
    # Every line after the first of its agreement took the shared block.
    assert reader.shared == len(LINES) - len(agreements)
    reader.check_unchanged()


def _line(members: bytes) -> bytes:
    return b"{" + members + b"}"


REST = b'"orderNumber":"OC-1","version":1'
HOSTILE = [
    # the block as the value of a nested member first, then of the top-level one
    _line(b'"x":{"agreement":' + BLOCK + b"}," + REST + b',"agreement":' + BLOCK),
    # a nested one only: the top-level agreement is another value
    _line(b'"x":{"agreement":' + BLOCK + b'},"agreement":{"id":"other"},' + REST),
    # the top-level member twice: the last one counts
    _line(b'"agreement":' + BLOCK + b"," + REST + b',"agreement":{"id":"later"}'),
    _line(b'"agreement":{"id":"earlier"},' + REST + b',"agreement":' + BLOCK),
    # U+0000 elsewhere in the line, or as the top-level agreement itself
    _line(b'"agreement":' + BLOCK + b',"note":"a\\u0000b",' + REST),
    _line(b'"x":{"agreement":' + BLOCK + b'},"agreement":"\\u0000",' + REST),
    # the member's text inside a string, its quotes escaped
    _line(b'"note":"x,\\"agreement\\":' + BLOCK.replace(b'"', b'\\"') + b'",' + REST),
    # a member whose name ends with the text (an escaped quote before it)
    _line(b'"x\\"agreement":' + BLOCK + b"," + REST),
    _line(b'"x\\"agreement":' + BLOCK + b"," + REST + b',"agreement":' + BLOCK),
    # spaces around the colon, and a line that is a list
    _line(b'"agreement" : ' + BLOCK + b"," + REST),
    b'[{"agreement":' + BLOCK + b"}]",
    b'["x","agreement":' + BLOCK + b"]",
    # broken after the block, inside it, or cut short
    _line(b'"agreement":' + BLOCK + b"," + REST + b","),
    _line(b'"agreement":' + BLOCK + b"}" + REST),
    _line(b'"agreement":' + BLOCK[:-1] + b"," + REST),
    b'{"agreement":' + BLOCK,
    # a longer block that starts with the remembered one's bytes
    _line(b'"agreement":' + BLOCK[:-1] + b',"extra":1},' + REST),
    # another agreement sharing the first bytes
    _line(b'"agreement":' + BLOCK[:100] + b"9" + BLOCK[101:] + b"," + REST),
]


@pytest.mark.parametrize("raw", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_lines_read_as_a_whole_parse(raw):
    assert _read(_primed(), raw) == _whole(raw)


def test_the_shared_block_is_taken_where_it_is_the_top_level_member():
    reader = _primed()
    before = reader.shared
    raw = _line(b'"x":{"agreement":' + BLOCK + b"}," + REST + b',"agreement":' + BLOCK)
    order, key = reader.read(_line(REST + b',"agreement":' + BLOCK))
    assert reader.shared == before + 1 and key == BLOCK
    assert order["agreement"] == orjson.loads(BLOCK)
    reader.read(raw)  # the first member found is nested: a whole parse
    assert reader.shared == before + 1


def test_a_changed_shared_block_is_caught():
    reader = _primed()
    reader.check_unchanged()  # nothing changed while priming
    order, _ = reader.read(LINES[-1])
    order["agreement"]["id"] = "changed"  # as a buggy caller would, within a batch
    with pytest.raises(AssertionError, match="changed"):
        reader.check_unchanged()


def test_memory_is_bounded():
    reader = LineReader(capacity=2)
    for n in range(10):
        block = orjson.dumps({"id": f"A-{n}", "pad": "x" * 80})
        for _ in range(2):
            raw = _line(b'"agreement":' + block + b"," + REST)
            assert _read(reader, raw) == _whole(raw)
    assert sum(len(c) for c in reader._blocks.values()) <= 2


_BYTES = st.sampled_from(
    [b"{", b"}", b",", b'"', b":", b"\\", b"\\u0000", b" ", b"1", b"x", b"agreement", b'"agreement":']
)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    index=st.integers(0, len(LINES) - 1),
    edits=st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from("sid"), _BYTES), min_size=1, max_size=3),
    near_block=st.booleans(),
)
def test_mutated_lines_read_as_a_whole_parse(index, edits, near_block):
    raw = LINES[index]
    start = raw.find(b'"agreement":')
    for position, kind, piece in edits:
        # Half the edits land around the block's first and last bytes, where the checks are.
        if near_block:
            around = [start - 1, start, start + 12, start + 12 + len(BLOCK) - 1, start + 12 + len(BLOCK)]
            i = min(max(around[position % len(around)] + position % 3 - 1, 0), len(raw))
        else:
            i = position % (len(raw) + 1)
        if kind == "s":
            raw = raw[:i] + piece + raw[i + 1 :]
        elif kind == "i":
            raw = raw[:i] + piece + raw[i:]
        else:
            raw = raw[:i] + raw[i + len(piece) :]
    reader = _primed()
    assert _read(reader, raw) == _whole(raw)
    reader.check_unchanged()
