"""The log's side of tlog-witness: build an add-checkpoint request, send it, read the answer.

Used by the portal (``portal.witness.submit``) and by tests and ``bench/witness.py``. Pure
request building is apart from the one function that touches the network (:func:`post`).
"""

from __future__ import annotations

import base64
import re
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass

SIZE_TYPE = "text/x.tlog.size"
_SIZE = re.compile(r"(0|[1-9][0-9]*)\n")


def request_body(old_size: int, proof: Sequence[bytes], note: str) -> bytes:
    """``old <size>``, the proof lines, an empty line, then the signed checkpoint note."""
    lines = [f"old {old_size}", *(base64.b64encode(h).decode() for h in proof)]
    return ("\n".join(lines) + "\n\n" + note).encode("utf-8")


@dataclass(frozen=True)
class Reply:
    """A witness's answer: status, body text and content type (status 0: no answer)."""

    status: int
    body: str
    content_type: str

    def conflict_size(self) -> int | None:
        """The witness's latest cosigned size when this is a 409 ``text/x.tlog.size`` answer."""
        if self.status != 409 or self.content_type.split(";")[0].strip() != SIZE_TYPE:
            return None
        match = _SIZE.fullmatch(self.body)
        return int(match.group(1)) if match else None

    def cosignature_lines(self) -> list[str]:
        """The signature lines of a 200 answer (each without its newline)."""
        if self.status != 200 or not self.body.endswith("\n"):
            return []
        return [line for line in self.body[:-1].split("\n") if line.startswith("\u2014 ")]


def add_checkpoint_url(url: str) -> str:
    """The add-checkpoint URL of a witness given by its submission prefix (or the full URL)."""
    url = url.rstrip("/")
    return url if url.endswith("/add-checkpoint") else url + "/add-checkpoint"


def post(url: str, body: bytes, timeout: float) -> Reply:
    """POST ``body`` to the witness; a connection failure raises :class:`OSError`."""
    request = urllib.request.Request(
        add_checkpoint_url(url),
        data=body,
        method="POST",
        headers={"Content-Type": "text/plain; charset=utf-8"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Reply(
                response.status,
                response.read(65536).decode("utf-8", "replace"),
                response.headers.get("Content-Type", ""),
            )
    except urllib.error.HTTPError as error:
        with error:
            text = error.read(65536).decode("utf-8", "replace")
            return Reply(error.code, text, error.headers.get("Content-Type", ""))
