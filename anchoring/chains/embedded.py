"""An in-process EVM chain in a directory: py-evm through eth-tester, persisted in SQLite.

For development, demos and tests: it runs the real EVM on the real contract bytecode, so
the anchoring path is exercised end to end without a node. It is not a network: its blocks
are witnessed by nobody else, and anchors on it prove nothing to third parties.

The directory holds:

* ``chain.sqlite3`` -- the py-evm database (:mod:`anchoring.chains.sqlite_db`);
* ``dev-account.key`` -- the funded development account's key (mode 0600,
  :mod:`anchoring.chains.keys`), the only account with ether in genesis;
* ``chain.lock`` -- held (``flock``) by the one process that owns the chain.

Genesis is deterministic (pinned timestamp, the dev account's balance), so reopening the
directory rebuilds the same genesis block and py-evm resumes from the stored head; the
stored genesis is checked against the intended one on every open.
"""

from __future__ import annotations

import fcntl
import os
import threading
import weakref
from pathlib import Path
from typing import Any

from eth_tester import EthereumTester, PyEVMBackend
from eth_utils import to_canonical_address
from web3 import EthereumTesterProvider, Web3

from anchoring.chains import sqlite_db
from anchoring.chains.keys import load_or_create_key
from anchoring.errors import ChainError

__all__ = [
    "DEV_KEY_FILENAME",
    "GENESIS_TIMESTAMP",
    "EmbeddedChainProvider",
    "embedded_chain",
]

#: 2026-01-01T00:00:00Z. Pinned so the genesis block, hence the chain, is reproducible.
GENESIS_TIMESTAMP = 1767225600
#: Balance of the dev account in genesis: one million ether, in wei.
DEV_BALANCE_WEI = 10**24
DEV_KEY_FILENAME = "dev-account.key"
DB_FILENAME = "chain.sqlite3"
LOCK_FILENAME = "chain.lock"


class EmbeddedChainProvider(EthereumTesterProvider):
    """eth-tester provider that owns the directory lock and the SQLite file.

    Requests are serialised (py-evm is not thread-safe). Call :meth:`close` to release the
    directory; it is also released when the provider is garbage-collected or the process
    exits.
    """

    def __init__(
        self, tester: EthereumTester, directory: Path, db: sqlite_db.SQLiteChainDB, lock_fd: int
    ) -> None:
        super().__init__(tester)
        self.directory = directory
        self.dev_key_path = directory / DEV_KEY_FILENAME
        self._request_lock = threading.Lock()
        self._finalizer = weakref.finalize(self, _release, db, lock_fd)

    def make_request(self, method: Any, params: Any) -> Any:
        """Forward to eth-tester, one request at a time; refuse after :meth:`close`."""
        if not self._finalizer.alive:
            raise ChainError(f"the embedded chain in {self.directory} is closed")
        with self._request_lock:
            return super().make_request(method, params)

    def close(self) -> None:
        """Close the database and release the directory lock; idempotent."""
        with self._request_lock:
            self._finalizer()


def _release(db: sqlite_db.SQLiteChainDB, lock_fd: int) -> None:
    try:
        db.close()
    finally:
        os.close(lock_fd)  # closing the descriptor drops the flock


def _lock_directory(directory: Path) -> int:
    fd = os.open(directory / LOCK_FILENAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode("ascii", errors="replace").strip() or "unknown"
        os.close(fd)
        raise ChainError(
            f"the embedded chain in {directory} is in use by another process (pid {holder}); "
            "only one process may own it"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
    return fd


def embedded_chain(directory: str | os.PathLike[str]) -> Web3:
    """Open (or create) the embedded chain in ``directory`` and return a connected Web3.

    The process holds the chain until ``w3.provider.close()`` (or exit); a second opener,
    in this process or another, gets :class:`ChainError`. The funded account's key is at
    ``w3.provider.dev_key_path`` (load it with ``anchoring.chains.keys.load_key``).
    """
    path = Path(directory)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    lock_fd = _lock_directory(path)
    try:
        key_path = path / DEV_KEY_FILENAME
        if (path / DB_FILENAME).exists() and not key_path.exists():
            # The chain's genesis funded the key it was created with: a new key would be an
            # unfunded stranger to it, and a silent new identity for the anchors.
            raise ChainError(
                f"the embedded chain in {path} exists but its funded key file "
                f"{key_path} is missing; restore it from a backup"
            )
        account = load_or_create_key(key_path)
        genesis_params = PyEVMBackend.generate_genesis_params(overrides={"timestamp": GENESIS_TIMESTAMP})
        genesis_state = {
            to_canonical_address(account.address): {
                "balance": DEV_BALANCE_WEI,
                "nonce": 0,
                "code": b"",
                "storage": {},
            }
        }
        with sqlite_db.opening(path / DB_FILENAME):
            backend = PyEVMBackend(genesis_parameters=genesis_params, genesis_state=genesis_state)
        db = backend.chain.chaindb.db
        if not isinstance(db, sqlite_db.SQLiteChainDB):  # pragma: no cover - eth-tester changed
            raise ChainError("eth-tester did not use the SQLite database for the embedded chain")
    except BaseException:
        os.close(lock_fd)
        raise
    provider = EmbeddedChainProvider(EthereumTester(backend), path, db, lock_fd)
    try:
        # py-evm's from_genesis() on an existing database writes the genesis header again
        # but keeps the stored canonical chain, even if that genesis differs. Build the
        # intended genesis in memory and compare, so a replaced key file or a change in
        # eth-tester's genesis defaults is reported instead of silently mixing chains.
        intended = PyEVMBackend(genesis_parameters=genesis_params, genesis_state=genesis_state)
        intended_hash = intended.chain.get_canonical_block_header_by_number(0).hash
        stored_hash = backend.chain.get_canonical_block_header_by_number(0).hash
        if stored_hash != intended_hash:
            raise ChainError(
                f"the embedded chain in {directory} has genesis 0x{stored_hash.hex()}, "
                f"expected 0x{intended_hash.hex()}: was {DEV_KEY_FILENAME} replaced, or "
                "eth-tester upgraded?"
            )
    except BaseException:
        provider.close()
        raise
    return Web3(provider)
