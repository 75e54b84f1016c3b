"""``veraz tokens``: the bearer tokens of the intake API (create, list, revoke) and the report
of refused quote changes.

The secret of a new token is printed once, alone on standard output (so that a script can take
it: ``TOKEN=$(veraz tokens create --scope quotes --name sistema-catalogos)``); everything else
goes to standard error. Only its SHA-256 is stored (``portal.intake.tokens``).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from portal.db import app_engine

_DAYS = re.compile(r"([1-9][0-9]{0,4})d")


def parse_expiry(text: str, now: datetime) -> datetime:
    """``--expires``: ``<n>d`` (days from now), a date (expires at its start, UTC) or an ISO
    8601 date-time with offset."""
    text = text.strip()
    match = _DAYS.fullmatch(text)
    if match:
        return now + timedelta(days=int(match.group(1)))
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(), tzinfo=UTC)
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise click.BadParameter(
            f"{text!r}: give days (90d), a date (2027-06-30) or a date-time with offset "
            "(2027-06-30T00:00:00-05:00)",
            param_hint="--expires",
        )
    return value.astimezone(UTC)


@click.group("tokens")
def tokens_group() -> None:
    """Bearer tokens of the intake API (POST /api/intake/quotes, /orders)."""


@tokens_group.command("create")
@click.option("--scope", type=click.Choice(["quotes", "orders"]), required=True, help="What it may post.")
@click.option("--name", default="", help="Who holds it (shown by `veraz tokens list`).")
@click.option("--expires", default=None, help="90d, 2027-06-30 or a date-time with offset. Default: never.")
@with_appcontext
def create_command(scope: str, name: str, expires: str | None) -> None:
    """Make a token; print its secret once (it is stored only as a hash)."""
    from portal.intake import tokens

    now = datetime.now(UTC)
    expires_at = parse_expiry(expires, now) if expires else None
    if expires_at is not None and expires_at <= now:
        raise click.BadParameter("the expiry is in the past", param_hint="--expires")
    with app_engine().begin() as conn:
        token, secret = tokens.create(conn, scope, name or f"{scope} token", expires_at)
    until = f", expires {token.expires_at.isoformat()}" if token.expires_at else ""
    click.echo(
        f"Token {token.id} ({token.name}, scope {scope}{until}). Keep the secret below now: "
        "it is shown only this once.",
        err=True,
    )
    click.echo(secret)


@tokens_group.command("list")
@with_appcontext
def list_command() -> None:
    """Every token: id, scope, state, name, dates (never a secret)."""
    from portal.intake import tokens

    now = datetime.now(UTC)
    with app_engine().connect() as conn:
        found = tokens.listing(conn)
    if not found:
        click.echo("No tokens. Make one with `veraz tokens create --scope quotes`.", err=True)
        return
    click.echo("id\tscope\tstate\tcreated\texpires\trevoked\tname")
    for t in found:
        dates = [t.created_at, t.expires_at, t.revoked_at]
        shown = "\t".join(d.isoformat(timespec="seconds") if d else "-" for d in dates)
        click.echo(f"{t.id}\t{t.scope}\t{t.state(now)}\t{shown}\t{t.name}")


@tokens_group.command("revoke")
@click.argument("token_id", type=int)
@with_appcontext
def revoke_command(token_id: int) -> None:
    """Revoke token TOKEN_ID: from now on its requests get 403."""
    from portal.intake import tokens

    with app_engine().begin() as conn:
        token = tokens.revoke(conn, token_id)
    if token is None:
        raise click.ClickException(f"there is no token {token_id} (see `veraz tokens list`)")
    assert token.revoked_at is not None
    click.echo(f"Token {token.id} ({token.name}) revoked at {token.revoked_at.isoformat()}.", err=True)


@tokens_group.command("refusals")
@with_appcontext
def refusals_command() -> None:
    """Quotes refused because their id had arrived before with other content."""
    from portal.intake.tables import refusals

    with app_engine().connect() as conn:
        rows = conn.execute(select(refusals).order_by(refusals.c.id)).all()
    if not rows:
        click.echo("No quote was refused for a change of content.", err=True)
        return
    click.echo("refused\ttoken\tocid\tquote\tstored sha256\toffered sha256")
    for r in rows:
        when = r.refused_at.isoformat(timespec="seconds")
        click.echo(f"{when}\t{r.token_id}\t{r.ocid}\t{r.proforma_id}\t{r.stored_hash}\t{r.offered_hash}")
