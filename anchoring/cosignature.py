"""C2SP tlog-cosignature ``cosignature/v1``: a witness's timestamped Ed25519 cosignature.

PROOF-CRITICAL: the signed message, the key ID and the signature encoding are what witnesses
sign and what every verifier (``veraz verify``, ``static/verify.js``) checks; changing them
breaks cosignatures already issued. Pure: no file, clock or network (the caller passes the
time).

A cosignature is a signed-note signature line (c2sp.org/signed-note) on a checkpoint::

    — <cosigner name> base64(key ID (4 bytes) || timestamp (u64, big-endian) || Ed25519 signature (64))

* key ID = SHA-256(name || 0x0A || 0x04 || 32-byte public key)[:4] (signature type 0x04, not
  the 0x01 of ordinary Ed25519 note signatures, so that a cosigner key can never be taken
  for a log key);
* the signed message is ``"cosignature/v1\\n" + "time <timestamp>\\n" + <whole checkpoint
  body>`` (origin, size, root and any extension lines, each ending in a newline; no signature
  lines). The timestamp is POSIX seconds in ASCII decimal without leading zeros, at most
  2^63 - 1;
* verifier key string: ``<name>+<key ID as 8 hex digits>+<base64(0x04 || public key)>``;
  private key string (the witness's key file): ``PRIVATE+KEY+<name>+<key ID hex>+<base64(0x04
  || 32-byte Ed25519 seed)>``.

Statement (tlog-cosignature): as of the timestamp, the consistent tree head with the largest
size the cosigner has observed for the origin has this root hash. The cosigner says nothing
about extension lines.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from anchoring.errors import KeyFileError, SignatureError

__all__ = [
    "ALG_COSIGNATURE_V1",
    "Cosignature",
    "CosignatureSigner",
    "CosignatureVerifier",
    "cosign",
    "cosignature_key_id",
    "note_text",
    "signed_message",
    "valid_cosignatures",
    "with_cosignatures",
]

ALG_COSIGNATURE_V1 = 0x04
"""C2SP signed-note signature type of an Ed25519 ``cosignature/v1``."""

MAX_TIMESTAMP = 2**63 - 1
_SIG_PREFIX = "\u2014 "  # EM DASH + space starts every signature line
_SIGNATURE_LENGTH = 4 + 8 + 64
_DECIMAL = re.compile(r"0|[1-9][0-9]*")


def _valid_name(name: str) -> bool:
    # signed-note: a key name is non-empty, with no Unicode spaces and no "+".
    return bool(name) and "+" not in name and not any(c.isspace() for c in name)


def _b64decode(text: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as error:
        raise ValueError(f"invalid base64: {text!r}") from error
    if base64.b64encode(raw).decode() != text:
        raise ValueError(f"non-canonical base64: {text!r}")
    return raw


def cosignature_key_id(name: str, public_key: bytes) -> bytes:
    """The 4-byte key ID of a cosigner: SHA-256(name || "\\n" || 0x04 || public key)[:4]."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([ALG_COSIGNATURE_V1]) + public_key).digest()[:4]


def signed_message(checkpoint_body: str, timestamp: int) -> bytes:
    """The bytes a ``cosignature/v1`` signs: header line, time line, then the checkpoint body.

    ``checkpoint_body`` is the note text (every line of the checkpoint, extension lines
    included, ending in a newline; no signature lines). Raises SignatureError for a body that
    does not end in a newline or a timestamp outside ``0 .. 2^63 - 1``.
    """
    if not checkpoint_body.endswith("\n") or "\n\n" in checkpoint_body:
        raise SignatureError("a checkpoint body ends in one newline and holds no blank line")
    if not isinstance(timestamp, int) or not 0 <= timestamp <= MAX_TIMESTAMP:
        raise SignatureError(f"cosignature timestamp must be in 0..2^63-1, not {timestamp!r}")
    return f"cosignature/v1\ntime {timestamp}\n".encode() + checkpoint_body.encode()


