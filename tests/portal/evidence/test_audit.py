"""``portal.evidence.audit`` classifies what it finds by check, and never prints.

A chain that cannot be opened (here: owned by another process, as the watcher owns the
embedded chain) is not a problem of the log: the report says so and the EVM records are
checked against their checkpoints only. Real SQLite file and PostgreSQL.
"""

from __future__ import annotations

import orjson
from builders import example_order
from evidence_builders import order_ocid, publish_examples
from sqlalchemy import select, update

from portal.cli import main
from portal.db import app_engine
from portal.evidence.audit import Check, Problem, audit
from portal.evidence.backends import Backends
from portal.models import releases


def _anchored(app, runner, tmp_path):
    publish_examples(app, tmp_path)
    assert runner.invoke(main, ["anchor"]).exit_code == 0
    return app_engine(app)


def test_a_clean_log_reads_the_chain_back(app, runner, tmp_path, capsys):
    engine = _anchored(app, runner, tmp_path)
    report = audit(engine, app.config)
    assert report.problems == [] and report.chain_unavailable is None
    assert report.summary.endswith("no problem.")
    assert capsys.readouterr() == ("", "")


def test_problems_carry_their_check(app, runner, tmp_path):
    engine = _anchored(app, runner, tmp_path)
    ocid = order_ocid(example_order("1-single"))
    with engine.begin() as conn:
        row = conn.execute(
            select(releases.c.id, releases.c.release_id, releases.c.data).where(releases.c.ocid == ocid)
        ).first()
        doc = orjson.loads(row.data)
        doc["tender"]["title"] = "altered"
        conn.execute(
            update(releases)
            .where(releases.c.id == row.id)
            .values(data=orjson.dumps(doc, option=orjson.OPT_SORT_KEYS))
        )
    report = audit(engine, app.config)
    who = f"{ocid} release {row.release_id}"
    assert {(p.check, p.subject) for p in report.problems} == {
        (Check.DATA_HASH, who),
        (Check.ENTRY, who),
        (Check.LOG, who),
    }
    assert report.summary.endswith("3 problem(s).")


def test_a_chain_owned_by_another_process_is_a_note_not_a_problem(app, runner, tmp_path):
    engine = _anchored(app, runner, tmp_path)
    owner = Backends(app.config)
    owner.anchorer()  # holds the embedded chain, as a running watcher does
    try:
        report = audit(engine, app.config)
        result = runner.invoke(main, ["audit"])
    finally:
        owner.close()
    assert report.problems == []
    assert "in use by another process" in report.chain_unavailable
    assert result.exit_code == 0 and "the chain could not be opened" in result.output


def test_problems_read_as_the_command_prints_them():
    assert (
        str(Problem(Check.ENTRY, "o release r", "its leaf_index is missing"))
        == "o release r: step entry: its leaf_index is missing"
    )
    assert (
        str(Problem(Check.ANCHOR, "checkpoint 4", "bad token", "rfc3161"))
        == "checkpoint 4: step anchor (rfc3161): bad token"
    )
    assert str(Problem(Check.STORAGE, "log tile 0/0", "tile: differs")) == "log tile 0/0: tile: differs"
