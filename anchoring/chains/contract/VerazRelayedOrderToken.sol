// SPDX-License-Identifier: AGPL-3.0-or-later
pragma solidity 0.8.37;

import "./RelayRecipient.sol";
import "./VerazOrderToken.sol";

/// @title VerazRelayedOrderToken: VerazOrderToken for networks that relay transactions (LACChain).
/// @notice The same functions, events, token ids, metadata and soulbinding as VerazOrderToken
/// (docs/tokens.md). The one difference: the caller is `RelayRecipient._msgSender()`, so the
/// owner recorded at deployment and checked by `mintBatch` and `setBaseURI` is the portal's
/// account even when its transactions reach the contract through LACChain's RelayHub (whose
/// address `msg.sender` would otherwise be, making the hub, and so anyone it relays, the owner).
/// Calls that do not come from the hub are read as `msg.sender`, like VerazOrderToken.
///
/// A variant rather than a change to VerazOrderToken: tokens on every other chain keep the
/// code (and so the builds already verified) they have, and no call there pays for asking a hub.
contract VerazRelayedOrderToken is RelayRecipient, VerazOrderToken {
    /// @param baseURI_ As VerazOrderToken's.
    /// @param forwarder The network's RelayHub address (gas-relay-signer `contractAddress`).
    constructor(string memory baseURI_, address forwarder)
        RelayRecipient(forwarder)
        VerazOrderToken(baseURI_)
    {}

    function _msgSender() internal view override(RelayRecipient, VerazOrderToken) returns (address) {
        return RelayRecipient._msgSender();
    }
}
