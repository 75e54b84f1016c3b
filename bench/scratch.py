"""Where a benchmark writes its databases: the folder given, or a temporary one removed at exit.

The benchmarks write gigabytes (``bench/anchor.py --big`` alone leaves a 3.7 GB database);
left in /tmp run after run, they once filled this machine's disk.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path


def scratch_dir(given: Path | None, prefix: str) -> Path:
    """``given`` (created if needed, kept afterwards) or a new temporary folder removed at exit."""
    if given is not None:
        given.mkdir(parents=True, exist_ok=True)
        return given
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder
