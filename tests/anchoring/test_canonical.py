"""anchoring.canonical: byte-identical to the ``rfc8785`` reference library.

Differential tests over the real OCDS corpus and over arbitrary JSON (hypothesis), plus the
edge cases the fast path must hand to the fallback.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import struct
from pathlib import Path

import orjson
import pytest
import rfc8785
from anchoring_vectors import load_vector
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anchoring import canonical
from anchoring.canonical import canonical_json
from anchoring.errors import CanonicalError

SHARED = Path(os.environ.get("VERAZ_SHARED", Path(__file__).resolve().parents[3] / "shared"))


def reference(obj) -> bytes:
    return rfc8785.dumps(obj)


def same_as_reference(obj) -> None:
    """canonical_json(obj) equals rfc8785.dumps(obj), or raises CanonicalError where that raises,
    with the reference's exception as its cause."""
    try:
        expected = reference(obj)
    except Exception as error:  # noqa: BLE001 - whatever the reference raises
        with pytest.raises(CanonicalError) as info:
            canonical_json(obj)
        assert type(info.value.__cause__) is type(error)
        assert str(info.value) == str(error)
        return
    assert canonical_json(obj) == expected


# --- Real corpus ------------------------------------------------------------------------------


def _corpus_files() -> list[Path]:
    files = sorted(SHARED.glob("real-ocds/*/releases.jsonl"))
    if not files:
        if os.environ.get("CI"):
            pytest.fail(f"real OCDS corpus missing under CI ({SHARED}/real-ocds)")
        pytest.skip(f"real OCDS corpus not present ({SHARED}/real-ocds)")
    return files


def test_real_corpus_identical_to_rfc8785():
    releases = 0
    fast = 0
    for path in _corpus_files():
        for line in path.read_bytes().splitlines():
            if not line.strip():
                continue
            release = orjson.loads(line)
            assert canonical_json(release) == reference(release), f"{path}: {release.get('id')}"
            fast += canonical.takes_fast_path(release)
            releases += 1
    assert releases > 300
    # The fast path must actually be used on real data, or the speed claim is void.
    assert fast >= 0.9 * releases


# --- Edge cases -------------------------------------------------------------------------------

# Edge cases as JSON texts with the reference's output, shared with static/verify.js's tests
# (vectors/canonical_json.json); below, those only Python can state (non-finite numbers,
# integers beyond 2**53 - 1, non-string keys, tuples).
JCS = load_vector("canonical_json.json")["cases"]
VALID = [c for c in JCS if c["canonical"] is not None]
INVALID = [c for c in JCS if c["canonical"] is None]


@pytest.mark.parametrize("case", VALID, ids=lambda c: c["json"])
def test_vectors(case):
    obj = json.loads(case["json"])
    assert canonical_json(obj) == case["canonical"].encode("utf-8") == reference(obj)


@pytest.mark.parametrize("case", INVALID, ids=lambda c: c["json"])
def test_vectors_without_canonical_form(case):
    with pytest.raises(CanonicalError):
        canonical_json(json.loads(case["json"]))


def test_vectors_hold_both_kinds():
    assert len(VALID) > 40
    assert len(INVALID) >= 2


EDGE_CASES = [
    {"a": 2**53},
    {"a": 2**64},
    {"a": math.nan},
    {"a": math.inf},
    {"a": [None, -math.inf]},
    {1: "non-string key"},
    {"a": (1, 2.0)},
]


@pytest.mark.parametrize("obj", EDGE_CASES, ids=repr)
def test_edge_cases(obj):
    same_as_reference(obj)


def test_non_json_types_refused_like_reference():
    import datetime
    import uuid
    from dataclasses import dataclass

    @dataclass
    class D:
        x: int

    class S(str):
        pass

    for value in (datetime.datetime(2024, 1, 1), D(1), {"a": S("x")}, {"a": {1, 2}}):
        same_as_reference({"v": value} if not isinstance(value, dict) else value)
    # orjson would write a UUID natively; what matters is never to differ from the reference
    # on JSON data. Document the behaviour for non-JSON input that orjson accepts.
    with pytest.raises(rfc8785.CanonicalizationError):
        reference({"u": uuid.uuid4()})


def test_orjson_float_notation_is_what_the_fast_path_assumes():
    """Pin the orjson formatting the fast path's checks rely on (see canonical's docstring)."""
    rng = random.Random(8785)
    values = [10.0**k for k in range(-320, 308)] + [1.5 * 10.0**k for k in range(-320, 307)]
    values += [struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0] for _ in range(20000)]
    for v in values:
        if not math.isfinite(v):
            continue
        token = orjson.dumps(v)
        # Plain decimal with a point, or a signed exponent: never "E", never "1e5".
        assert re.fullmatch(rb"-?[0-9]+\.[0-9]+|-?[0-9]+(\.[0-9]+)?e[-+][0-9]+", token), token
        # And the fast path agrees with the reference on every one of them.
        assert canonical_json([v]) == reference([v])


def test_exponent_tokens_take_the_fallback_and_look_alike_text_does_not():
    """Every exponent token is seen wherever it stands (before ``,``, ``}`` or ``]``); ids that
    hold a digit, "e-" and digits (UUIDs) keep the fast path."""
    for value in (1e-7, 1.5e16, -2e21, 5e-324):
        for doc in ([value], [value, 1], {"a": value}, {"a": value, "b": 1}, {"a": [[value]]}):
            assert not canonical.takes_fast_path(doc), doc
            same_as_reference(doc)
    uuid_like = {"id": "doc-652909ab-e802-498e-9833-757685db60e0", "n": [1.5, 2]}
    assert canonical.takes_fast_path(uuid_like)
    same_as_reference(uuid_like)


def test_shortest_digits_agree_on_random_plain_decimals():
    """orjson and CPython repr choose the same shortest round-trip digits."""
    rng = random.Random(1)
    for _ in range(50000):
        v = rng.uniform(-1e9, 1e9) if rng.random() < 0.5 else round(rng.uniform(0, 1e6), rng.randint(0, 6))
        assert canonical_json({"v": v}) == reference({"v": v})


# --- Properties over arbitrary JSON -----------------------------------------------------------

_text = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8"),
        st.sampled_from('\x00\x1f\x7f"\\/:,[]{}.0123456789e-+\u2028\ue000\uffff\U0001f600'),
    ),
    max_size=12,
)
_keys = st.one_of(
    _text,
    st.text(alphabet=st.sampled_from("aZé\ue000\uffff\U00010000\U0001f600"), max_size=4),
)
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-1e17, max_value=1e17).map(lambda f: float(round(f))),
    st.floats(min_value=-1e-4, max_value=1e-4),
    _text,
)
_json = st.recursive(
    _scalars,
    lambda children: st.one_of(st.lists(children, max_size=6), st.dictionaries(_keys, children, max_size=6)),
    max_leaves=40,
)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.dictionaries(_keys, _json, max_size=6), st.lists(_json, max_size=6)))
def test_arbitrary_json_identical_to_rfc8785(obj):
    same_as_reference(obj)


@settings(max_examples=1000, deadline=None)
@given(st.dictionaries(_keys, st.integers(0, 9), min_size=2, max_size=8))
def test_member_order_is_utf16(obj):
    same_as_reference(obj)
