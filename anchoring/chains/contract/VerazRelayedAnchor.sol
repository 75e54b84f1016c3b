// SPDX-License-Identifier: AGPL-3.0-or-later
pragma solidity 0.8.37;

import "./RelayRecipient.sol";

/// @title VerazRelayedAnchor: VerazAnchor for networks that relay transactions (LACChain).
/// @notice The same function, event and encoding as VerazAnchor (docs/anchoring.md, "The
/// contract"): event only, no storage, no owner, nothing to upgrade, pause or withdraw. The
/// one difference: the event names `_msgSender()` (RelayRecipient), so an anchor sent through
/// LACChain's RelayHub records the portal's account, not the hub. Calls that do not come from
/// the hub record `msg.sender`, exactly like VerazAnchor.
///
/// The calldata that reaches `anchor` through the hub ends with 64 more bytes, LACChain's
/// `(address nodeAddress, uint256 expiration)`; the ABI decoder reads the two static
/// arguments from their fixed offsets and ignores what follows, so nothing here parses them.
///
/// VerazAnchor stays the contract for every other chain: its deployed code (and so every
/// anchor already verified against it) does not change.
contract VerazRelayedAnchor is RelayRecipient {
    /// @notice Emitted once per anchored checkpoint (same signature and topics as VerazAnchor).
    event Anchored(bytes32 indexed root, uint64 treeSize, address indexed sender);

    /// @param forwarder The network's RelayHub address (gas-relay-signer `contractAddress`).
    constructor(address forwarder) RelayRecipient(forwarder) {}

    /// @notice Anchor a checkpoint: emits Anchored(root, treeSize, _msgSender()).
    function anchor(bytes32 root, uint64 treeSize) external {
        emit Anchored(root, treeSize, _msgSender());
    }
}
