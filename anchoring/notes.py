"""C2SP signed notes (c2sp.org/signed-note) and checkpoints (c2sp.org/tlog-checkpoint).

PROOF-CRITICAL: the checkpoint body and the signed-note framing are what witnesses, monitors
and the chain anchor commit to; changing them breaks proofs already issued.

Signed note (c2sp.org/signed-note)::

    <text, UTF-8, ending in "\\n">
    <blank line>
    — <key name> <base64(key ID (4 bytes, big-endian) || signature)>\\n     (one or more)

Ed25519 keys (signature type 0x01). Key ID = first 4 bytes of
SHA-256(key name || 0x0A || 0x01 || 32-byte public key). The signature is over the text
bytes only (including its final newline, excluding the blank separator line).
Verifier key string: ``<name>+<key ID as 8 hex digits>+<base64(0x01 || public key)>``.
The private key string follows golang.org/x/mod/sumdb/note, so keys work with Go tooling:
``PRIVATE+KEY+<name>+<key ID hex>+<base64(0x01 || 32-byte Ed25519 seed)>``.

Checkpoint (c2sp.org/tlog-checkpoint) body::

    <origin>\\n<tree size, decimal>\\n<base64 root hash>\\n[<extension line>\\n ...]

Pure: no file, clock or network. Reading and creating key files is
``anchoring.keyfiles.load_or_create_note_signer``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from anchoring.errors import KeyFileError, SignatureError

__all__ = [
    "Checkpoint",
    "NoteSigner",
    "NoteVerifier",
    "key_id",
    "sign_checkpoint",
    "sign_note",
    "verify_checkpoint",
    "verify_note",
]

ALG_ED25519 = 0x01
"""C2SP signed-note signature type of Ed25519."""

_SIG_PREFIX = "\u2014 "  # EM DASH + space starts every signature line
_MAX_SIGNATURES = 100  # signed-note: verifiers may reject notes with too many signatures
_DECIMAL = re.compile(r"0|[1-9][0-9]*")


def _valid_name(name: str) -> bool:
    # signed-note: a key name is non-empty, with no Unicode spaces and no "+".
    return bool(name) and "+" not in name and not any(c.isspace() for c in name)


def key_id(name: str, public_key: bytes, alg: int = ALG_ED25519) -> bytes:
    """The 4-byte key ID: SHA-256(name || "\\n" || alg || public key)[:4]."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([alg]) + public_key).digest()[:4]


