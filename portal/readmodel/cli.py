"""``veraz reindex``: rebuild the read model (records, item lines, parties) from the releases."""

from __future__ import annotations

import os
import sys
import time

import click
from flask.cli import with_appcontext

from portal.db import app_engine


@click.command("reindex")
@with_appcontext
def reindex_command() -> None:
    """Rebuild every record and the read model (item lines, parties) from the releases."""
    from portal.readmodel.build import process_count, reindex

    engine = app_engine()
    with engine.connect() as conn:
        total = process_count(conn)
    started = time.perf_counter()
    show = sys.stderr.isatty() and not os.environ.get("CI")
    if show:
        with click.progressbar(length=total, label="Reindexing", file=sys.stderr, show_pos=True) as bar:
            summary = reindex(engine, progress=bar.update)
    else:
        summary = reindex(engine)
    seconds = time.perf_counter() - started
    click.echo(
        f"Reindexed {summary.records:,} records in {seconds:.1f} s"
        + (
            f"; {summary.not_compiled:,} processes whose releases cannot be compiled have none"
            if summary.not_compiled
            else ""
        )
        + ".",
        err=True,
    )
