"""``veraz flags``: the red flags for researchers (per ocid, buyer and supplier), and
``veraz flags refresh`` to bring them up to date after an import."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from portal.db import app_engine


def flags_after_import(config) -> None:
    """Bring the red flags up to date after an import, when FLAGS_AFTER_IMPORT is on (a
    partial refresh: the groups the new releases touch). A failure is said on stderr; the
    import itself has succeeded and stays."""
    from sqlalchemy import inspect
    from sqlalchemy.exc import SQLAlchemyError

    from portal.flags import refresh, thresholds

    if not config.get("FLAGS_AFTER_IMPORT"):
        return
    engine = app_engine()
    try:
        if not inspect(engine).has_table("flag_state"):
            return  # a database migrated before the flags' tables (0015): nothing to refresh
        refresh(engine, thresholds(config))
    except (SQLAlchemyError, ValueError) as error:
        click.echo(
            f"veraz: the red flags were not refreshed ({type(error).__name__}); run `veraz flags refresh`.",
            err=True,
        )


def _refresh(full: bool) -> None:
    from portal.flags import refresh, thresholds

    result = refresh(app_engine(), thresholds(current_app.config), full=full)
    steps = ", ".join(f"{k} {v:.1f} s" for k, v in result.seconds.items())
    kind = "full" if result.full else "partial"
    click.echo(
        f"Flags refreshed ({kind}): {result.processes:,} processes read, {result.hits:,} flags ({steps}).",
        err=True,
    )


@click.group("flags", invoke_without_command=True)
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json", show_default=True)
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), help="File to write (default: standard output)."
)
@click.option(
    "--planted",
    type=(int, int),
    metavar="ORDERS SEED",
    help="Also report (stderr) recall on the planted anomalies of "
    "`generate-orders --orders ORDERS --seed SEED`.",
)
@click.pass_context
@with_appcontext
def flags_group(ctx: click.Context, fmt: str, out: Path | None, planted: tuple[int, int] | None) -> None:
    """Refresh the red flags, then write every flagged order, buyer, supplier, pair and
    catalogue (JSON: definitions and flags; CSV: one row per flagged thing)."""
    if ctx.invoked_subcommand is not None:
        return
    from portal.flags import FLAGS, all_rows

    _refresh(full=False)
    engine = app_engine()
    stream = out.open("w", encoding="utf-8", newline="") if out else sys.stdout
    try:
        with engine.connect() as conn:
            if fmt == "csv":
                from portal.flags.queries import COLUMNS

                writer = csv.writer(stream)
                writer.writerow(COLUMNS)
                for row in all_rows(conn):
                    writer.writerow(
                        [
                            json.dumps(row[c], ensure_ascii=False, sort_keys=True)
                            if c == "detail"
                            else ("" if row[c] is None else row[c])
                            for c in COLUMNS
                        ]
                    )
            else:
                stream.write('{"flags": ')
                stream.write(json.dumps([f.as_json() for f in FLAGS], ensure_ascii=False))
                stream.write(', "flagged": [')
                for i, row in enumerate(all_rows(conn)):
                    stream.write(
                        ("," if i else "") + "\n" + json.dumps(row, ensure_ascii=False, sort_keys=True)
                    )
                stream.write("\n]}\n")
            if planted is not None:
                from ocds.catalogue.generate import planted_anomalies
                from portal.flags.planted import evaluate

                result = evaluate(conn, planted_anomalies(*planted))
                click.echo(json.dumps(result, indent=1), err=True)
    finally:
        if out:
            stream.close()


@flags_group.command("refresh")
@click.option("--full", is_flag=True, help="Recompute everything, also the figures that span every group.")
@with_appcontext
def refresh_command(full: bool) -> None:
    """Bring the red flags up to date with the published releases."""
    _refresh(full)
