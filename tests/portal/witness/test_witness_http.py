"""Two real witness processes over HTTP (``python -m portal.witness serve``): honest growth is
cosigned by both; a forked log is refused by a witness that saw the other branch."""

from __future__ import annotations

import os
import stat

import pytest
from witness_support import TinyLog, WitnessProcess

from anchoring.cosignature import note_text, valid_cosignatures, with_cosignatures
from anchoring.notes import verify_checkpoint
from portal.witness.client import SIZE_TYPE, post, request_body


@pytest.fixture
def log():
    log = TinyLog("example.gob.pe/ordenes")
    log.append(*(f"release-{i}".encode() for i in range(7)))
    return log


@pytest.fixture
def witnesses(tmp_path, log):
    started = [WitnessProcess(tmp_path, f"witness.test/w{i}", [log.vkey]).start() for i in (1, 2)]
    yield started
    for w in started:
        w.stop()


def test_keys_are_private_files(witnesses):
    for w in witnesses:
        assert stat.S_IMODE(os.stat(w.key).st_mode) == 0o600
        assert w.key.read_text().startswith("PRIVATE+KEY+witness.test/")


def test_honest_growth_is_cosigned_by_both(witnesses, log):
    lines = []
    for w in witnesses:
        reply = post(w.url, log.request(0), timeout=10)
        assert reply.status == 200, reply.body
        lines += reply.cosignature_lines()
    log.append(b"release-7", b"release-8")
    note = log.checkpoint()
    for w in witnesses:
        reply = post(w.url, log.request(7), timeout=10)
        assert reply.status == 200, reply.body
        note = with_cosignatures(note, reply.cosignature_lines())
    assert verify_checkpoint(note, log.vkey).size == 9
    body, signature_lines = note_text(note)
    found = valid_cosignatures(body, signature_lines, [w.verifier for w in witnesses])
    assert set(found) == {w.vkey for w in witnesses}


def test_fork_refused_by_the_witness_that_saw_the_other_branch(witnesses, log):
    w1, w2 = witnesses
    assert post(w1.url, log.request(0), timeout=10).status == 200  # w1 saw the honest size 7
    fork = log.fork(6)
    fork.append(b"a different release-6")
    assert fork.root(7) != log.root(7)
    # w2 never saw the log: it cosigns the forked view, as any first view.
    assert post(w2.url, fork.request(0), timeout=10).status == 200
    # w1 refuses the fork however it is presented.
    same_size = post(w1.url, fork.request(7), timeout=10)
    assert same_size.status == 409 and same_size.content_type.split(";")[0] != SIZE_TYPE
    from_zero = post(w1.url, fork.request(0), timeout=10)
    assert from_zero.status == 409 and from_zero.conflict_size() == 7
    fork.append(b"more")
    grown = post(w1.url, request_body(7, fork.proof(7, 8), fork.checkpoint(8)), timeout=10)
    assert grown.status == 422
    # The honest log still grows with w1; the split view cannot gather both witnesses.
    log.append(b"release-7")
    assert post(w1.url, log.request(7), timeout=10).status == 200
    assert post(w2.url, log.request(7), timeout=10).status == 422


def test_http_edges(witnesses, log):
    import urllib.error
    import urllib.request

    w = witnesses[0]
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(w.url + "/add-checkpoint", timeout=10)  # GET
    assert info.value.code == 405
    info.value.close()
    assert post(w.url, b"x" * (70 * 1024), timeout=10).status == 413
    assert post(w.url, b"old 0\n\nnothing\n", timeout=10).status == 400
