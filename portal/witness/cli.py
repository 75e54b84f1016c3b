"""``veraz witness key`` and ``veraz witness serve``: run a witness for any Veraz log.

The witness needs no portal settings or database: only its key file, its own SQLite file and
the logs it follows (each log's C2SP verifier key; the key name is the log's origin, as Veraz
checkpoints are signed with a key named after their origin).
"""

from __future__ import annotations

import logging
from pathlib import Path

import click

from anchoring.cosignature import CosignatureSigner
from anchoring.errors import KeyFileError, SignatureError
from anchoring.keyfiles import create_private, read_private
from anchoring.notes import NoteVerifier


def load_witness_key(path: Path) -> CosignatureSigner:
    """The witness's key in ``path`` (mode 0600, owned by the current user); never created here.

    A key file that may not be used ends the command with the sentence saying why (also under
    ``python -m portal.witness``, which has no ``veraz`` group to turn errors into sentences).
    """
    try:
        text = read_private(path)
        return CosignatureSigner.from_private_key_string(text.decode("ascii", errors="replace"))
    except KeyFileError as error:
        raise click.ClickException(str(error)) from None


def parse_logs(keys: tuple[str, ...], files: tuple[Path, ...]) -> dict[str, list[NoteVerifier]]:
    """The followed logs by origin: verifier keys given by ``--log`` and in ``--logs`` files
    (one key a line; blank lines and lines starting with ``#`` are skipped)."""
    lines = list(keys)
    for file in files:
        lines += [line.strip() for line in file.read_text(encoding="utf-8").splitlines()]
    logs: dict[str, list[NoteVerifier]] = {}
    for line in lines:
        if not line or line.startswith("#"):
            continue
        try:
            verifier = NoteVerifier.parse(line)
        except SignatureError as error:
            raise click.BadParameter(str(error), param_hint="--log/--logs") from None
        logs.setdefault(verifier.name, []).append(verifier)
    return logs


@click.group("witness")
def witness_group() -> None:
    """An independent witness (C2SP tlog-witness) that cosigns a log's checkpoints."""


@witness_group.command("key")
@click.option("--key", "key_file", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--name", default=None, help="The witness's name (a schema-less URL) for a new key.")
def key_command(key_file: Path, name: str | None) -> None:
    """Print the witness's verifier key, creating the key file (0600) first if it is absent."""
    if not key_file.exists():
        if not name:
            raise click.UsageError("--name is needed to create a new witness key")
        try:
            signer = CosignatureSigner.generate(name)
        except SignatureError as error:
            raise click.BadParameter(str(error), param_hint="--name") from None
        key_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            create_private(key_file, (signer.private_key_string() + "\n").encode("ascii"))
        except FileExistsError:
            raise click.ClickException(f"{key_file} was created meanwhile; run the command again") from None
    else:
        signer = load_witness_key(key_file)
        if name and name != signer.name:
            raise click.ClickException(f"key file {key_file} holds the witness {signer.name!r}, not {name!r}")
    click.echo(str(signer.verifier()))


@witness_group.command("serve")
@click.option("--key", "key_file", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--db", "db_file", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--bind", default="127.0.0.1:8010", show_default=True, help="host:port to listen on.")
@click.option("--prefix", default="", help="Submission prefix: POST <prefix>/add-checkpoint.")
@click.option("--log", "log_keys", multiple=True, help="A followed log's verifier key (repeatable).")
@click.option(
    "--logs",
    "log_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A file of followed logs' verifier keys, one a line (repeatable).",
)
def serve_command(
    key_file: Path,
    db_file: Path,
    bind: str,
    prefix: str,
    log_keys: tuple[str, ...],
    log_files: tuple[Path, ...],
) -> None:
    """Serve add-checkpoint for the logs given (werkzeug's threaded server)."""
    from werkzeug.serving import make_server

    from portal.witness.app import WitnessApp
    from portal.witness.state import WitnessState

    try:
        signer = load_witness_key(key_file)
    except FileNotFoundError:
        raise click.UsageError(
            f"{key_file} does not exist: make one with `veraz witness key --key {key_file} --name NAME`"
        ) from None
    logs = parse_logs(log_keys, log_files)
    if not logs:
        raise click.UsageError("give at least one log to follow (--log KEY or --logs FILE)")
    host, _, port = bind.rpartition(":")
    if not host or not port.isdigit():
        raise click.BadParameter("expected host:port", param_hint="--bind")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    app = WitnessApp(WitnessState(db_file), logs, signer, prefix)
    server = make_server(host, int(port), app, threaded=True)
    click.echo(
        f"witness {signer.verifier()} on http://{bind}{app.path} for {', '.join(sorted(logs))}", err=True
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
