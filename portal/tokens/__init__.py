"""Order tokens: one non-transferable ERC-721 token per published order (docs/tokens.md).

``tables`` (the mint state, migration 0018), ``metadata`` (the read side: the metadata JSON and
the mint state pages show), ``mint`` (crash-safe batch minting), ``cli`` (``veraz mint``).
"""
