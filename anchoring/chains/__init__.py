"""Network code for anchoring checkpoints on EVM chains.

``evm`` anchors and verifies (any JSON-RPC node, or the embedded chain); ``keys`` guards
the anchoring account's key file; ``embedded`` and ``sqlite_db`` are the in-process
development chain; ``contract/`` holds the Solidity source and its committed build.

Nothing here decides what is anchored: the root and tree size come from the proof-critical
core (``anchoring.merkle``, ``anchoring.notes``).
"""