@dataclass(frozen=True)
class Cosignature:
    """One ``cosignature/v1`` signature line, decoded (not yet verified)."""

    name: str
    key_id: bytes
    timestamp: int
    signature: bytes

    @classmethod
    def parse_line(cls, line: str) -> Cosignature:
        """Decode ``— <name> <base64>`` (without or with its final newline).

        Raises SignatureError when the line is not a signature line, or its signature is not
        the 76 bytes of a cosignature/v1 (key ID, timestamp, Ed25519 signature).
        """
        line = line[:-1] if line.endswith("\n") else line
        if not line.startswith(_SIG_PREFIX) or "\n" in line:
            raise SignatureError(f"not a signature line: {line!r}")
        name, _, encoded = line[len(_SIG_PREFIX) :].partition(" ")
        try:
            raw = _b64decode(encoded)
        except ValueError as error:
            raise SignatureError(f"malformed signature line: {line!r}") from error
        if not _valid_name(name) or len(raw) != _SIGNATURE_LENGTH:
            raise SignatureError(f"not a cosignature/v1 line: {line!r}")
        (timestamp,) = struct.unpack(">Q", raw[4:12])
        if timestamp > MAX_TIMESTAMP:
            raise SignatureError(f"cosignature timestamp above 2^63-1: {line!r}")
        return cls(name, raw[:4], timestamp, raw[12:])

    def line(self) -> str:
        """The signature line, ending in a newline."""
        raw = self.key_id + struct.pack(">Q", self.timestamp) + self.signature
        return f"{_SIG_PREFIX}{self.name} {base64.b64encode(raw).decode()}\n"


