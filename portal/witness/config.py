"""The WITNESSES setting, parsed: which witnesses the portal asks and whose cosignatures count."""

from __future__ import annotations

import re
from dataclasses import dataclass

from anchoring.cosignature import CosignatureVerifier
from anchoring.errors import SignatureError


class WitnessSettingError(ValueError):
    """The WITNESSES setting is not a list of ``<URL> <verifier key>``; the message says why."""


@dataclass(frozen=True)
class Witness:
    """A configured witness: where to send checkpoints and the key its cosignatures verify with."""

    url: str
    verifier: CosignatureVerifier

    @property
    def key(self) -> str:
        return str(self.verifier)


def configured(config: dict) -> list[Witness]:
    """The witnesses of the WITNESSES setting (empty when none).

    Raises :class:`WitnessSettingError` naming the entry that is not ``<http(s) URL> <key>``.
    """
    raw = config.get("WITNESSES") or ""
    if isinstance(raw, list | tuple):  # a TOML list, or a list given to create_app
        items = [str(item) for item in raw]
    else:
        items = re.split(r"[,\n]", str(raw))
    witnesses: list[Witness] = []
    for item in items:
        item = item.strip()
        if not item:
            continue
        parts = item.split()
        if len(parts) != 2 or not re.match(r"https?://[^\s]+$", parts[0]):
            raise WitnessSettingError(f"WITNESSES: {item!r} is not '<http(s) URL> <verifier key>'")
        try:
            verifier = CosignatureVerifier.parse(parts[1])
        except SignatureError as error:
            raise WitnessSettingError(f"WITNESSES: {error}") from None
        if any(w.key == str(verifier) for w in witnesses):
            raise WitnessSettingError(f"WITNESSES: the witness {verifier.name} is listed twice")
        witnesses.append(Witness(parts[0], verifier))
    return witnesses
