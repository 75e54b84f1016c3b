"""``veraz search-index rebuild``: the search index, written again from the database."""

from __future__ import annotations

import os
import sys
import time

import click
from flask import current_app
from flask.cli import with_appcontext

from portal.db import app_engine


@click.group("search-index")
def search_index_group() -> None:
    """The search box's index (portal/search/, SEARCH_ENGINE setting)."""


@search_index_group.command("rebuild")
@with_appcontext
def rebuild_command() -> None:
    """Write every process's search document again from the database (and the Whoosh index,
    when SEARCH_ENGINE is whoosh). Search keeps answering meanwhile."""
    from sqlalchemy import func, select

    from portal.models import records
    from portal.search import SearchError, engine_name, rebuild, whoosh_path

    config = current_app.config
    try:
        name = engine_name(config)
    except SearchError as error:
        raise click.UsageError(str(error)) from error
    engine = app_engine()
    with engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(records)).scalar_one()
    show = sys.stderr.isatty() and not os.environ.get("CI")
    started = time.perf_counter()
    if show:
        with click.progressbar(length=total, label="Search documents", file=sys.stderr, show_pos=True) as bar:
            count = rebuild(engine, progress=bar.update)
    else:
        count = rebuild(engine)
    click.echo(
        f"Search documents of {count:,} processes written in {time.perf_counter() - started:.1f} s.", err=True
    )
    if name == "whoosh":
        from portal.search.whoosh_index import whoosh_index_at

        started = time.perf_counter()
        indexed = whoosh_index_at(whoosh_path(config)).rebuild(engine)
        click.echo(
            f"Whoosh index of {indexed:,} documents rebuilt in {time.perf_counter() - started:.1f} s.",
            err=True,
        )
