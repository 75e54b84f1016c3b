// SPDX-License-Identifier: AGPL-3.0-or-later
pragma solidity 0.8.37;

/// @title RelayRecipient: who really called, when calls arrive through LACChain's RelayHub.
/// @notice On LACChain (gas price 0) a writer node wraps each user transaction in a
/// meta-transaction to the network's RelayHub, and the RelayHub calls the target contract:
/// `msg.sender` is then the RelayHub, not the user. During that call the RelayHub answers
/// `getMsgSender()` with the user it recovered from the user's signature (LACChain
/// gas-management, docs/How_adapt_your_Dapp.md and relayhub/contracts/TxRelay.sol). The
/// address configured in a writer node's gas-relay-signer (`contractAddress`) may be a front
/// whose `getRelayHub()` names the contract that actually makes the calls (LACNet's
/// BaseRelayRecipient samples ask it first); a hub that is its own front returns itself.
///
/// Use `_msgSender()` wherever the contract would use `msg.sender`:
///
/// * a call from the relay hub: the sender the hub names (`getMsgSender()`);
/// * any other call (a direct transaction, another contract, any call on a chain deployed
///   with hub = address(0)): `msg.sender` itself.
///
/// Unlike LACChain's simplest BaseRelayRecipient sample, this never asks the hub about a
/// call that did not come from it: the hub keeps the last relayed sender in storage after
/// the call, so asking it unconditionally would let anyone calling directly pass as the
/// last user relayed. `getMsgSender()` is asked of the calling hub itself (the contract whose
/// storage holds the sender), not of its front, and its answer is checked (the call
/// succeeded, returned one non-zero address) instead of being decoded blindly.
///
/// To inherit: `contract Token is RelayRecipient { constructor(address hub) RelayRecipient(hub) {} }`
/// and read the caller only through `_msgSender()`. A contract that already declares a
/// virtual `_msgSender()` (for example from another base) overrides both and returns
/// `RelayRecipient._msgSender()`. The trusted forwarder is immutable: it is part of the
/// deployed code, so a verifier reads it from the code and can require it to be the network's.
abstract contract RelayRecipient {
    /// @notice The relay hub's front (the address LACChain publishes), trusted to name the hub
    /// that relays, which names the original sender; zero: no relay, `msg.sender` always.
    address public immutable trustedForwarder;

    constructor(address forwarder) {
        trustedForwarder = forwarder;
    }

    /// @notice True when `forwarder` is the configured relay hub front (never address(0)).
    function isTrustedForwarder(address forwarder) public view returns (bool) {
        return forwarder != address(0) && forwarder == trustedForwarder;
    }

    /// @notice The address that calls the recipient for the hub: what `getRelayHub()` on the
    /// trusted forwarder returns, or address(0) when no forwarder is configured or it does
    /// not answer with one address.
    function _relayHub() internal view returns (address) {
        address forwarder = trustedForwarder;
        if (forwarder == address(0)) return address(0);
        (bool ok, bytes memory out) = forwarder.staticcall(abi.encodeWithSignature("getRelayHub()"));
        if (!ok || out.length != 32) return address(0);
        return abi.decode(out, (address));
    }

    /// @notice The original sender of this call (see the contract notes).
    function _msgSender() internal view virtual returns (address) {
        if (trustedForwarder == address(0)) return msg.sender;
        address hub = _relayHub();
        if (hub == address(0) || msg.sender != hub) return msg.sender;
        // Asked of the hub that is calling (it holds the sender it recovered), not of the front.
        (bool ok, bytes memory out) = hub.staticcall(abi.encodeWithSignature("getMsgSender()"));
        require(ok && out.length == 32, "RelayRecipient: the relay hub did not name the sender");
        address sender = abi.decode(out, (address));
        require(sender != address(0), "RelayRecipient: the relay hub named no sender");
        return sender;
    }
}
