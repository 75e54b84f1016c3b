"""Veraz evidence anchoring: hashes, canonical JSON, the Merkle log, signed checkpoints.

This package knows hashes, logs, chains and timestamps, and nothing of OCDS or Flask.

The proof-critical modules are ``canonical`` (RFC 8785 canonical JSON), ``merkle``
(RFC 9162 tree hashing and proofs), ``notes`` (C2SP signed notes and checkpoints) and
``entries`` (the exact bytes of every log entry). Changing the proof-critical modules
breaks proofs already issued: every inclusion proof, checkpoint signature and on-chain
anchor published so far commits to the bytes these modules produce. Any change to them
must be a new, versioned format, never an edit of the existing one.

``log`` stores the append-only log on SQLAlchemy Core; ``chains`` and ``timestamps``
hold the network code (EVM anchoring, RFC 3161) and live beside the pure core.
"""
