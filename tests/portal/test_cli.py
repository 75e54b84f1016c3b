"""The ``veraz`` command as a newcomer runs it: real processes, real files, exit codes."""

from __future__ import annotations

import gzip
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from builders import all_examples, example_order, write_jsonl
from sqlalchemy import create_engine, func, select
from support import need

from portal.models import records, releases

VERAZ = [sys.executable, "-m", "portal"]


def veraz(args: list[str], instance: Path, db: str, *, prefix: list[str] = (), wait: bool = True, **kw):
    """Run ``veraz args`` (after ``prefix``) on ``db``; with ``wait=False``, the running Popen."""
    env = dict(os.environ, PORTAL_INSTANCE_PATH=str(instance), DATABASE_URL=db, PORTAL_IMPORT_WORKERS="1")
    kw.setdefault("cwd", instance)  # default rejects files land in the current folder
    command = [*prefix, *VERAZ, *args]
    if not wait:
        return subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw
        )
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, **kw)


def test_generate_import_and_reimport(tmp_path):
    db = f"sqlite:///{tmp_path / 'v.sqlite3'}"
    assert veraz(["db", "upgrade"], tmp_path, db).returncode == 0
    out = tmp_path / "orders.jsonl"
    gen = veraz(["generate-orders", "--orders", "60", "--seed", "7", "--out", str(out)], tmp_path, db)
    assert gen.returncode == 0, gen.stderr
    again = tmp_path / "again.jsonl"
    veraz(["generate-orders", "--orders", "60", "--seed", "7", "--out", str(again)], tmp_path, db)
    assert out.read_bytes() == again.read_bytes()  # deterministic
    first = veraz(["import-orders", str(out)], tmp_path, db)
    assert first.returncode == 0, first.stderr
    assert "60 read" in first.stderr and "0 rejected" in first.stderr
    engine = create_engine(db)
    with engine.connect() as conn:
        n_releases = conn.execute(select(func.count()).select_from(releases)).scalar_one()
        n_orders = conn.execute(
            select(func.count()).select_from(records).where(records.c.kind == "order")
        ).scalar_one()
    assert n_orders > 0 and n_releases > n_orders
    second = veraz(["import-orders", str(out)], tmp_path, db)
    assert second.returncode == 0 and "0 releases published" in second.stderr
    engine.dispose()


def test_rejects_give_non_zero_exit_and_a_rejects_file(tmp_path):
    db = f"sqlite:///{tmp_path / 'v.sqlite3'}"
    veraz(["db", "upgrade"], tmp_path, db)
    bad = example_order("2-package", orderNumber="OC-2025-777777")
    bad["items"][0]["quantity"] = -1
    path = write_jsonl(tmp_path / "in.jsonl", [example_order("1-single"), "{oops", bad])
    result = veraz(["import-orders", str(path), "--rejects", str(tmp_path / "rej.jsonl")], tmp_path, db)
    assert result.returncode == 1
    assert "in.jsonl:2" in result.stderr and "in.jsonl:3 OC-2025-777777: items/0/quantity" in result.stderr
    rejects = [orjson.loads(line) for line in (tmp_path / "rej.jsonl").read_bytes().splitlines()]
    assert [(r["line"], r["field"]) for r in rejects][:2] == [("2", ""), ("3", "items/0/quantity")]
    assert "1 rejected" not in result.stderr and "2 rejected" in result.stderr


def test_import_ocds_packages_jsonl_and_gzip(tmp_path):
    db = f"sqlite:///{tmp_path / 'v.sqlite3'}"
    veraz(["db", "upgrade"], tmp_path, db)
    from ocds.catalogue.mapping import map_order

    rels = []
    for order in all_examples():
        mapped = map_order(order, ocid_prefix="ocds-abc123")
        rels += [mapped.agreement_release, mapped.order_release]
    package = {
        "uri": "https://example.org/p.json",
        "publishedDate": "2025-01-01T00:00:00Z",
        "version": "1.1",
        "publisher": {"name": "X"},
        "releases": rels[:4],
    }
    (tmp_path / "p.json").write_bytes(orjson.dumps(package))
    with gzip.open(tmp_path / "r.jsonl.gz", "wb") as f:
        for r in rels[4:]:
            f.write(orjson.dumps(r) + b"\n")
    (tmp_path / "not-ocds.csv").write_text("a,b\n1,2\n")
    ok = veraz(["import-ocds", str(tmp_path / "p.json"), str(tmp_path / "r.jsonl.gz")], tmp_path, db)
    assert ok.returncode == 0, ok.stderr
    bad = veraz(["import-ocds", str(tmp_path / "not-ocds.csv")], tmp_path, db)
    assert bad.returncode == 1 and "not-ocds.csv" in bad.stderr
    assert (tmp_path / "not-ocds.csv.rejects.jsonl").exists()


def test_real_published_ocds_imports_and_invalid_releases_are_reported(shared_dir, tmp_path):
    db = f"sqlite:///{tmp_path / 'v.sqlite3'}"
    veraz(["db", "upgrade"], tmp_path, db)
    real = shared_dir / "real-ocds"
    files = [str(p) for p in sorted(real.glob("*/raw/**/*")) if p.is_file() and p.stat().st_size]
    assert files
    result = veraz(["import-ocds", *files, "--rejects", str(tmp_path / "rej.jsonl")], tmp_path, db)
    assert "kept although invalid" in result.stderr
    # each schema problem named by file, location, ocid and release id, field and reason
    assert "invalid (kept as published): " in result.stderr
    assert (tmp_path / "rej.jsonl.invalid.jsonl").exists()
    engine = create_engine(db)
    with engine.connect() as conn:
        rows = conn.execute(select(releases.c.ocid, releases.c.valid)).all()
        n_records = conn.execute(select(func.count()).select_from(records)).scalar_one()
    prefixes = {r.ocid.split("-")[1] if r.ocid.startswith("ocds-") else "none" for r in rows}
    assert {"03ad3f", "xs1qbl"} <= prefixes  # Paraguay and Jalisco
    assert any(not r.valid for r in rows) and any(r.valid for r in rows)
    assert n_records >= 300
    engine.dispose()
    # whatever could not be used at all is named with its file
    if result.returncode:
        assert (tmp_path / "rej.jsonl").exists()