@dataclass(frozen=True)
class CosignatureVerifier:
    """A witness's public key, as a C2SP verifier key of signature type 0x04."""

    name: str
    key_id: bytes
    public_key: bytes

    @classmethod
    def parse(cls, vkey: str) -> CosignatureVerifier:
        """Parse ``name+hash+base64(0x04 || key)`` (the base64 part may contain ``+``)."""
        parts = vkey.strip().split("+", 2)
        if len(parts) != 3:
            raise SignatureError(f"malformed witness verifier key: {vkey!r}")
        name, hash_hex, key_b64 = parts
        try:
            raw = _b64decode(key_b64)
            wanted = bytes.fromhex(hash_hex)
        except ValueError as error:
            raise SignatureError(f"malformed witness verifier key: {vkey!r}") from error
        if not _valid_name(name) or len(hash_hex) != 8 or hash_hex != hash_hex.lower():
            raise SignatureError(f"malformed witness verifier key: {vkey!r}")
        if len(raw) != 33 or raw[0] != ALG_COSIGNATURE_V1:
            raise SignatureError(f"not a cosignature/v1 (type 0x04) Ed25519 key: {vkey!r}")
        if cosignature_key_id(name, raw[1:]) != wanted:
            raise SignatureError(f"witness key hash does not match its name and key: {vkey!r}")
        return cls(name, wanted, raw[1:])

    def __str__(self) -> str:
        encoded = base64.b64encode(bytes([ALG_COSIGNATURE_V1]) + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{encoded}"

    def matches(self, cosignature: Cosignature) -> bool:
        """True if the line names this key (name and key ID): only then is it checked."""
        return cosignature.name == self.name and cosignature.key_id == self.key_id

    def verify(self, checkpoint_body: str, cosignature: Cosignature) -> bool:
        """True if ``cosignature`` is this key's valid cosignature of ``checkpoint_body``."""
        if not self.matches(cosignature):
            return False
        try:
            message = signed_message(checkpoint_body, cosignature.timestamp)
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(cosignature.signature, message)
        except (InvalidSignature, ValueError, SignatureError):
            return False
        return True


@dataclass(frozen=True)
class CosignatureSigner:
    """A witness's private key. Its repr shows the name and key ID, never the key."""

    name: str
    _private: Ed25519PrivateKey = field(repr=False, compare=False)

    def __post_init__(self) -> None:
        if not _valid_name(self.name):
            raise SignatureError(f"invalid witness name {self.name!r} (no spaces or '+')")

    def __repr__(self) -> str:
        return f"CosignatureSigner(name={self.name!r}, key_id={self.key_id.hex()!r})"

    @classmethod
    def generate(cls, name: str) -> CosignatureSigner:
        """A new random key."""
        return cls(name, Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, name: str, seed: bytes) -> CosignatureSigner:
        """The key with the given 32-byte Ed25519 seed (tests and key import)."""
        if not isinstance(seed, bytes) or len(seed) != 32:
            raise KeyFileError("an Ed25519 witness key seed is 32 bytes")
        return cls(name, Ed25519PrivateKey.from_private_bytes(seed))

    @classmethod
    def from_private_key_string(cls, text: str) -> CosignatureSigner:
        """Parse ``PRIVATE+KEY+name+hash+base64(0x04 || seed)``; never echoes the key."""
        parts = text.strip().split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise KeyFileError("not a witness private key (expected PRIVATE+KEY+name+hash+key)")
        _, _, name, hash_hex, key_b64 = parts
        try:
            raw = _b64decode(key_b64)
        except ValueError:
            raise KeyFileError("malformed witness private key") from None
        if len(raw) != 33 or raw[0] != ALG_COSIGNATURE_V1:
            raise KeyFileError("not a cosignature/v1 (type 0x04) Ed25519 private key")
        signer = cls.from_seed(name, raw[1:])
        if signer.key_id.hex() != hash_hex:
            raise KeyFileError("witness private key hash does not match its name and key")
        return signer

    def private_key_string(self) -> str:
        """SECRET. ``PRIVATE+KEY+name+hash+base64(0x04 || seed)``, for the key file only."""
        seed = self._private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        encoded = base64.b64encode(bytes([ALG_COSIGNATURE_V1]) + seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.key_id.hex()}+{encoded}"

    @property
    def public_key(self) -> bytes:
        """The raw 32-byte Ed25519 public key."""
        return self._private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @property
    def key_id(self) -> bytes:
        """The 4-byte key ID (signature type 0x04)."""
        return cosignature_key_id(self.name, self.public_key)

    def verifier(self) -> CosignatureVerifier:
        """The matching public key."""
        return CosignatureVerifier(self.name, self.key_id, self.public_key)

    def sign(self, message: bytes) -> bytes:
        """Ed25519 signature (64 bytes) of ``message``."""
        return self._private.sign(message)


def cosign(checkpoint_body: str, signer: CosignatureSigner, timestamp: int) -> Cosignature:
    """``signer``'s cosignature/v1 of ``checkpoint_body`` made at ``timestamp`` (POSIX s)."""
    signature = signer.sign(signed_message(checkpoint_body, timestamp))
    return Cosignature(signer.name, signer.key_id, timestamp, signature)


def note_text(note: str) -> tuple[str, list[str]]:
    """Split a signed note into its text (the checkpoint body) and its signature lines.

    Raises SignatureError when the note has no signature block or a line of it is not a
    signature line.
    """
    if not note.endswith("\n"):
        raise SignatureError("signed note must end with a newline")
    split = note.rfind("\n\n")
    if split < 0:
        raise SignatureError("signed note has no signature block")
    text, block = note[: split + 1], note[split + 2 : -1]
    lines = block.split("\n")
    if any(not line.startswith(_SIG_PREFIX) for line in lines):
        raise SignatureError("signed note has a line that is not a signature line")
    return text, lines


def with_cosignatures(note: str, lines: list[str]) -> str:
    """``note`` with the signature ``lines`` appended (each once; order kept)."""
    _text, present = note_text(note)
    extra = []
    for line in lines:
        line = line.rstrip("\n")
        if not line.startswith(_SIG_PREFIX) or "\n" in line:
            raise SignatureError(f"not a signature line: {line!r}")
        if line not in present and line not in extra:
            extra.append(line)
    return note + "".join(f"{line}\n" for line in extra)


def valid_cosignatures(
    checkpoint_body: str, lines: list[str], verifiers: list[CosignatureVerifier]
) -> dict[str, Cosignature]:
    """The valid cosignature of each trusted witness among ``lines``, by verifier key string.

    Lines by unknown keys, and lines that are not cosignature/v1, are ignored (signed-note:
    a verifier skips signatures it has no key for); a line that names a trusted key but does
    not verify counts for nothing. A witness counts once, however many lines it has.
    """
    found: dict[str, Cosignature] = {}
    for line in lines:
        try:
            cosignature = Cosignature.parse_line(line)
        except SignatureError:
            continue
        for verifier in verifiers:
            key = str(verifier)
            if key not in found and verifier.verify(checkpoint_body, cosignature):
                found[key] = cosignature
    return found
