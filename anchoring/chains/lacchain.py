"""LACChain's gas model: anchoring transactions relayed by a writer node through the RelayHub.

LACChain (the IDB's Besu network) runs with gas price 0. A user does not send its transaction
to the target contract itself: it signs an ordinary legacy transaction and hands it to a
writer node (``eth_sendRawTransaction``), whose gas-relay-signer sends
``RelayHub.relayMetaTx(signingData, v, r, s)`` from the node's own account. The RelayHub
recovers the user from the signature and calls the target contract with the user's calldata;
a relay-aware contract (``contract/RelayRecipient.sol``) asks the hub who the user was.

What the user signs (LACChain gas-management ``docs/How_adapt_your_Dapp.md``; the
``@lacchain/gas-model-provider`` signer, ``src/lacchain-transaction-request.ts`` and
``src/signer.ts``; the gas-relay-signer, ``controller/processController.go``):

* ``data`` = the call's ABI calldata followed by ``abi.encode(address nodeAddress, uint256
  expiration)``: 64 bytes, the writer node's address left-padded to 32 bytes, then the Unix
  time after which the transaction may no longer enter a block, big-endian;
* ``gasPrice`` 0, a legacy (type 0) transaction signed without EIP-155 (chain id 0, so
  ``v`` is 27 or 28): the relay signer refuses any other ``v``;
* ``nonce``: the user's nonce at the RelayHub for this node (``getNonce(from)`` called by the
  node), which the relay signer answers to ``eth_getTransactionCount(from, "latest")``.

The network's permissioning contract refuses the node's ``relayMetaTx`` transaction when the
expiration is past (``expiration < block.timestamp``) or ``nodeAddress`` is not the node that
sends it (lacchain/permissioning-smart-contracts ``contracts/AccountRules.sol``). The
transaction hash the node returns is the hash of ITS transaction to the hub, not of the
user's signed bytes; receipts are read under that hash, and the target contract's events
are in that receipt.

This module is the strategy :class:`anchoring.chains.evm.EvmAnchorer` uses when given
``relay=LacchainRelay(...)``: everything else (sending, receipts, confirmations,
:func:`~anchoring.chains.evm.verify_anchor`) is the ordinary EVM code path.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import rlp
from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import is_address, to_checksum_address
from hexbytes import HexBytes

from anchoring.errors import ChainError

if TYPE_CHECKING:
    from web3 import Web3

    from anchoring.chains.keys import AnchorAccount

__all__ = [
    "RELAY_SUFFIX_LENGTH",
    "LacchainRelay",
    "relay_suffix",
    "signing_data",
    "split_relay_suffix",
]

#: Bytes LACChain's gas model appends to the calldata: ``abi.encode(address, uint256)``.
RELAY_SUFFIX_LENGTH = 64
_MAX_UINT256 = 2**256 - 1


def relay_suffix(node_address: str, expiration: int) -> bytes:
    """``abi.encode(address nodeAddress, uint256 expiration)``: the 64 bytes appended to the
    calldata (the address left-padded with 12 zero bytes, then the expiration, big-endian)."""
    if not is_address(node_address):
        raise ChainError(f"the LACChain node address {node_address!r} is not an address")
    if not isinstance(expiration, int) or not 0 <= expiration <= _MAX_UINT256:
        raise ChainError("the LACChain expiration must be a Unix time in 0 .. 2**256-1")
    return bytes(abi_encode(["address", "uint256"], [to_checksum_address(node_address), expiration]))


def split_relay_suffix(data: bytes) -> tuple[bytes, str, int]:
    """``(calldata, node_address, expiration)`` of relayed ``data`` (the inverse of appending
    :func:`relay_suffix`); :class:`ChainError` when it cannot hold a suffix."""
    data = bytes(data)
    if len(data) < RELAY_SUFFIX_LENGTH:
        raise ChainError("the data is too short to end with a LACChain node address and expiration")
    word = data[-RELAY_SUFFIX_LENGTH : -RELAY_SUFFIX_LENGTH + 32]
    if word[:12] != bytes(12):
        raise ChainError("the LACChain node address word is not a left-padded address")
    node, expiration = abi_decode(["address", "uint256"], data[-RELAY_SUFFIX_LENGTH:])
    return data[:-RELAY_SUFFIX_LENGTH], to_checksum_address(node), int(expiration)


def signing_data(raw_transaction: bytes) -> tuple[bytes, int, bytes, bytes]:
    """What the writer node passes to ``relayMetaTx``: ``(signingData, v, r, s)`` of a signed
    pre-EIP-155 legacy transaction. ``signingData`` is the RLP list ``[nonce, gasPrice,
    gasLimit, to, value, data]`` (the signed fields, without the signature); the user is
    ``ecrecover(keccak256(signingData), v, r, s)``."""
    try:
        items = rlp.decode(bytes(raw_transaction))
    except rlp.exceptions.DecodingError as exc:
        raise ChainError(f"not an RLP transaction: {exc}") from None
    if not isinstance(items, list) or len(items) != 9:
        raise ChainError("not a legacy (type 0) transaction: expected 9 RLP items")
    v = int.from_bytes(items[6], "big")
    if v not in (27, 28):
        raise ChainError(f"the transaction is signed with EIP-155 (v = {v}); the relay needs v 27 or 28")
    return bytes(rlp.encode(items[:6])), v, bytes(items[7]).rjust(32, b"\0"), bytes(items[8]).rjust(32, b"\0")


@dataclass(frozen=True)
class LacchainRelay:
    """How the anchoring account's transactions go through a LACChain writer node.

    ``node_address``: the writer node's address (``/lacchain/data/nodeAddress`` on the node,
    the account its gas-relay-signer signs with); ``relay_hub``: the RelayHub address (the
    gas-relay-signer's ``contractAddress``), which the relay-aware anchor contract trusts;
    ``expiration_window``: seconds from signing until the transaction may no longer enter a
    block; ``gas_limit``: the gas the hub gives the inner call (the relay signer asks the
    network for ``len(data) * 105 + 300000`` more for its own transaction); ``clock``: Unix
    time (the expiration is compared with block timestamps, so the host clock must be right).
    """

    node_address: str
    relay_hub: str
    expiration_window: int = 300
    gas_limit: int = 100_000
    clock: Callable[[], float] = field(default=time.time, compare=False, repr=False)

    def __post_init__(self) -> None:
        for name in ("node_address", "relay_hub"):
            value = getattr(self, name)
            if not isinstance(value, str) or not is_address(value):
                raise ChainError(f"the LACChain {name.replace('_', ' ')} {value!r} is not an address")
            object.__setattr__(self, name, to_checksum_address(value))
        if not isinstance(self.expiration_window, int) or self.expiration_window < 1:
            raise ChainError("the LACChain expiration window must be a whole number of seconds >= 1")
        if not isinstance(self.gas_limit, int) or self.gas_limit < 21_000:
            raise ChainError("the LACChain gas limit must be an integer >= 21000")

    def expiration(self) -> int:
        """The expiration to sign now: the clock plus the window."""
        return int(self.clock()) + self.expiration_window

    def complete(self, w3: Web3, account: AnchorAccount, tx: dict[str, Any]) -> dict[str, Any]:
        """The user transaction for ``tx`` (``data``, and ``to`` unless it is a deployment,
        ``gas`` to override the gas limit): the suffix appended, gas price 0, no chain id
        (signed pre-EIP-155), and the nonce the writer node reports for the account (its
        RelayHub nonce). A deployment's ``data`` is init code and constructor arguments; the
        suffix follows them, as LACChain documents (the relay signer sends it to
        ``deployMetaTx``)."""
        if "data" not in tx:
            raise ChainError("a relayed transaction needs calldata (or init code)")
        # "latest", not "pending": asked for "pending", LACChain's relay signer reserves a nonce
        # in a queue that only a sent transaction releases, so a process that died between
        # asking and sending would leave every later transaction one nonce ahead ("BAD
        # NONCE"). One anchor is in flight at a time, so the hub's current nonce is the next.
        nonce = w3.eth.get_transaction_count(to_checksum_address(account.address), "latest")
        user: dict[str, Any] = {
            "data": HexBytes(tx["data"]) + relay_suffix(self.node_address, self.expiration()),
            "value": 0,
            "gas": int(tx.get("gas") or self.gas_limit),
            "gasPrice": 0,
            "nonce": int(nonce),
        }
        if tx.get("to"):
            user["to"] = to_checksum_address(tx["to"])
        return user
