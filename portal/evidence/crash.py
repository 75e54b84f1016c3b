"""Test hook: die at a named point of sealing or anchoring, to prove crash safety.

``VERAZ_CRASH_AT=after-send veraz anchor`` kills its own process with SIGKILL (no cleanup, no
``finally``, no flush: exactly what a power cut or the OOM killer does) when it reaches the
point named ``after-send``. Unset in production, where :func:`crash_point` does nothing.
The points are listed in ``POINTS``; ``tests/portal/test_crash.py`` kills at each of them.
"""

from __future__ import annotations

import os
import signal

POINTS = (
    "after-seal",  # checkpoint and its pending anchor rows committed, nothing anchored yet
    "after-intent",  # EVM transaction signed and recorded, not sent
    "after-send",  # EVM transaction sent (mined on dev chains), receipt not recorded
    "after-evm",  # EVM anchor recorded, timestamp not requested
    "after-timestamp",  # timestamp token received, not recorded
    "after-timestamp-stored",  # timestamp recorded, process not finished
)


def crash_point(name: str) -> None:
    """SIGKILL this process if ``VERAZ_CRASH_AT`` names ``name`` (a test hook)."""
    if os.environ.get("VERAZ_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
