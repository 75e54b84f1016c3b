"""The portal served by a real gunicorn, as ``make run`` serves it, for browser and HTTP tests.

Use the ``gunicorn`` fixture (tests/conftest.py): its port, and so its base URL, is known before
the server starts, so that a test can publish with that BASE_URL (the links in order PDFs and QR
codes) and then serve.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gunicorn:
    """One gunicorn worker serving ``portal.wsgi:app`` on 127.0.0.1, configured through the
    environment as in production (``DATABASE_URL``, ``PORTAL_*``)."""

    def __init__(self, log_path: Path) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._process: subprocess.Popen | None = None

    def start(self, database_url: str, instance_path: Path, timeout: float = 30.0) -> str:
        """Serve the database at ``database_url``; return the base URL once /healthz answers.

        Raises RuntimeError with gunicorn's log if it exits or does not answer in ``timeout``.
        """
        if self._process is not None:
            raise RuntimeError("this gunicorn is already started")
        env = dict(
            os.environ,
            DATABASE_URL=database_url,
            PORTAL_INSTANCE_PATH=str(instance_path),
            PORTAL_BASE_URL=self.base_url,
        )
        with open(self.log_path, "wb") as sink:
            self._process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "-w",
                    "1",
                    "-b",
                    f"127.0.0.1:{self.port}",
                    "portal.wsgi:app",
                ],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=sink,
            )
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(self.base_url + "/healthz", timeout=1)
                return self.base_url
            except OSError as error:
                if time.monotonic() > deadline or self._process.poll() is not None:
                    self.stop()
                    raise RuntimeError(self.log_path.read_text()) from error
                time.sleep(0.1)

    def stop(self) -> None:
        """Stop the server (if started): TERM, then KILL after 10 s."""
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
