"""The token id of an order, without any chain library: web workers compute it for every page.

``tokenId = uint256(SHA-256(ocid as UTF-8))``, big-endian; the VerazOrderToken contract checks
the same derivation (``tokenIdOf``) when it mints, so a token id names exactly one ocid.
"""

from __future__ import annotations

import hashlib


def token_id(ocid: str) -> int:
    """The token id of an order: the SHA-256 of its ocid's UTF-8 bytes, as a big-endian uint256."""
    return int.from_bytes(hashlib.sha256(ocid.encode("utf-8")).digest(), "big")
