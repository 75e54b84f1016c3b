"""``veraz export``: write (or bring up to date) the bulk downloads served at ``/downloads``.

Exit status: 0 when the export is complete and in place (or already up to date), 1 when it
failed (a full disk, an unwritable folder, another export running): the previous files are
still served and the message says why; 3 when the database cannot be used (``portal.cli``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from portal.db import app_engine


def formats_of(config: dict, tables: bool | None = None, quick: bool = False) -> frozenset[str]:
    """What an export writes: everything, but CSV and XLSX only when ``tables`` (default: the
    EXPORT_TABLES setting); only the compiled releases when ``quick`` (the other formats of
    the years that changed are left as they were, and the manifest says so)."""
    if quick:
        return frozenset({"compiled"})
    if tables is None:
        tables = bool(config.get("EXPORT_TABLES", True))
    return frozenset({"compiled", "packages", *(("csv", "xlsx") if tables else ())})


def run_export(
    config: dict,
    folder: Path | None = None,
    *,
    full: bool = False,
    tables: bool | None = None,
    recompile: bool = False,
    headers: str | None = None,
    quick: bool = False,
):
    """Export the app's database into ``folder`` (default: EXPORT_DIR); raises ExportFailed."""
    from portal.exports import Publication, default_folder, export
    from portal.publishing.pool import worker_count

    return export(
        app_engine(),
        folder or default_folder(config),
        Publication.from_config(config),
        full=full,
        formats=formats_of(config, tables, quick),
        workers=worker_count(config["EXPORT_WORKERS"]),
        recompile=recompile,
        headers=headers or config.get("EXPORT_HEADERS") or "pointer",
    )


def after_import(config: dict) -> None:
    """Bring the bulk downloads up to date after an import, when EXPORT_AFTER_IMPORT is on.

    A failure is said on stderr; the import itself has succeeded and stays."""
    from portal.exports import ExportFailed

    if not config.get("EXPORT_AFTER_IMPORT"):
        return
    try:
        summary = run_export(config, quick=bool(config.get("EXPORT_QUICK", True)))
    except ExportFailed as error:
        click.echo(f"veraz: the bulk downloads were not updated: {error}.", err=True)
        return
    _report(summary, None)


def _report(summary, folder: Path | None) -> None:
    where = f" in {folder}" if folder else ""
    if summary.up_to_date:
        click.echo(f"Bulk downloads{where} are up to date (release {summary.release_id:,}).", err=True)
        return
    years = ", ".join(summary.rebuilt_years) or "none"
    click.echo(
        f"Exported{where}: releases up to {summary.release_id:,} (evidence log size "
        f"{summary.tree_size:,}); years rebuilt: {years}; {len(summary.written)} files written"
        + (f", {len(summary.removed)} removed" if summary.removed else "")
        + ".",
        err=True,
    )
    for skip in summary.skipped:
        click.echo(f"  skipped {skip['name']}: {skip['reason']}", err=True)
    if summary.packages_left:
        click.echo(
            f"  release and record packages of {', '.join(summary.packages_left)} left as they were "
            "(manifest.json lists them in packagesLeft); `veraz export` brings them up to date.",
            err=True,
        )
    if summary.tables_left:
        click.echo(
            f"  CSV and XLSX of {', '.join(summary.tables_left)} left as they were (each says its "
            "snapshot in manifest.json); `veraz export --tables` brings them up to date.",
            err=True,
        )


@click.command("export")
@click.option(
    "--dir",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder of the bulk files (default: the EXPORT_DIR setting, else INSTANCE_PATH/exports).",
)
@click.option("--full", is_flag=True, help="Rebuild every year, not only those with new releases.")
@click.option(
    "--tables/--no-tables",
    default=None,
    help="Rebuild the CSV and XLSX of the years that changed, and of those left behind "
    "(default: the EXPORT_TABLES setting).",
)
@click.option(
    "--quick",
    is_flag=True,
    help="Only the compiled releases, made from the previous export's files (what exports after "
    "imports do, see EXPORT_QUICK): the packages, CSV and XLSX of the years that changed stay "
    "as they were, and the manifest says so.",
)
@click.option(
    "--recompile",
    is_flag=True,
    help="Compile every release again instead of copying the compiled releases of unchanged "
    "processes from the previous export.",
)
@click.option(
    "--headers",
    type=click.Choice(["pointer", "en"]),
    default=None,
    help="CSV and XLSX column headers: JSON Pointers or the OCDS schema's English titles "
    "(default: the EXPORT_HEADERS setting). Spanish titles are not available offline.",
)
@with_appcontext
def export_command(
    folder: Path | None, full: bool, tables: bool | None, quick: bool, recompile: bool, headers: str | None
) -> None:
    """Write the bulk downloads: compiled releases, packages, CSV, XLSX, SHA256SUMS, manifest."""
    from portal.exports import ExportFailed, default_folder

    config = current_app.config
    folder = folder or default_folder(config)
    try:
        summary = run_export(
            config, folder, full=full, tables=tables, recompile=recompile, headers=headers, quick=quick
        )
    except ExportFailed as error:
        click.echo(f"veraz: the export failed: {error}.", err=True)
        sys.exit(1)
    _report(summary, folder)


def export_due(engine, config: dict) -> bool:
    """For ``veraz anchor --watch``: bring the bulk downloads up to date when EXPORT_WATCH is on
    and releases were published since the last export (a cheap check, made every round).
    True when an export ran and finished; a failure is logged and tried again next round."""
    import logging

    from portal import queries
    from portal.exports import ExportFailed, Publication, default_folder, export, read_manifest
    from portal.publishing.pool import worker_count

    if not config.get("EXPORT_WATCH"):
        return False
    folder = default_folder(config)
    manifest = read_manifest(folder)
    with engine.connect() as conn:
        last = queries.last_release_id(conn)
    if manifest is not None and manifest["snapshot"]["release_id"] == last:
        return False
    try:
        summary = export(
            engine,
            folder,
            Publication.from_config(config),
            formats=formats_of(config, quick=bool(config.get("EXPORT_QUICK", True))),
            workers=worker_count(config["EXPORT_WORKERS"]),
            headers=config.get("EXPORT_HEADERS") or "pointer",
        )
    except ExportFailed as error:
        logging.getLogger(__name__).warning("bulk downloads not updated: %s", error)
        return False
    logging.getLogger(__name__).info(
        "bulk downloads exported up to release %s (years %s)",
        summary.release_id,
        ", ".join(summary.rebuilt_years),
    )
    return True
