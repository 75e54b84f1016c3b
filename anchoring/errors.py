"""The exception family of the ``anchoring`` package.

Library code raises these; the CLI and the web layer turn them into a sentence a user
can act on and an exit code or HTTP status.
"""


class AnchoringError(Exception):
    """Base class of every error raised by ``anchoring``."""


class CanonicalError(AnchoringError, ValueError):
    """A value has no RFC 8785 canonical JSON form (NaN, an integer beyond 2**53 - 1, a
    non-string key, a lone surrogate, a type JSON does not have).

    Also a :class:`ValueError`, as the ``rfc8785`` library's own error (kept as the cause) is.
    """


class ProofError(AnchoringError):
    """A Merkle inclusion or consistency proof is malformed or does not verify."""


class SignatureError(AnchoringError):
    """A signed note or checkpoint is malformed, unsigned by the key, or has a bad signature."""


class ChainError(AnchoringError):
    """Anchoring a checkpoint on, or reading it back from, an EVM chain failed."""


class TimestampError(AnchoringError):
    """An RFC 3161 timestamp could not be obtained, or the token does not verify."""


class LogError(AnchoringError):
    """The evidence log storage is inconsistent or was asked for something it does not hold."""


class KeyFileError(AnchoringError):
    """A signing key file is unsafe (readable by others), malformed, or for another name."""


class EntryError(AnchoringError):
    """Log entry bytes are not a valid, canonical encoding of a known entry kind."""
