"""The witness as a WSGI application (werkzeug): ``POST <prefix>/add-checkpoint`` only."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

from werkzeug.wrappers import Request, Response

from anchoring.cosignature import CosignatureSigner
from anchoring.notes import NoteVerifier
from portal.witness.protocol import MAX_BODY, add_checkpoint
from portal.witness.state import WitnessState

log = logging.getLogger(__name__)


class WitnessApp:
    """Answers ``POST <prefix>/add-checkpoint``; 404 for every other path, 405 for other methods."""

    def __init__(
        self,
        state: WitnessState,
        logs: Mapping[str, list[NoteVerifier]],
        signer: CosignatureSigner,
        prefix: str = "",
    ) -> None:
        self.state, self.logs, self.signer = state, dict(logs), signer
        self.path = prefix.rstrip("/") + "/add-checkpoint"

    def __call__(self, environ, start_response):
        request = Request(environ)
        request.max_content_length = MAX_BODY
        if request.path != self.path:
            response = Response("not found\n", 404, content_type="text/plain; charset=utf-8")
        elif request.method != "POST":
            response = Response(
                "add-checkpoint takes POST\n",
                405,
                content_type="text/plain; charset=utf-8",
                headers={"Allow": "POST"},
            )
        else:
            response = self._add_checkpoint(request)
        return response(environ, start_response)

    def _add_checkpoint(self, request: Request) -> Response:
        length = request.content_length
        if length is not None and length > MAX_BODY:
            return Response(f"the body is larger than {MAX_BODY} bytes\n", 413, content_type="text/plain")
        body = request.stream.read(MAX_BODY + 1)
        answer = add_checkpoint(self.state, self.logs, self.signer, body, lambda: int(time.time()))
        if answer.status != 200:
            log.info("add-checkpoint refused (%d): %s", answer.status, answer.body.strip())
        return Response(answer.body, answer.status, content_type=answer.content_type)
