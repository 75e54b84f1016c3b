"""``veraz verify-file FILE --bundle BUNDLE``: check a downloaded bulk file against the log.

Offline from its bundle: the file's SHA-256 and size must be those of the logged ``bulk``
entry, the entry must be in a checkpoint signed by the log's key (pinned with ``--key``), and
the checkpoint's anchors, timestamps and cosignatures check as for a release's bundle.

``--releases --log URL`` also checks every release inside the file: the log's entries up to the
checkpoint are fetched from ``URL/api/log/entries`` and proven by recomputing the checkpoint's
root from them (so the portal cannot serve a different list), then each release's RFC 8785
SHA-256 is looked up among the logged release entries: verified (logged with this hash),
altered (its ocid and id were logged with another hash) or unknown (never logged).
"""

from __future__ import annotations

import base64
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import click
import orjson


def _entries(url: str, size: int) -> Iterator[bytes]:
    """The log's entries ``[0, size)`` from a portal's ``/api/log/entries``, page by page."""
    start = 0
    while start < size:
        address = f"{url.rstrip('/')}/api/log/entries?start={start}"
        try:
            with urllib.request.urlopen(address, timeout=60) as response:  # noqa: S310 - the user's URL
                page = orjson.loads(response.read())
        except (OSError, ValueError) as error:  # unreachable, refused, an HTTP error, not JSON
            raise click.ClickException(f"cannot read the log's entries at {address}: {error}") from None
        items = page.get("entries") if isinstance(page, dict) else None
        if not isinstance(items, list):
            raise click.ClickException(f"{address} did not answer a page of log entries")
        if not items:
            raise click.ClickException(f"{address} returned no entries before size {size}")
        for item in items:
            if start >= size:
                return
            if item.get("index") != start:
                raise click.ClickException(f"{address}: entry {item.get('index')} where {start} was due")
            yield base64.b64decode(item["base64"])
            start += 1


def _logged_releases(url: str, size: int, root: bytes) -> dict[tuple[str, str], str]:
    """``{(ocid, release id): data hash}`` of the release entries among the first ``size``,
    after checking that those entries give ``root`` (the verified checkpoint's)."""
    from anchoring.entries import ReleaseEntry, decode_entry
    from anchoring.merkle import leaf_hash, root_from_leaves

    leaves: list[bytes] = []
    logged: dict[tuple[str, str], str] = {}
    for data in _entries(url, size):
        leaves.append(leaf_hash(data))
        entry = decode_entry(data)
        if isinstance(entry, ReleaseEntry):
            logged[(entry.ocid, entry.release_id)] = entry.data_hash.hex()
    if root_from_leaves(leaves) != root:
        raise click.ClickException(
            f"the {size} entries served by {url} do not give the checkpoint's root: not the logged list"
        )
    return logged


def _check_releases(path: Path, logged: dict[tuple[str, str], str]) -> int:
    """Print how many releases in ``path`` were verified, altered or unknown; their count of
    failures (altered + unknown + unreadable)."""
    from anchoring.bundle import release_hash
    from ocds.ingest import iter_ocds

    verified = 0
    altered: list[str] = []
    unknown: list[str] = []
    other: list[str] = []
    for item in iter_ocds(path):
        if item.release is None:
            why = "; ".join(str(p) for p in item.problems) or "not a release"
            other.append(f"{item.location}: {why}")
            continue
        tags = item.release.get("tag")
        if isinstance(tags, list) and "compiled" in tags:
            other.append(f"{item.location}: a compiled release (derived from the logged releases)")
            continue
        key = (str(item.release.get("ocid")), str(item.release.get("id")))
        want = logged.get(key)
        got = release_hash(item.release)
        if want == got:
            verified += 1
        elif want is None:
            unknown.append(f"{item.location}: {key[0]} release {key[1]} (sha256 {got})")
        else:
            altered.append(f"{item.location}: {key[0]} release {key[1]}: sha256 {got}, logged {want}")
    click.echo(
        f"Releases: {verified:,} verified, {len(altered):,} altered, {len(unknown):,} unknown, "
        f"{len(other):,} not releases (compiled releases and unreadable parts are not logged)."
    )
    for label, found in (("ALTERED", altered), ("UNKNOWN", unknown), ("NOT A RELEASE", other)):
        for line in found[:20]:
            click.echo(f"{label}  {line}")
        if len(found) > 20:
            click.echo(f"{label}  ... and {len(found) - 20:,} more")
    return len(altered) + len(unknown)


