"""The ``veraz`` command: thin wrappers that parse input, call one library function, report.

Exit status: 0 when everything was published, 1 when any record was rejected (the valid ones
are still published) or the work failed for a reason the message gives (a key that is missing
or not the log's, for one), 2 for unusable arguments, 3 when the database cannot be used
(read-only, locked by another process beyond the busy timeout, or cannot be opened). Every
failure ends with a sentence saying what failed and what to do, never a traceback: the
``veraz`` group turns errors into sentences in one place (:class:`VerazGroup`).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import FlaskGroup, ScriptInfo, with_appcontext
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from anchoring.errors import AnchoringError
from portal.dashboards.cli import dashboards_after_import, dashboards_group
from portal.db import app_engine
from portal.evidence.cli import COMMANDS as EVIDENCE_COMMANDS
from portal.evidence.verify_file import verify_file_command
from portal.exports.cli import after_import, export_command
from portal.flags.cli import flags_after_import, flags_group
from portal.intake.cli import tokens_group
from portal.readmodel.cli import reindex_command
from portal.search.cli import search_index_group
from portal.tokens.cli import mint_command
from portal.witness.cli import witness_group

#: Exit status when the database cannot be used (read-only, locked, cannot be opened).
DATABASE_UNAVAILABLE = 3


def _create_app():
    from portal.app import create_app

    return create_app()


def database_problem(error: OperationalError, url: str | None) -> str:
    """A sentence for a database that refused the command, saying what to do about it."""
    where = "the database"
    if url:
        try:
            parsed = make_url(url)
            where += (
                f" {parsed.database}"
                if parsed.drivername.startswith("sqlite")
                else (f" {parsed.render_as_string(hide_password=True)}")
            )
        except ArgumentError:
            pass
    reason = str(getattr(error, "orig", None) or error).strip()
    lowered = reason.lower()
    if "readonly" in lowered or "read-only" in lowered:
        return (
            f"{where} is read-only ({reason}), and this command writes to it: make the "
            "database file and its folder writable by this user, or point DATABASE_URL at a "
            "writable database, and run it again."
        )
    if "locked" in lowered or "busy" in lowered:
        return (
            f"{where} is locked: another process (an import or `veraz anchor`) held its "
            f"write lock for longer than the busy timeout ({reason}); run the command again "
            "when that process is done."
        )
    if "unable to open" in lowered:
        return (
            f"{where} cannot be opened ({reason}): check that its folder exists and that the "
            "file and its folder are readable and writable by this user."
        )
    return f"{where} cannot be used ({reason}): check DATABASE_URL and that the database server is running."


class VerazGroup(FlaskGroup):
    """The ``veraz`` group: a command that fails for a reason the user can act on ends with a
    sentence and an exit status (see the module docstring), never a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except OperationalError as error:
            click.echo(f"veraz: {database_problem(error, _database_url(ctx))}", err=True)
            ctx.exit(DATABASE_UNAVAILABLE)
        except AnchoringError as error:  # a key that is missing or not the log's, a log error
            text = str(error).rstrip(".")
            click.echo(f"veraz: {text[:1].upper()}{text[1:]}.", err=True)
            ctx.exit(1)


def _database_url(ctx: click.Context) -> str | None:
    info = ctx.find_object(ScriptInfo)
    try:
        return str(info.load_app().config["DATABASE_URL"]) if info else None
    except Exception:  # noqa: BLE001 - the sentence then says "the database"
        return None


@click.group(
    cls=VerazGroup,
    create_app=_create_app,
    add_default_commands=False,
    add_version_option=False,
    load_dotenv=False,
)
def main() -> None:
    """Veraz: open public-procurement data (OCDS) with a publicly auditable evidence log."""


# `veraz anchor`, `veraz verify`, `veraz audit`: the evidence log's commands live beside it.
for _command in EVIDENCE_COMMANDS:
    main.add_command(_command)
main.add_command(search_index_group)  # `veraz search-index rebuild`: the search box's index
main.add_command(reindex_command)  # `veraz reindex`: the read model, rebuilt from the releases
main.add_command(verify_file_command)  # `veraz verify-file`: a bulk download against the log
main.add_command(export_command)  # `veraz export`: the bulk downloads (portal/exports/)
main.add_command(witness_group)  # `veraz witness serve`: an independent witness of any Veraz log
main.add_command(flags_group)  # `veraz flags [refresh]`: the red flags (portal/flags/)
main.add_command(mint_command)  # `veraz mint`: the order tokens (portal/tokens/, docs/tokens.md)
main.add_command(tokens_group)  # `veraz tokens`: the intake API's bearer tokens (portal/intake/)
main.add_command(dashboards_group)  # `veraz dashboards refresh`: the charts' summary tables


