"""``veraz dashboards refresh``: the dashboards' summary tables (``portal.dashboards.rollup``),
also refreshed at the end of every import."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from portal.db import app_engine


def dashboards_after_import(config) -> None:
    """Bring the summary tables up to date after an import (the records it wrote). A failure is
    said on stderr; the import has succeeded, and the charts read ``records`` until a refresh."""
    from sqlalchemy import inspect
    from sqlalchemy.exc import SQLAlchemyError

    from portal.dashboards import rollup

    engine = app_engine()
    try:
        if not inspect(engine).has_table("dash_state"):
            return  # a database migrated before the summary tables (0022)
        rollup.refresh(engine)
    except SQLAlchemyError as error:
        click.echo(
            f"veraz: the dashboards' summaries were not refreshed ({type(error).__name__}); "
            "run `veraz dashboards refresh`.",
            err=True,
        )


@click.group("dashboards")
def dashboards_group() -> None:
    """The dashboards' summary tables."""


@dashboards_group.command("refresh")
@click.option("--full", is_flag=True, help="Sum every order again instead of the records written since.")
@with_appcontext
def refresh_command(full: bool) -> None:
    """Bring the dashboards' summary tables up to date with the read model."""
    from portal.dashboards import rollup

    result = rollup.refresh(app_engine(), full=full)
    kind = "full" if result.full else "partial"
    why = f" ({'; '.join(result.reasons)})" if result.reasons else ""
    click.echo(
        f"Dashboards' summaries refreshed ({kind}{why}): {result.orders:,} orders read, "
        f"{result.changed:,} changed, {result.rows:,} summary rows written, {result.seconds:.1f} s."
    )