@click.command("verify-file")  # no app, no database
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--bundle",
    "bundle_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The file's proof bundle (/api/proofs/files/<name>).",
)
@click.option("--key", "pinned", help="The log's C2SP verifier key (or a file holding it), to pin.")
@click.option("--rpc", help="JSON-RPC URL of a node of the anchor's chain, to read the anchor.")
@click.option("--sender", help="The portal's published anchoring address, to require it.")
@click.option(
    "--tsa-ca",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="PEM of the CA of the TSA, to verify the timestamp token.",
)
@click.option("--witness", "witnesses", multiple=True, help="A witness's verifier key (or file); repeatable.")
@click.option("--witnesses-required", type=click.IntRange(min=0), default=None)
@click.option("--releases", is_flag=True, help="Also check every release inside the file against the log.")
@click.option("--log", "log_url", help="With --releases: the portal's address, to read the log's entries.")
def verify_file_command(
    file: Path,
    bundle_file: Path,
    pinned: str | None,
    rpc: str | None,
    sender: str | None,
    tsa_ca: Path | None,
    witnesses: tuple[str, ...],
    witnesses_required: int | None,
    releases: bool,
    log_url: str | None,
) -> None:
    """Check a downloaded bulk file against the evidence log, step by step, without the
    portal's database: its bytes are those logged, in a signed and anchored checkpoint."""
    from anchoring import notes
    from anchoring.bundle import BundleError, witness_step
    from anchoring.bundle_network import verify_evm_anchors, verify_timestamps
    from anchoring.errors import AnchoringError
    from anchoring.file_bundle import FileProofBundle, file_digest, verify_file_bundle

    if releases and not log_url:
        raise click.UsageError("--releases needs --log URL (the portal whose log to read)")
    try:
        proof = FileProofBundle.from_json(bundle_file.read_bytes())
    except BundleError as exc:
        click.echo(f"FAIL  bundle: {exc}")
        sys.exit(1)
    if pinned and Path(pinned).is_file():
        pinned = Path(pinned).read_text().strip()
    keys = [Path(w).read_text().strip() if Path(w).is_file() else w for w in witnesses]
    if witnesses_required is not None and witnesses_required > len(keys):
        raise click.UsageError(
            f"--witnesses-required {witnesses_required} is more than the --witness keys given"
        )
    sha256, size = file_digest(file)
    steps = verify_file_bundle(
        proof, file_sha256=sha256, file_size=size, file_name=file.name, pinned_key=pinned
    )
    if proof.status == "complete":
        steps += witness_step(proof, keys, witnesses_required)
        steps += verify_evm_anchors(proof, rpc, sender=sender)  # type: ignore[arg-type]
        steps += verify_timestamps(proof, tsa_ca.read_bytes() if tsa_ca else None)  # type: ignore[arg-type]
    click.echo(f"Proof bundle for file {proof.name} (leaf {proof.leaf_index}, tree size {proof.tree_size}):")
    for step in steps:
        click.echo(f"{step.status:<5} {step.name}: {step.detail}")
    failed = [s.name for s in steps if s.status == "FAIL"]
    proven = {s.name for s in steps if s.status == "PASS"} >= {"checkpoint-signature", "inclusion"}
    if releases and not proven:
        click.echo("Releases not checked: the checkpoint they would be checked against is not verified.")
    elif releases:
        # Also when the file's bytes are not the logged file's: which releases differ is what
        # a reader of an altered file wants to know.
        assert proof.checkpoint is not None and proof.tree_size is not None
        try:
            root = notes.verify_checkpoint(proof.checkpoint, proof.key or "").root
        except AnchoringError as exc:  # pragma: no cover - the checkpoint step passed
            raise click.ClickException(str(exc)) from None
        if _check_releases(file, _logged_releases(log_url or "", proof.tree_size, root)):
            failed.append("releases")
    if failed:
        click.echo(f"NOT VERIFIED: failing step(s): {', '.join(failed)}.")
        sys.exit(1)
    skipped = [s.name for s in steps if s.status == "SKIP"]
    if skipped:
        click.echo(f"VERIFIED, except step(s) skipped for lack of input: {', '.join(skipped)}.")
        return
    click.echo("VERIFIED: every step passed.")