# --- database ------------------------------------------------------------------------------


@main.group("db")
def db_group() -> None:
    """Database schema (Alembic migrations in migrations/)."""


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@with_appcontext
def db_upgrade(revision: str) -> None:
    """Apply migrations to the configured database."""
    from portal.db import upgrade

    upgrade(current_app.config["DATABASE_URL"], revision)
    click.echo(f"Database at revision {revision}.", err=True)


# --- data ----------------------------------------------------------------------------------


@main.command("generate-orders")
@click.option("--orders", "n", type=click.IntRange(min=1), required=True, help="How many orders.")
@click.option("--seed", type=int, default=1, show_default=True, help="Same seed, same orders.")
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="JSON Lines file to write."
)
def generate_orders(n: int, seed: int, out: Path) -> None:
    """Write realistic, deterministic synthetic catalogue orders (source format)."""
    from ocds.catalogue.generate import write_orders

    write_orders(out, n, seed)
    click.echo(f"Wrote {n:,} orders (seed {seed}) to {out}.", err=True)


def _report(summary, rejects_path: Path | None, what: str) -> None:
    from portal.publishing import write_rejects

    for reject in summary.rejects[:20]:
        click.echo(f"rejected: {reject}", err=True)
    if summary.rejected > 20:
        click.echo(f"... and {summary.rejected - 20:,} more rejects", err=True)
    if summary.rejects and rejects_path is not None:
        write_rejects(rejects_path, summary.rejects)
        click.echo(f"Rejects written to {rejects_path}.", err=True)
    rate = summary.read / summary.seconds if summary.seconds else 0
    click.echo(
        f"{what}: {summary.read:,} read, {summary.published_releases:,} releases published, "
        f"{summary.unchanged:,} unchanged, {summary.invalid_kept:,} kept although invalid, "
        f"{summary.rejected:,} rejected, {summary.records_updated:,} records updated "
        f"in {summary.seconds:.1f} s ({rate:,.0f}/s).",
        err=True,
    )


def _progress_bar(paths: list[Path], unit_bytes: bool):
    total = sum(p.stat().st_size for p in paths) if unit_bytes else None
    show = sys.stderr.isatty() and not os.environ.get("CI")
    return (
        click.progressbar(
            length=total, label="Importing", file=sys.stderr, show_pos=not unit_bytes, show_percent=unit_bytes
        )
        if show
        else None
    )


@main.command("import-orders")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--rejects",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write rejected lines (JSON Lines). Default: <file name>.rejects.jsonl "
    "in the current folder.",
)
@click.option("--workers", type=int, default=None, help="Worker processes (default: setting).")
@click.option(
    "--bulk/--no-bulk",
    default=None,
    help="Bulk load: drop the lookup indexes and rebuild them at the end. Default: "
    "when the file has at least BULK_MIN_ORDERS (50,000) orders, more than are "
    "stored.",
)
@with_appcontext
def import_orders_command(file: Path, rejects: Path | None, workers: int | None, bulk: bool | None) -> None:
    """Publish catalogue orders (source format, JSON Lines) as OCDS releases and records."""
    from portal.publishing import import_orders

    cfg = current_app.config
    bar = _progress_bar([file], unit_bytes=True)

    def on_indexes(event: str) -> None:
        text = {
            "dropped": "Bulk load: lookup indexes dropped; they are rebuilt at the end.",
            "rebuilt": "Lookup indexes rebuilt.",
        }[event]
        click.echo(text, err=True)

    kwargs = dict(
        ocid_prefix=cfg["OCID_PREFIX"],
        batch_size=cfg["IMPORT_BATCH_SIZE"],
        workers=cfg["IMPORT_WORKERS"] if workers is None else workers,
        base_url=cfg["BASE_URL"],  # order PDFs and their QR links
        bulk=bulk,
        bulk_min_orders=cfg["BULK_MIN_ORDERS"],
        on_indexes=on_indexes,
    )
    if bar is None:
        summary = import_orders(app_engine(), file, **kwargs)
    else:
        with bar:
            summary = import_orders(app_engine(), file, progress=bar.update, **kwargs)
    _report(summary, rejects or Path(file.name + ".rejects.jsonl"), "Orders")
    after_import(cfg)  # the bulk downloads, when EXPORT_AFTER_IMPORT is on
    dashboards_after_import(cfg)  # the dashboards' summary tables
    flags_after_import(cfg)  # the red flags, when FLAGS_AFTER_IMPORT is on
    sys.exit(1 if summary.rejected else 0)


