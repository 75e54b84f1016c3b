"""``add-checkpoint`` (c2sp.org/tlog-witness): parse the request, check it, cosign, answer.

Request body::

    old <size>\\n
    <base64 consistency proof hash>\\n      (0 to 63 lines)
    \\n
    <signed checkpoint note>

Answers, in the order the spec checks them: 400 for a body that is not that shape; 404 for an
origin the witness does not follow; 403 when no signature verifies against the log's key;
400 when the old size exceeds the checkpoint size; 409 with ``text/x.tlog.size`` (the size the
witness last cosigned, then a newline) when the old size is not that size; 422 when the
consistency proof does not verify (a non-empty proof from size 0 included); 409 when the
sizes are equal but the roots differ; otherwise 200 with one ``cosignature/v1`` line. The
check against the stored checkpoint and the update happen in one transaction.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from anchoring.cosignature import CosignatureSigner, cosign, note_text
from anchoring.errors import ProofError, SignatureError
from anchoring.merkle import verify_consistency
from anchoring.notes import Checkpoint, NoteVerifier, verify_note
from portal.witness.state import WitnessState

MAX_PROOF_LINES = 63
MAX_BODY = 64 * 1024  # a checkpoint with 63 proof lines and many signatures is a few KiB
MAX_SIZE = 2**63 - 1  # SQLite's INTEGER; no log is that large
SIZE_TYPE = "text/x.tlog.size"
_OLD = re.compile(r"old (0|[1-9][0-9]*)")


@dataclass(frozen=True)
class Answer:
    """An HTTP answer: status, body and content type."""

    status: int
    body: str
    content_type: str = "text/plain; charset=utf-8"


class BadRequest(ValueError):
    """The body is not an add-checkpoint request; the message says which part."""


@dataclass(frozen=True)
class Request:
    old_size: int
    proof: list[bytes]
    note: str
    text: str
    checkpoint: Checkpoint


def parse_request(body: bytes) -> Request:
    """Parse an add-checkpoint body strictly; raise :class:`BadRequest` saying what is wrong."""
    if len(body) > MAX_BODY:
        raise BadRequest(f"the body is larger than {MAX_BODY} bytes")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("the body is not UTF-8") from None
    head, separator, note = text.partition("\n\n")
    if not separator:
        raise BadRequest("no empty line between the old size and proof lines and the checkpoint")
    lines = head.split("\n")
    match = _OLD.fullmatch(lines[0])
    if not match:
        raise BadRequest("the first line must be 'old <size>' (ASCII decimal, no leading zeros)")
    old_size = int(match.group(1))
    if old_size > MAX_SIZE:
        raise BadRequest("the old size is too large")
    if len(lines) - 1 > MAX_PROOF_LINES:
        raise BadRequest(f"more than {MAX_PROOF_LINES} consistency proof lines")
    proof = []
    for number, line in enumerate(lines[1:], start=2):
        try:
            value = base64.b64decode(line, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest(f"line {number} is not a base64 hash") from None
        if len(value) != 32 or base64.b64encode(value).decode() != line:
            raise BadRequest(f"line {number} is not the base64 of a 32-byte hash")
        proof.append(value)
    try:
        checkpoint_text, _signatures = note_text(note)
        checkpoint = Checkpoint.parse(checkpoint_text)
    except SignatureError as error:
        raise BadRequest(f"the checkpoint is not a signed checkpoint note: {error}") from None
    if checkpoint.size > MAX_SIZE:
        raise BadRequest("the checkpoint size is too large")
    return Request(old_size, proof, note, checkpoint_text, checkpoint)


def _signed_by_log(request: Request, keys: list[NoteVerifier]) -> bool:
    for key in keys:
        try:
            verify_note(request.note, key)
        except SignatureError:
            continue
        return True
    return False


def add_checkpoint(
    state: WitnessState,
    logs: Mapping[str, list[NoteVerifier]],
    signer: CosignatureSigner,
    body: bytes,
    now: Callable[[], int],
) -> Answer:
    """Handle one add-checkpoint request body; ``logs`` maps each origin followed to its keys."""
    try:
        request = parse_request(body)
    except BadRequest as error:
        return Answer(400, f"{error}\n")
    origin = request.checkpoint.origin
    keys = logs.get(origin)
    if not keys:
        return Answer(404, "this witness does not follow a log with that origin\n")
    if not _signed_by_log(request, keys):
        return Answer(403, "no signature on the checkpoint verifies against the log's key\n")
    if request.old_size > request.checkpoint.size:
        return Answer(400, "the old size is larger than the checkpoint size\n")
    with state.transaction() as conn:
        latest = state.latest(origin, conn)
        stored = latest.size if latest else 0
        if request.old_size != stored:
            return Answer(409, f"{stored}\n", SIZE_TYPE)
        at = now()

        def refuse(status: int, reason: str) -> Answer:
            # Kept, committed with the transaction: a refused checkpoint the log signed is
            # evidence of misbehaviour (tlog-witness allows logging it, never cosigning it).
            state.refuse(conn, origin, at, status, reason, body.decode("utf-8"))
            return Answer(status, f"{reason}\n")

        size, root = request.checkpoint.size, request.checkpoint.root
        if request.old_size == 0:
            if request.proof:
                return refuse(422, "a consistency proof from size 0 must be empty")
        elif request.old_size == size:
            if request.proof:
                return refuse(422, "the sizes are equal but the consistency proof is not empty")
            if latest is not None and latest.root != root:
                return refuse(409, "the root differs from the checkpoint of this size already cosigned")
        else:
            assert latest is not None  # old size > 0 equals the stored size
            try:
                verify_consistency(request.old_size, size, latest.root, root, request.proof)
            except ProofError as error:
                return refuse(422, f"the consistency proof does not verify: {error}")
        cosignature = cosign(request.text, signer, at)
        state.store(conn, origin, size, root, request.note, at)
    return Answer(200, cosignature.line())
