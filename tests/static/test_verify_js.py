"""static/verify.js's proof code under Node's own test runner (tests/static/*.test.mjs), against
the vectors the Python code is tested with. Node missing: skipped locally, a failure under CI."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from support import ROOT, need

HERE = Path(__file__).resolve().parent


def test_verify_js_proof_code_passes_the_shared_vectors():
    node = shutil.which("node")
    need(node is not None, "node is not installed (static/verify.js's proof tests need it)")
    files = sorted(str(p) for p in HERE.glob("*.test.mjs"))
    assert files
    done = subprocess.run([node, "--test", *files], cwd=ROOT, capture_output=True, text=True, timeout=300)
    summary = dict(re.findall(r"^# (tests|pass|fail) (\d+)$", done.stdout, re.MULTILINE))
    assert (done.returncode, summary["fail"]) == (0, "0"), done.stdout[-5000:] + done.stderr[-2000:]
    assert int(summary["pass"]) == int(summary["tests"]) >= 12
