"""``veraz anchor``, ``veraz verify`` and ``veraz audit``: thin commands over portal.evidence.

``portal.cli`` adds :data:`COMMANDS` to the ``veraz`` group; this module knows nothing of it.

Exit status: ``anchor`` 0 when every anchor is done and every evidence PDF due was signed,
1 when some remain pending or a PDF could not be signed (they are retried; each failure is
a line saying why) or a key is missing or not the one already used (``portal.cli`` prints
the sentence); ``verify`` 0 when every step passed or was skipped because its input was not given
(said so in the output), 1 when a step failed,
2 for unusable arguments; ``audit`` 0 when the log checks out, 1 on any problem.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click
import orjson
from flask import current_app
from flask.cli import with_appcontext

from portal.db import app_engine


@click.command("anchor")
@click.option(
    "--watch",
    is_flag=True,
    help="Run the schedule: seal every CHECKPOINT_INTERVAL seconds or when "
    "PENDING_ENTRIES_TRIGGER entries are pending, anchor with retries.",
)
@click.option(
    "--tick",
    type=float,
    default=5.0,
    show_default=True,
    help="Seconds between two rounds of --watch.",
)
@with_appcontext
def anchor_command(watch: bool, tick: float) -> None:
    """Seal a checkpoint over the pending entries and anchor it (EVM chain, RFC 3161)."""
    from portal.evidence.sealing import anchoring_lock

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    with anchoring_lock(current_app.config) as holder:
        if holder is None:
            _anchor(watch, tick)
            return
    if watch:
        click.echo(f"Another anchoring process (pid {holder}) is running; only one may.", err=True)
        sys.exit(1)
    from portal.evidence.sealing import seal

    # The running watcher anchors on its schedule; sealing is safe alongside it.
    sealed = seal(app_engine(), current_app.config, force=True)
    click.echo(
        (f"Sealed checkpoint {sealed.size}; " if sealed else "Nothing to seal; ")
        + f"anchoring is left to the running watcher (pid {holder}).",
        err=True,
    )


def _anchor(watch: bool, tick: float) -> None:
    from portal.evidence.backends import Backends
    from portal.evidence.sealing import EVIDENCE_PDF, run_once
    from portal.evidence.sealing import watch as watch_loop
    from portal.witness.submit import WITNESS

    backends = Backends(current_app.config)
    try:
        if watch:
            click.echo(
                f"Watching: checkpoint every {current_app.config['CHECKPOINT_INTERVAL']} s "
                f"or {current_app.config['PENDING_ENTRIES_TRIGGER']} pending entries.",
                err=True,
            )
            watch_loop(app_engine(), current_app.config, backends, tick=tick)
            return
        results = run_once(app_engine(), current_app.config, backends)
    finally:
        backends.close()
    for r in results:
        detail = f": {r.detail}" if r.detail else ""
        click.echo(f"checkpoint {r.tree_size} {r.type}: {r.status}{detail}", err=True)
    # A witness not reached is retried by the next run and never holds up the anchors.
    waiting = [r for r in results if r.type == WITNESS and r.status != "done"]
    if waiting:
        click.echo(
            f"{len(waiting)} witness(es) did not cosign yet; the next `veraz anchor` asks again.", err=True
        )
    pending = [r for r in results if r.status != "done" and r.type != WITNESS]
    if pending:
        pdfs = sum(r.type == EVIDENCE_PDF for r in pending)
        click.echo(
            f"{len(pending) - pdfs} anchor(s) still pending, {pdfs} evidence PDF(s) not signed; "
            "`veraz anchor` tries again, and `veraz anchor --watch` retries them with backoff.",
            err=True,
        )
        sys.exit(1)


def _release_from(path: Path, ocid: str, release_id: str):
    """The release in a file: a bare release, or the matching one of a release package."""
    try:
        data = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise click.BadParameter(f"{path} is not JSON: {exc}", param_hint="--release") from None
    if isinstance(data, dict) and isinstance(data.get("releases"), list):
        for release in data["releases"]:
            if (
                isinstance(release, dict)
                and release.get("ocid") == ocid
                and str(release.get("id")) == release_id
            ):
                return release
        return data["releases"][0] if len(data["releases"]) == 1 else data
    return data


@click.command("verify")  # no app, no database
@click.argument("bundle", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--release",
    "release_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The release (or a release package holding it) to hash.",
)
@click.option(
    "--document",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The order's PDF, to hash.",
)
@click.option("--rpc", help="JSON-RPC URL of a node of the anchor's chain, to read the anchor.")
@click.option(
    "--tsa-ca",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="PEM of the CA of the TSA, to verify the timestamp token and its kept revocation evidence.",
)
@click.option(
    "--key",
    "pinned",
    help="The log's C2SP verifier key (or a file holding it), obtained independently, to pin.",
)
@click.option("--sender", help="The portal's published anchoring address, to require it.")
@click.option(
    "--relay-hub",
    help="LACChain: the network's RelayHub address, to accept an anchor contract that takes "
    "its senders from that hub (VerazRelayedAnchor).",
)
@click.option(
    "--witness",
    "witnesses",
    multiple=True,
    help="A witness's cosigner verifier key (or a file holding it), obtained independently; repeatable.",
)
@click.option(
    "--witnesses-required",
    type=click.IntRange(min=0),
    default=None,
    help="Valid cosignatures by distinct --witness keys needed (default: all of them).",
)
@click.option(
    "--quote",
    "quote_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="With a proforma bundle: the quote (proforma JSON) to hash.",
)
def verify_command(
    bundle: Path,
    release_file: Path | None,
    document: Path | None,
    rpc: str | None,
    tsa_ca: Path | None,
    pinned: str | None,
    sender: str | None,
    quote_file: Path | None,
    witnesses: tuple[str, ...],
    witnesses_required: int | None,
    relay_hub: str | None,
) -> None:
    """Check a proof bundle (of a release or of one proforma) step by step, without the
    portal or its database."""
    from anchoring.bundle import BundleError, ProformaProofBundle, load_bundle, verify_bundle, witness_step
    from anchoring.bundle_network import verify_evm_anchors, verify_timestamps

    try:
        proof = load_bundle(bundle.read_bytes())
    except BundleError as exc:
        click.echo(f"FAIL  bundle: {exc}")
        sys.exit(1)
    if pinned and Path(pinned).is_file():
        pinned = Path(pinned).read_text().strip()
    witness_keys = [Path(w).read_text().strip() if Path(w).is_file() else w for w in witnesses]
    if witnesses_required is not None and witnesses_required > len(witness_keys):
        raise click.UsageError(
            f"--witnesses-required {witnesses_required} is more than the --witness keys given"
        )
    if isinstance(proof, ProformaProofBundle):
        if release_file or document:
            raise click.UsageError(
                "a proforma bundle proves one quote: give it --quote, not --release or --document"
            )
        steps = _proforma_steps(proof, quote_file, pinned)
        what = f"{proof.ocid} proforma {proof.proforma_id}"
    else:
        if quote_file:
            raise click.UsageError("--quote goes with a proforma bundle (/api/proofs/<ocid>/proformas/<id>)")
        release = _release_from(release_file, proof.ocid, proof.release_id) if release_file else None
        steps = verify_bundle(
            proof,
            release=release,
            document=document.read_bytes() if document else None,
            pinned_key=pinned,
        )
        what = f"{proof.ocid} release {proof.release_id}"
    if proof.status == "complete":
        steps += witness_step(proof, witness_keys, witnesses_required)
        steps += verify_evm_anchors(proof, rpc, sender=sender, relay_hub=relay_hub)
        steps += verify_timestamps(proof, tsa_ca.read_bytes() if tsa_ca else None)
    size = f", tree size {proof.tree_size}" if proof.tree_size else ""
    click.echo(f"Proof bundle for {what} (leaf {proof.leaf_index}{size}):")
    for step in steps:
        click.echo(f"{step.status:<5} {step.name}: {step.detail}")
    failed = [s.name for s in steps if s.status == "FAIL"]
    skipped = [s.name for s in steps if s.status == "SKIP"]
    if failed:
        click.echo(f"NOT VERIFIED: failing step(s): {', '.join(failed)}.")
        sys.exit(1)
    if skipped:
        # Every SKIP is a step whose input was not given (--release, --document, --quote,
        # --rpc, --tsa-ca): what was checked passed, and the output says what was not.
        click.echo(f"VERIFIED, except step(s) skipped for lack of input: {', '.join(skipped)}.")
        return
    click.echo("VERIFIED: every step passed.")


def _proforma_steps(proof, quote_file: Path | None, pinned: str | None):
    from anchoring.bundle import verify_proforma_bundle

    quote = None
    if quote_file:
        try:
            quote = orjson.loads(quote_file.read_bytes())
        except orjson.JSONDecodeError as exc:
            raise click.BadParameter(f"{quote_file} is not JSON: {exc}", param_hint="--quote") from None
    return verify_proforma_bundle(proof, proforma=quote, pinned_key=pinned)


@click.command("audit")
@with_appcontext
def audit_command() -> None:
    """Re-derive every entry from the published data and check the log, checkpoints, anchors."""
    from portal.evidence.audit import audit

    report = audit(app_engine(), current_app.config)
    for p in report.problems:
        click.echo(f"PROBLEM {p}")
    if report.chain_unavailable:
        click.echo(
            "note: the chain could not be opened (owned by the watcher or unreachable): EVM "
            "anchor records were checked against their checkpoints, not read from the chain "
            f"({report.chain_unavailable})",
            err=True,
        )
    if report.flags_unchecked:
        click.echo(
            "note: the red flags were not recomputed: that check writes inside a transaction it "
            f"rolls back, and this database cannot be written now ({report.flags_unchecked}); "
            "run the audit where it can be, to check them",
            err=True,
        )
    click.echo(report.summary, err=True)
    sys.exit(1 if report.problems else 0)


#: The commands ``portal.cli`` adds to ``veraz``.
COMMANDS = (anchor_command, verify_command, audit_command)
