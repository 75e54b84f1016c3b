// SPDX-License-Identifier: AGPL-3.0-or-later
pragma solidity 0.8.37;

/// @title VerazAnchor: publishes Veraz evidence-log checkpoints on an EVM chain.
/// @notice One call anchors one checkpoint: the RFC 9162 Merkle root of the log and its size.
///
/// Design (see docs/anchoring.md, "The contract"):
///
/// * Event only, no storage. An event costs about 24.5k gas per anchor; also storing a
///   root => timestamp mapping costs about 46k. The event is not weaker evidence than storage:
///   logs are part of the transaction receipt, and the receipts root is in the block header,
///   so every node that accepts the block has checked them. A verifier reads the receipt of
///   the transaction named in the anchor record (eth_getTransactionReceipt) and checks the
///   block it is in; nothing needs to be read from contract storage.
///
/// * No owner, no access control, no admin functions. Anyone may call anchor(); the event
///   records msg.sender as an indexed topic, so a verifier (and anyone listing the events)
///   accepts only anchors sent by the portal's published anchoring address. An owner check
///   would cost a storage read on every call, and would make the contract depend on one key
///   that cannot be rotated without also adding ownership-transfer code. Third-party calls
///   cost their senders gas and cannot forge an anchor from the portal's address.
///
/// * The contract is immutable and holds no ether (anchor() is not payable), so there is
///   nothing to upgrade, pause or withdraw.
contract VerazAnchor {
    /// @notice Emitted once per anchored checkpoint.
    /// @param root The RFC 9162 root hash of the evidence log (SHA-256, 32 bytes).
    /// @param treeSize The number of entries the root covers.
    /// @param sender The account that sent the anchoring transaction.
    event Anchored(bytes32 indexed root, uint64 treeSize, address indexed sender);

    /// @notice Anchor a checkpoint: emits Anchored(root, treeSize, msg.sender).
    function anchor(bytes32 root, uint64 treeSize) external {
        emit Anchored(root, treeSize, msg.sender);
    }
}
