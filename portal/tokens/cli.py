"""``veraz mint``: mint the order tokens (``portal.tokens.mint``), deploy or check the contract.

Exit status: 0 when every order has its token (or, with ``--check``, every recorded token is on
chain as recorded), 1 when something is left to do or wrong (a line says what), or when the chain
cannot be reached or a key is not the anchoring one (``portal.cli`` prints the sentence).
"""

from __future__ import annotations

import logging
import sys

import click
from flask import current_app
from flask.cli import with_appcontext

from portal.db import app_engine


@click.command("mint")
@click.option("--deploy", is_flag=True, help="Deploy a VerazOrderToken contract and print its address.")
@click.option("--check", is_flag=True, help="Re-read every recorded token from the chain.")
@click.option("--batches", type=click.IntRange(min=1), default=None, help="Stop after this many batches.")
@with_appcontext
def mint_command(deploy: bool, check: bool, batches: int | None) -> None:
    """Mint one locked ERC-721 token per published order, in batches (TOKENS_MINT)."""
    from portal.evidence.backends import Backends
    from portal.evidence.sealing import anchoring_lock
    from portal.tokens import mint

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    config = current_app.config
    if not (deploy or check) and not mint.enabled(config):
        click.echo("TOKENS_MINT is off: nothing minted (docs/tokens.md).", err=True)
        sys.exit(1)
    with anchoring_lock(config) as holder:
        if holder is not None:
            click.echo(
                f"The anchoring watcher (pid {holder}) holds the chain and mints after each round; "
                "run this command when it is stopped.",
                err=True,
            )
            sys.exit(1)
        backends = Backends(config)
        try:
            with app_engine().connect() as conn:
                backends.expect(conn)
            if deploy:
                click.echo(mint.deploy(config, backends))
                return
            minter = mint.open_minter(config, backends)
            if check:
                problems = mint.check(app_engine(), minter)
                for p in problems:
                    click.echo(f"{p.ocid}: {p.reason}")
                click.echo(f"{len(problems)} problem(s).", err=True)
                sys.exit(1 if problems else 0)
            report = mint.mint_pending(app_engine(), config, minter, max_batches=batches)
        finally:
            backends.close()
    for error in report.errors:
        click.echo(error, err=True)
    click.echo(
        f"Minted {report.minted} order token(s) in {report.batches} batch(es), gas {report.gas_used}; "
        f"{report.adopted} found on chain and recorded; {report.failed} batch(es) without effect.",
        err=True,
    )
    if report.errors:
        sys.exit(1)