@pytest.mark.parametrize("args", [["import-orders", "/nonexistent.jsonl"], ["generate-orders"]])
def test_unusable_arguments_exit_2(tmp_path, args):
    result = veraz(args, tmp_path, f"sqlite:///{tmp_path / 'v.sqlite3'}")
    assert result.returncode == 2


# --- a database the command cannot use: a sentence and exit 3, never a traceback -------------


def _as_any_user() -> list[str]:
    """A prefix under which file modes bind the command as they bind any user: root's
    capabilities to override them are dropped (setpriv, util-linux)."""
    if os.geteuid() != 0:
        return []
    need(shutil.which("setpriv") is not None, "setpriv (util-linux) is not installed")
    caps = "-dac_override,-dac_read_search"
    return ["setpriv", f"--bounding-set={caps}", f"--inh-caps={caps}"]


def _ocds_file(path: Path) -> Path:
    from ocds.catalogue.mapping import map_order

    mapped = map_order(example_order("1-single", orderNumber="OC-2025-999001"), ocid_prefix="ocds-abc123")
    path.write_bytes(
        orjson.dumps(
            {
                "uri": "https://example.org/p.json",
                "version": "1.1",
                "publishedDate": "2025-01-01T00:00:00Z",
                "publisher": {"name": "X"},
                "releases": [mapped.agreement_release, mapped.order_release],
            }
        )
    )
    return path


def _published_with_work_pending(tmp_path: Path) -> tuple[str, Path, Path]:
    """A database with a sealed log, more entries pending, and new files to import."""
    db = f"sqlite:///{tmp_path / 'v.sqlite3'}"
    assert veraz(["db", "upgrade"], tmp_path, db).returncode == 0
    first = veraz(
        ["generate-orders", "--orders", "5", "--seed", "3", "--out", str(tmp_path / "a.jsonl")], tmp_path, db
    )
    assert first.returncode == 0
    assert veraz(["import-orders", str(tmp_path / "a.jsonl")], tmp_path, db).returncode == 0
    assert veraz(["anchor"], tmp_path, db).returncode == 0
    assert (
        veraz(
            ["import-orders", str(write_jsonl(tmp_path / "b.jsonl", [example_order()]))], tmp_path, db
        ).returncode
        == 0
    )  # entries pending: `veraz anchor` must write
    veraz(
        ["generate-orders", "--orders", "5", "--seed", "4", "--out", str(tmp_path / "c.jsonl")], tmp_path, db
    )
    return db, tmp_path / "c.jsonl", _ocds_file(tmp_path / "p.json")


def _said_and_exit_3(result: subprocess.CompletedProcess, words: str) -> None:
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("veraz: the database ")
    assert words in result.stderr


def test_a_read_only_database_file_is_a_sentence(tmp_path):
    db, orders, ocds_file = _published_with_work_pending(tmp_path)
    database = tmp_path / "v.sqlite3"
    database.chmod(0o444)
    prefix = _as_any_user()
    for args in (["import-orders", str(orders)], ["import-ocds", str(ocds_file)], ["anchor"]):
        _said_and_exit_3(veraz(args, tmp_path, db, prefix=prefix), "is read-only")
    # Reading needs no write: the audit and an upgrade with nothing to apply still work.
    audit = veraz(["audit"], tmp_path, db, prefix=prefix)
    assert audit.returncode == 0 and "no problem." in audit.stderr
    # ...except the red flags' recomputation, which writes in a transaction it rolls back: said.
    assert "the red flags were not recomputed" in audit.stderr and "readonly" in audit.stderr
    assert veraz(["db", "upgrade"], tmp_path, db, prefix=prefix).returncode == 0


def test_a_database_in_a_read_only_folder_is_a_sentence(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    db = f"sqlite:///{folder / 'new.sqlite3'}"
    prefix = _as_any_user()
    for args in (["db", "upgrade"], ["audit"]):
        _said_and_exit_3(veraz(args, tmp_path, db, prefix=prefix), "cannot be opened")


def test_a_database_locked_beyond_the_busy_timeout_is_a_sentence(tmp_path):
    """Another process holds SQLite's write lock for longer than the 30 s busy timeout: every
    command that writes says so (they wait side by side); the audit only reads, and works."""
    db, orders, ocds_file = _published_with_work_pending(tmp_path)
    holder = sqlite3.connect(tmp_path / "v.sqlite3", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        commands = [
            ["import-orders", str(orders)],
            ["import-ocds", str(ocds_file)],
            ["anchor"],
            ["db", "upgrade"],
        ]
        running = [veraz(args, tmp_path, db, wait=False) for args in commands]
        audit = veraz(["audit"], tmp_path, db)
        assert audit.returncode == 0 and "no problem." in audit.stderr
        for process in running:
            _, stderr = process.communicate(timeout=120)
            _said_and_exit_3(
                subprocess.CompletedProcess(process.args, process.returncode, "", stderr), "is locked"
            )
    finally:
        holder.rollback()
        holder.close()
