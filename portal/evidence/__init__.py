"""The portal side of the evidence log: what is logged, sealed, anchored and proven.

Two sides, which never meet in one process but through the database:

* the READ side, ``portal.evidence.read``: what web workers serve (proof bundles, the log
  API and its tiles, the anchors as published, the verification page's data, the evidence PDFs'
  listing and bytes, the published CA certificates). It imports neither web3, py-evm nor
  pyHanko, so a web worker starts fast and a chain or TSA that is down never slows a page;
* the SEALING and ANCHORING loop, the modules of this package: ``sealing`` seals signed
  checkpoints and anchors them with retries, backoff and crash safety (``crash`` names the
  points a test kills it at), through the ``backends`` the settings name (``evm``: an EVM
  anchor made at most once); ``pdfs`` renders and ``signing`` signs each checkpoint's
  evidence PDF; ``audit`` re-derives the whole log from the published data; ``cli`` holds
  the ``veraz anchor``, ``veraz verify`` and ``veraz audit`` commands that drive them.

Shared by both: ``store`` (the one door to the log's storage and the checkpoint signer),
``tables`` (the portal's evidence tables) and ``record`` (the entry of a release or proforma;
:func:`log_evidence` appends them in the publishing transaction, so storing and logging are
atomic). The sealing side may import the read side, never the reverse.

The bytes of entries, hashes and proofs are defined by ``anchoring`` (proof-critical, pure);
nothing here changes them.
"""

from __future__ import annotations

from typing import Any

__all__ = ["log_evidence", "source_hash"]


def log_evidence(
    conn: Any, releases: Any = (), new_proformas: Any = (), quotes: Any = None, package_hashes: Any = None
) -> tuple[list[int], list[int]]:
    """Append the entries of new proformas and releases; return their leaf indices.

    See :func:`portal.evidence.record.log_evidence` (imported when called: the CLI imports
    this package to reach its commands without paying for the log's imports).
    """
    from portal.evidence.record import log_evidence as _log_evidence

    return _log_evidence(conn, releases, new_proformas, quotes, package_hashes)


def source_hash(row: Any) -> str | None:
    """The logged hash of an imported release's package statement: see
    :func:`portal.evidence.record.source_hash`."""
    from portal.evidence.record import source_hash as _source_hash

    return _source_hash(row)