def _b64decode(text: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as error:
        raise ValueError(f"invalid base64: {text!r}") from error
    if base64.b64encode(raw).decode() != text:
        raise ValueError(f"non-canonical base64: {text!r}")
    return raw


def _raw_public(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw)


@dataclass(frozen=True)
class NoteVerifier:
    """A public Ed25519 note key: checks signatures made by the matching NoteSigner."""

    name: str
    key_id: bytes
    public_key: bytes

    @classmethod
    def parse(cls, vkey: str) -> NoteVerifier:
        """Parse ``name+hash+base64`` (the base64 part may itself contain ``+``)."""
        parts = vkey.split("+", 2)
        if len(parts) != 3:
            raise SignatureError(f"malformed verifier key: {vkey!r}")
        name, hash_hex, key_b64 = parts
        try:
            raw = _b64decode(key_b64)
            wanted_id = bytes.fromhex(hash_hex)
        except ValueError as error:
            raise SignatureError(f"malformed verifier key: {vkey!r}") from error
        if not _valid_name(name) or len(hash_hex) != 8 or hash_hex != hash_hex.lower():
            raise SignatureError(f"malformed verifier key: {vkey!r}")
        if len(raw) != 33 or raw[0] != ALG_ED25519:
            raise SignatureError(f"verifier key is not an Ed25519 key: {vkey!r}")
        if key_id(name, raw[1:]) != wanted_id:
            raise SignatureError(f"verifier key hash does not match its name and key: {vkey!r}")
        return cls(name, wanted_id, raw[1:])

    def __str__(self) -> str:
        """The verifier key string ``name+hash+base64``."""
        encoded = base64.b64encode(bytes([ALG_ED25519]) + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{encoded}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        """True if ``signature`` is this key's Ed25519 signature of ``message``."""
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True


@dataclass(frozen=True)
class NoteSigner:
    """A private Ed25519 note key. Its repr shows the name and key ID, never the key."""

    name: str
    _private: Ed25519PrivateKey = field(repr=False, compare=False)

    def __post_init__(self) -> None:
        if not _valid_name(self.name):
            raise SignatureError(f"invalid key name {self.name!r} (no spaces or '+')")

    def __repr__(self) -> str:
        return f"NoteSigner(name={self.name!r}, key_id={self.key_id.hex()!r})"

    @classmethod
    def generate(cls, name: str) -> NoteSigner:
        """A new random key."""
        return cls(name, Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, name: str, seed: bytes) -> NoteSigner:
        """The key with the given 32-byte Ed25519 seed (for tests and key import).

        Raises :class:`~anchoring.errors.KeyFileError` unless ``seed`` is 32 bytes.
        """
        if not isinstance(seed, bytes) or len(seed) != 32:
            raise KeyFileError("an Ed25519 note key seed is 32 bytes")
        return cls(name, Ed25519PrivateKey.from_private_bytes(seed))

    @classmethod
    def from_private_key_string(cls, text: str) -> NoteSigner:
        """Parse ``PRIVATE+KEY+name+hash+base64`` (golang.org/x/mod/sumdb/note format)."""
        parts = text.strip().split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise KeyFileError("not a note private key (expected PRIVATE+KEY+name+hash+key)")
        _, _, name, hash_hex, key_b64 = parts
        try:
            raw = _b64decode(key_b64)
        except ValueError as error:
            raise KeyFileError("malformed note private key") from error
        if len(raw) != 33 or raw[0] != ALG_ED25519:
            raise KeyFileError("note private key is not an Ed25519 key")
        signer = cls.from_seed(name, raw[1:])
        if signer.key_id.hex() != hash_hex:
            raise KeyFileError("note private key hash does not match its name and key")
        return signer

    def private_key_string(self) -> str:
        """SECRET. ``PRIVATE+KEY+name+hash+base64(0x01 || seed)``, for the key file only."""
        from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

        seed = self._private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        encoded = base64.b64encode(bytes([ALG_ED25519]) + seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.key_id.hex()}+{encoded}"

    @property
    def public_key(self) -> bytes:
        """The raw 32-byte Ed25519 public key."""
        return _raw_public(self._private.public_key())

    @property
    def key_id(self) -> bytes:
        """The 4-byte key ID."""
        return key_id(self.name, self.public_key)

    def verifier(self) -> NoteVerifier:
        """The matching public verifier."""
        return NoteVerifier(self.name, self.key_id, self.public_key)

    def sign(self, message: bytes) -> bytes:
        """Ed25519 signature (64 bytes) of ``message``."""
        return self._private.sign(message)


def _check_text(text: str) -> None:
    # signed-note: the text is non-empty, ends in a newline, and has no control characters
    # other than newline.
    if not text.endswith("\n"):
        raise SignatureError("note text must end with a newline")
    if any(ord(c) < 0x20 and c != "\n" or c == "\x7f" for c in text):
        raise SignatureError("note text contains a control character")


def sign_note(text: str, signer: NoteSigner) -> str:
    """Sign ``text`` (UTF-8, ending in a newline) as a C2SP signed note."""
    _check_text(text)
    if "\n\n" in text or text.startswith("\n"):
        # A verifier splits at the last blank line: refuse texts that would be ambiguous.
        raise SignatureError("note text contains a blank line")
    signature = signer.key_id + signer.sign(text.encode())
    return f"{text}\n{_SIG_PREFIX}{signer.name} {base64.b64encode(signature).decode()}\n"


def verify_note(note: str, verifier_key: str | NoteVerifier) -> str:
    """Check that ``note`` carries a valid signature by ``verifier_key``; return its text.

    Signatures by other keys are ignored. Raises SignatureError if the note is malformed,
    has no signature by this key, or the signature is invalid.
    """
    verifier = verifier_key if isinstance(verifier_key, NoteVerifier) else NoteVerifier.parse(verifier_key)
    if not note.endswith("\n"):
        raise SignatureError("signed note must end with a newline")
    split = note.rfind("\n\n")
    if split < 0:
        raise SignatureError("signed note has no signature block")
    text, sig_block = note[: split + 1], note[split + 2 :]
    _check_text(text)
    lines = sig_block[:-1].split("\n")
    if len(lines) > _MAX_SIGNATURES:
        raise SignatureError("signed note has too many signatures")
    found = False
    for line in lines:
        if not line.startswith(_SIG_PREFIX):
            raise SignatureError(f"malformed signature line: {line!r}")
        name, _, encoded = line[len(_SIG_PREFIX) :].partition(" ")
        try:
            raw = _b64decode(encoded)
        except ValueError as error:
            raise SignatureError(f"malformed signature line: {line!r}") from error
        if not _valid_name(name) or len(raw) < 5:
            raise SignatureError(f"malformed signature line: {line!r}")
        if name != verifier.name or raw[:4] != verifier.key_id:
            continue  # someone else's signature (e.g. a witness cosignature)
        if len(raw) != 4 + 64 or not verifier.verify(text.encode(), raw[4:]):
            raise SignatureError(f"invalid signature by {verifier.name}")
        found = True
    if not found:
        raise SignatureError(f"note is not signed by {verifier.name}+{verifier.key_id.hex()}")
    return text


# --- Checkpoints --------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """A c2sp.org/tlog-checkpoint: the log's origin, tree size and RFC 9162 root hash."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin:
            raise SignatureError("checkpoint origin must be a non-empty single line")
        if self.size < 0:
            raise SignatureError("checkpoint size must not be negative")
        if len(self.root) != 32:
            raise SignatureError("checkpoint root must be 32 bytes")
        if any(not line or "\n" in line for line in self.extensions):
            raise SignatureError("checkpoint extension lines must be non-empty single lines")

    def body(self) -> str:
        """The note text: origin, size, base64 root, extension lines, each ending in \\n."""
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode()]
        return "\n".join([*lines, *self.extensions]) + "\n"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """Parse a checkpoint body (strict: canonical decimal size and base64 root)."""
        if not text.endswith("\n"):
            raise SignatureError("checkpoint must end with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise SignatureError("checkpoint needs origin, size and root lines")
        origin, size_text, root_text, *extensions = lines
        if not _DECIMAL.fullmatch(size_text):
            raise SignatureError(f"malformed checkpoint size: {size_text!r}")
        try:
            root = _b64decode(root_text)
        except ValueError as error:
            raise SignatureError(f"malformed checkpoint root: {root_text!r}") from error
        return cls(origin, int(size_text), root, tuple(extensions))


def sign_checkpoint(checkpoint: Checkpoint, signer: NoteSigner) -> str:
    """The checkpoint as a signed note. The key name must be the checkpoint origin."""
    if signer.name != checkpoint.origin:
        raise SignatureError(f"key name {signer.name!r} differs from checkpoint origin {checkpoint.origin!r}")
    return sign_note(checkpoint.body(), signer)


def verify_checkpoint(note: str, verifier_key: str | NoteVerifier) -> Checkpoint:
    """Verify a signed checkpoint note and return the checkpoint it states.

    The origin must equal the key name (tlog-checkpoint: the log signs with a key named
    after its origin). Raises SignatureError otherwise.
    """
    verifier = verifier_key if isinstance(verifier_key, NoteVerifier) else NoteVerifier.parse(verifier_key)
    checkpoint = Checkpoint.parse(verify_note(note, verifier))
    if checkpoint.origin != verifier.name:
        raise SignatureError(
            f"checkpoint origin {checkpoint.origin!r} differs from key name {verifier.name!r}"
        )
    return checkpoint
