// SPDX-License-Identifier: AGPL-3.0-or-later
pragma solidity 0.8.37;

/// @title LocalRelayFront: the published address in front of a relay hub (tests only).
/// @notice LACChain's gas-relay-signer reads the RelayHub's address from the configured
/// `contractAddress` and sends `relayMetaTx` to that hub; recipients ask the published address
/// `getRelayHub()` to know which caller is the hub (LACNet's BaseRelayRecipient samples). This
/// front only answers that question.
contract LocalRelayFront {
    address private immutable hub;

    constructor(address relayHub) {
        hub = relayHub;
    }

    function getRelayHub() external view returns (address) {
        return hub;
    }
}
