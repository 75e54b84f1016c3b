"""portal.witness.protocol: every answer of C2SP tlog-witness add-checkpoint, in process."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from witness_support import TinyLog

from anchoring.cosignature import Cosignature, CosignatureSigner, note_text, valid_cosignatures
from anchoring.notes import NoteSigner
from portal.witness.client import request_body
from portal.witness.protocol import SIZE_TYPE, add_checkpoint
from portal.witness.state import WitnessState

NOW = 1764892800


@pytest.fixture
def log():
    log = TinyLog()
    log.append(*(f"entry-{i}".encode() for i in range(10)))
    return log


@pytest.fixture
def witness(tmp_path, log):
    signer = CosignatureSigner.generate("witness.test/w1")
    state = WitnessState(tmp_path / "w.sqlite3")

    def submit(body: bytes, logs=None):
        return add_checkpoint(state, logs or {log.origin: [log.signer.verifier()]}, signer, body, lambda: NOW)

    submit.state, submit.signer = state, signer  # type: ignore[attr-defined]
    return submit


def cosigned(log: TinyLog, size: int, answer, signer: CosignatureSigner) -> bool:
    body, _ = note_text(log.checkpoint(size))
    lines = answer.body[:-1].split("\n")
    return bool(valid_cosignatures(body, lines, [signer.verifier()]))


def test_first_then_growth_is_cosigned(witness, log):
    first = witness(log.request(0, 4))
    assert first.status == 200 and cosigned(log, 4, first, witness.signer)
    assert Cosignature.parse_line(first.body).timestamp == NOW
    grown = witness(log.request(4, 10))
    assert grown.status == 200 and cosigned(log, 10, grown, witness.signer)
    assert witness.state.latest(log.origin).size == 10
    again = witness(log.request(10, 10))  # same size, same root: cosigned again
    assert again.status == 200


def test_old_size_not_the_cosigned_one_is_409_with_the_size(witness, log):
    assert witness(log.request(0, 4)).status == 200
    for old in (0, 3, 5):
        answer = witness(request_body(old, log.proof(old, 10) if old <= 4 else [], log.checkpoint(10)))
        assert (answer.status, answer.body, answer.content_type) == (409, "4\n", SIZE_TYPE)
    assert witness.state.latest(log.origin).size == 4


def test_fork_of_equal_size_is_refused_and_kept(witness, log):
    assert witness(log.request(0, 6)).status == 200
    fork = log.fork(5)
    fork.append(b"another entry")
    answer = witness(fork.request(6, 6))
    assert answer.status == 409 and answer.content_type != SIZE_TYPE
    (refusal,) = witness.state.refusals(log.origin)
    assert refusal["status"] == 409 and fork.checkpoint(6) in refusal["request"]
    assert witness.state.latest(log.origin).root == log.root(6)


def test_fork_that_grows_fails_the_consistency_proof(witness, log):
    assert witness(log.request(0, 6)).status == 200
    fork = log.fork(5)
    fork.append(*(b"x%d" % i for i in range(5)))
    # The forked log proves from its own size-6 tree; the witness holds the honest root.
    assert witness(fork.request(6, 10)).status == 422
    assert witness.state.latest(log.origin).size == 6


def test_unknown_origin_404_bad_signature_403(witness, log):
    stranger = TinyLog("other.example/log")
    stranger.append(b"a")
    assert witness(stranger.request(0)).status == 404
    impostor = TinyLog(signer=NoteSigner.generate(log.origin))  # right origin, wrong key
    impostor.leaves = list(log.leaves)
    assert witness(impostor.request(0)).status == 403
    assert witness.state.latest(log.origin) is None


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"old 0\n",
        b"old 01\n\nx\n",
        b"old -1\n\nx\n",
        b"new 0\n\nx\n",
        b"old 0\nnot-base64\n\nx\n",
        b"old 0\nAAAA\n\nx\n",
        b"\xff\xfe",
        b"old 0\n\nexample.gob.pe/log\n1\n",
        b"old 99999999999999999999\n\nx\n",
    ],
)
def test_malformed_bodies_are_400(witness, body):
    assert witness(body).status == 400


def test_old_size_above_checkpoint_size_is_400(witness, log):
    assert witness(request_body(11, [], log.checkpoint(10))).status == 400


def test_more_than_63_proof_lines_is_400(witness, log):
    assert witness(request_body(0, [bytes(32)] * 64, log.checkpoint(10))).status == 400


def test_bad_proofs_are_422(witness, log):
    assert witness(request_body(0, [bytes(32)], log.checkpoint(4))).status == 422  # non-empty from 0
    assert witness(log.request(0, 4)).status == 200
    good = log.proof(4, 10)
    for proof in ([], good[:-1], [*good, bytes(32)], [bytes(32)] * len(good)):
        assert witness(request_body(4, proof, log.checkpoint(10))).status == 422
    assert witness(request_body(4, [bytes(32)], log.checkpoint(4))).status == 422


def test_checkpoint_with_extra_signatures_is_accepted(witness, log):
    other = CosignatureSigner.generate("someone.else/w")
    note = log.checkpoint(3)
    body, _ = note_text(note)
    from anchoring.cosignature import cosign, with_cosignatures

    noted = with_cosignatures(note, [cosign(body, other, 1).line()])
    assert witness(request_body(0, [], noted)).status == 200


def test_concurrent_requests_never_roll_back(tmp_path, log):
    """tlog-witness's race: of two requests from the same old size only one is cosigned."""
    signer = CosignatureSigner.generate("witness.test/w1")
    state = WitnessState(tmp_path / "w.sqlite3")
    logs = {log.origin: [log.signer.verifier()]}
    assert add_checkpoint(state, logs, signer, log.request(0, 2), lambda: NOW).status == 200
    answers = []

    def go(size):
        answers.append(add_checkpoint(state, logs, signer, log.request(2, size), lambda: NOW).status)

    threads = [threading.Thread(target=go, args=(s,)) for s in (5, 9, 7, 10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers).count(200) == 1 and answers.count(409) == 3
    assert state.latest(log.origin).size in (5, 7, 9, 10)


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=400))
def test_any_body_gets_a_defined_answer(tmp_path_factory, body):
    signer = CosignatureSigner.generate("witness.test/w1")
    state = WitnessState(tmp_path_factory.mktemp("w") / "w.sqlite3")
    log = TinyLog()
    answer = add_checkpoint(state, {log.origin: [log.signer.verifier()]}, signer, body, lambda: NOW)
    assert answer.status in (400, 403, 404, 409, 422)