@main.command("import-ocds")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--rejects",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write rejected records (JSON Lines).",
)
@with_appcontext
def import_ocds_command(files: tuple[Path, ...], rejects: Path | None) -> None:
    """Ingest existing OCDS: release/record packages, JSON Lines, gzip; 1.0 is upgraded."""
    from portal.publishing import import_ocds

    bar = _progress_bar(list(files), unit_bytes=False)
    if bar is None:
        summary = import_ocds(app_engine(), files)
    else:
        with bar:
            summary = import_ocds(app_engine(), files, progress=bar.update)
    for problem in summary.invalid[:20]:
        click.echo(f"invalid (kept as published): {problem}", err=True)
    if len(summary.invalid) > 20:
        click.echo(f"... and {len(summary.invalid) - 20:,} more schema problems", err=True)
    report = Path(str(rejects or files[0].name) + ".invalid.jsonl") if summary.invalid else None
    if report is not None:
        from portal.publishing import write_rejects

        write_rejects(report, summary.invalid)
        click.echo(f"Schema problems of kept releases written to {report}.", err=True)
    for file_report in summary.files:
        click.echo(str(file_report), err=True)
    if summary.linked:
        click.echo(
            f"{len(summary.linked):,} records point to releases they do not embed (linked "
            "releases): those are not imported; import the release packages they link to.",
            err=True,
        )
    _report(summary, rejects or Path(files[0].name + ".rejects.jsonl"), "OCDS")
    after_import(current_app.config)  # the bulk downloads, when EXPORT_AFTER_IMPORT is on
    dashboards_after_import(current_app.config)  # the dashboards' summary tables
    flags_after_import(current_app.config)  # the red flags, when FLAGS_AFTER_IMPORT is on
    sys.exit(1 if summary.rejected else 0)


@main.command("demo")
@click.option("--orders", "n", type=int, default=None, help="Default: DEMO_ORDERS setting.")
@with_appcontext
def demo(n: int | None) -> None:
    """Migrate, and load the demo dataset when the database holds no release."""
    from sqlalchemy import func, select

    from ocds.catalogue.generate import write_orders
    from portal.db import upgrade
    from portal.models import releases
    from portal.publishing import import_orders

    cfg = current_app.config
    upgrade(cfg["DATABASE_URL"])
    with app_engine().connect() as conn:
        count = conn.execute(select(func.count()).select_from(releases)).scalar_one()
    if count:
        click.echo(f"Database already holds {count:,} releases; demo data not loaded.", err=True)
        return
    n = n or cfg["DEMO_ORDERS"]
    path = Path(cfg["INSTANCE_PATH"]) / f"demo-orders-{n}-{cfg['DEMO_SEED']}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_orders(path, n, cfg["DEMO_SEED"])
    summary = import_orders(
        app_engine(),
        path,
        ocid_prefix=cfg["OCID_PREFIX"],
        batch_size=cfg["IMPORT_BATCH_SIZE"],
        workers=cfg["IMPORT_WORKERS"],
        base_url=cfg["BASE_URL"],
    )  # order PDFs and their QR links
    _report(summary, None, "Demo orders")
    dashboards_after_import(cfg)  # the dashboards' summary tables
    flags_after_import(cfg)  # the red flags of the demo's planted anomalies


@main.command("settings")
@click.option("--markdown", is_flag=True, help="Print docs/settings.md.")
def settings_command(markdown: bool) -> None:
    """List every setting with its meaning."""
    from portal.settings import SETTINGS, settings_markdown

    if markdown:
        click.echo(settings_markdown(), nl=False)
        return
    for s in SETTINGS:
        click.echo(f"{s.name}: {s.help}")


@main.command("serve")
@click.option("--bind", default=None, help="host:port to listen on (default: WEB_BIND setting).")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Gunicorn worker processes (default: WEB_WORKERS setting).",
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=None,
    help="Threads per worker (default: WEB_THREADS setting).",
)
def serve(bind: str | None, workers: int | None, threads: int | None) -> None:
    """Serve the portal with gunicorn (`make run` uses this command too)."""
    from portal.settings import load_settings

    # The settings alone, not the app: gunicorn's workers build their own.
    cfg = load_settings()
    # gthread: phones keep connections open; threads serve them without blocking a worker
    # (measured about 30% more requests/s than sync workers in bench/verify.py).
    os.execvp(
        sys.executable,
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            str(workers or cfg["WEB_WORKERS"]),
            "--worker-class",
            "gthread",
            "--threads",
            str(threads or cfg["WEB_THREADS"]),
            "--bind",
            bind or cfg["WEB_BIND"],
            "--access-logfile",
            "-",
            "portal.wsgi:app",
        ],
    )
