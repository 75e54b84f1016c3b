"""The portal side of the evidence log (issue 3): what is logged, sealed, anchored and proven.

* :func:`log_evidence` (``record``) appends one entry per new release and per new proforma,
  in the publishing transaction, so storing and logging are atomic;
* ``sealing`` seals signed checkpoints and anchors them (EVM chain, RFC 3161 TSA) with
  retries, backoff and crash safety; ``veraz anchor [--watch]`` drives it;
* ``proofs`` assembles proof bundles, ``public`` what the log API serves, ``audit`` re-derives
  the whole log from the published data.

The bytes of entries, hashes and proofs are defined by ``anchoring`` (proof-critical, pure);
nothing here changes them.
"""

from __future__ import annotations

from typing import Any

__all__ = ["log_evidence"]


def log_evidence(
    conn: Any, releases: Any = (), new_proformas: Any = (), quotes: Any = None
) -> tuple[list[int], list[int]]:
    """Append the entries of new proformas and releases; return their leaf indices.

    See :func:`portal.evidence.record.log_evidence` (imported lazily: the CLI and the web app
    import this package without paying for the log's imports).
    """
    from portal.evidence.record import log_evidence as _log_evidence

    return _log_evidence(conn, releases, new_proformas, quotes)
