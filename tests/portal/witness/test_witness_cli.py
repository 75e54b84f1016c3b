"""``veraz witness key`` and ``serve``'s argument checks: sentences and exit statuses, never a
traceback, and the key file's rules (0600, refused when others may read it)."""

from __future__ import annotations

import os

from click.testing import CliRunner
from witness_support import TinyLog

from portal.witness.cli import witness_group


def run(*args: str):
    return CliRunner().invoke(witness_group, list(args))


def test_key_is_made_once_then_read(tmp_path):
    key = tmp_path / "w.key"
    made = run("key", "--key", str(key), "--name", "witness.test/w1")
    assert made.exit_code == 0 and made.output.startswith("witness.test/w1+")
    assert oct(os.stat(key).st_mode & 0o777) == "0o600"
    assert run("key", "--key", str(key)).output == made.output
    other = run("key", "--key", str(key), "--name", "witness.test/other")
    assert other.exit_code == 1 and "witness.test/w1" in other.output


def test_key_refusals(tmp_path):
    assert run("key", "--key", str(tmp_path / "new.key")).exit_code == 2  # no --name for a new key
    assert run("key", "--key", str(tmp_path / "bad.key"), "--name", "has space").exit_code == 2
    key = tmp_path / "w.key"
    run("key", "--key", str(key), "--name", "witness.test/w1")
    os.chmod(key, 0o644)
    readable = run("key", "--key", str(key))
    assert readable.exit_code == 1 and "chmod 600" in readable.output
    assert "PRIVATE+KEY" not in readable.output


def test_serve_argument_checks(tmp_path):
    key, db = tmp_path / "w.key", tmp_path / "w.sqlite3"
    log = TinyLog()
    missing = run("serve", "--key", str(key), "--db", str(db), "--log", log.vkey)
    assert missing.exit_code == 2 and "veraz witness key" in missing.output
    run("key", "--key", str(key), "--name", "witness.test/w1")
    assert run("serve", "--key", str(key), "--db", str(db)).exit_code == 2  # no log to follow
    bad_log = run("serve", "--key", str(key), "--db", str(db), "--log", "not-a-key")
    assert bad_log.exit_code == 2 and "--log" in bad_log.output
    bad_bind = run("serve", "--key", str(key), "--db", str(db), "--log", log.vkey, "--bind", "nohost")
    assert bad_bind.exit_code == 2 and "--bind" in bad_bind.output
    logs = tmp_path / "logs.txt"
    logs.write_text(f"# the logs this witness follows\n\n{log.vkey}\nnot-a-key\n")
    assert run("serve", "--key", str(key), "--db", str(db), "--logs", str(logs)).exit_code == 2
