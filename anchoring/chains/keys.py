"""The anchoring account's private key: one secp256k1 key in a file only its owner can read.

The key file holds the 32-byte private key as ``0x``-prefixed lowercase hex on one line.
It must be a regular file owned by the current user with no group or other permission bits
(mode ``0600`` or stricter); anything else is refused, as OpenSSH refuses loose private keys,
because a key others can read can anchor in the portal's name.

The key is never logged and never appears in a ``repr``; an :class:`AnchorAccount` cannot
be pickled or copied, so it does not leak into caches, task queues or crash reports.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.datastructures import SignedTransaction
from eth_account.signers.local import LocalAccount

from anchoring.errors import ChainError, KeyFileError
from anchoring.keyfiles import create_private, read_private

__all__ = ["AnchorAccount", "load_key", "load_or_create_key"]

_KEY_HEX_LENGTH = 2 + 64
_SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


class AnchorAccount:
    """An EVM account that signs anchoring transactions; only its address is public.

    Build one with :func:`load_key` or :func:`load_or_create_key`.
    """

    __slots__ = ("_account", "_key_file")

    def __init__(self, account: LocalAccount, key_file: Path) -> None:
        self._account = account
        self._key_file = key_file

    @property
    def address(self) -> str:
        """The EIP-55 checksummed address the portal publishes as its anchoring sender."""
        return self._account.address

    @property
    def key_file(self) -> Path:
        """The file the key was read from."""
        return self._key_file

    def sign_transaction(self, transaction: dict[str, Any]) -> SignedTransaction:
        """Sign a transaction dict (as built by web3) with this account's key."""
        return self._account.sign_transaction(transaction)

    def __repr__(self) -> str:
        return f"AnchorAccount(address={self.address!r}, key_file={str(self._key_file)!r})"

    def __reduce__(self) -> Any:
        raise TypeError("AnchorAccount holds a private key and cannot be pickled or copied")


def load_key(path: str | os.PathLike[str]) -> AnchorAccount:
    """Read the anchoring key from ``path``; raise :class:`ChainError` if it is unsafe or bad.

    The file must exist, be owned by the current user, and have mode ``0600`` or stricter.
    """
    key_path = Path(path)
    try:
        raw = read_private(key_path)
    except FileNotFoundError:
        raise ChainError(
            f"key file {key_path} does not exist; put the anchoring account's key there (one "
            "0x-prefixed hex line, mode 0600): a new key would be another account"
        ) from None
    except KeyFileError as error:
        raise ChainError(str(error)) from error
    text = raw.decode("ascii", errors="replace").strip()
    # Error messages below describe the problem, never the content: it may be a key.
    if len(text) != _KEY_HEX_LENGTH or not text.startswith("0x"):
        raise ChainError(f"key file {key_path} must hold one 0x-prefixed 32-byte hex key")
    try:
        key = bytes.fromhex(text[2:])
        account: LocalAccount = Account.from_key(key)
    except ValueError:
        raise ChainError(f"key file {key_path} does not hold a valid secp256k1 key") from None
    return AnchorAccount(account, key_path)


def load_or_create_key(path: str | os.PathLike[str]) -> AnchorAccount:
    """Load the key at ``path``, creating a fresh random key there (mode 0600) if missing.

    Creation is atomic and never overwrites: the key is written to a temporary file in the
    same directory, synced, then hard-linked into place, so a concurrent creator or an
    existing key always wins and a crash never leaves a half-written key behind.
    """
    key_path = Path(path)
    if key_path.exists() or key_path.is_symlink():
        return load_key(key_path)
    key_path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    while not 0 < int.from_bytes(key, "big") < _SECP256K1_ORDER:  # pragma: no cover
        key = secrets.token_bytes(32)
    try:
        create_private(key_path, b"0x" + key.hex().encode("ascii") + b"\n")
    except FileExistsError:
        pass  # another process created it first; use theirs
    return load_key(key_path)
