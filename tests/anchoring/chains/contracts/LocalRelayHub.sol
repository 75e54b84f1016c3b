// SPDX-License-Identifier: AGPL-3.0-or-later
pragma solidity 0.8.37;

/// @title LocalRelayHub: a stand-in for LACChain's RelayHub, for tests on anvil only.
/// @notice Follows the interface LACChain documents (gas-management: relayhub/contracts/
/// TxRelay.sol and IRelayHub.sol, the ABI in the gas-relay-signer, permissioning-smart-
/// contracts/contracts/AccountRules.sol):
///
/// * `relayMetaTx(bytes signingData, uint8 v, bytes32 r, bytes32 s)` (selector 0xa04fb2ad),
///   sent by the writer node. `signingData` is the RLP list the user signed, without the
///   signature: `[nonce, gasPrice, gasLimit, to, value, data]` (pre-EIP-155, chain id 0);
///   the user is `ecrecover(keccak256(signingData), v, r, s)`.
/// * `data` is the user's calldata followed by `abi.encode(address nodeAddress, uint256
///   expiration)`. On LACChain the network's permissioning contract refuses the node's
///   transaction when `expiration < block.timestamp` or `nodeAddress` is not the node that
///   sends it, and when its gas price is not 0; anvil has no permissioning, so this hub
///   checks the same three things and reverts.
/// * The hub's own checks: a valid signature, the user's nonce per node (`getNonce(from)`,
///   asked by the node), a destination with code. It then calls `to` with `data` (suffix
///   included) and `gasLimit` gas, answering `getMsgSender()` with the user meanwhile, and
///   emits `TransactionRelayed(relay, from, to, executed, output)`; a failed inner call does
///   not revert the node's transaction (executed = false), as on LACChain.
/// * `deployMetaTx(bytes signingData, uint8 v, bytes32 r, bytes32 s)` (selector 0x4b802a36):
///   the same for a user transaction with no destination; `data` (init code, constructor
///   arguments, then the suffix) is deployed with CREATE, and `ContractDeployed(relay, from,
///   contractDeployed)` names the new contract.
/// * `getRelayHub()` returns this contract: it is its own front.
///
/// Unlike LACChain's hub it clears the relayed sender after the call and does not meter gas.
contract LocalRelayHub {
    event TransactionRelayed(address indexed relay, address indexed from, address indexed to, bool executed, bytes output);
    event ContractDeployed(address indexed relay, address indexed from, address contractDeployed);

    mapping(address => mapping(address => uint256)) private nonces;
    address private msgSender;

    function getRelayHub() external view returns (address) {
        return address(this);
    }

    function getMsgSender() external view returns (address) {
        return msgSender;
    }

    function getNonce(address from) external view returns (uint256) {
        return nonces[msg.sender][from];
    }

    function relayMetaTx(bytes calldata signingData, uint8 v, bytes32 r, bytes32 s) external returns (bool) {
        (address from, uint256 gasLimit, address to, bytes memory data) = _verify(signingData, v, r, s, false);
        require(to.code.length > 0, "LocalRelayHub: destination is not a contract");
        msgSender = from;
        (bool executed, bytes memory output) = to.call{gas: gasLimit}(data);
        msgSender = address(0);
        emit TransactionRelayed(msg.sender, from, to, executed, output);
        return executed;
    }

    function deployMetaTx(bytes calldata signingData, uint8 v, bytes32 r, bytes32 s)
        external
        returns (bool success, address deployedAddress)
    {
        (address from,,, bytes memory data) = _verify(signingData, v, r, s, true);
        msgSender = from;
        assembly {
            deployedAddress := create(0, add(data, 32), mload(data))
        }
        msgSender = address(0);
        success = deployedAddress != address(0) && deployedAddress.code.length > 0;
        if (success) emit ContractDeployed(msg.sender, from, deployedAddress);
    }

    /// The checks LACChain's permissioning and hub make before relaying; consumes the nonce.
    function _verify(bytes calldata signingData, uint8 v, bytes32 r, bytes32 s, bool deploy)
        private
        returns (address from, uint256 gasLimit, address to, bytes memory data)
    {
        from = ecrecover(keccak256(signingData), v, r, s);
        require(from != address(0), "LocalRelayHub: invalid signature");
        uint256 nonce;
        uint256 gasPrice;
        uint256 value;
        (nonce, gasPrice, gasLimit, to, value, data) = _decode(signingData);
        require(gasPrice == 0, "LocalRelayHub: gas price must be 0");
        require(data.length >= 64, "LocalRelayHub: no node address and expiration");
        (address node, uint256 expiration) = _protection(data);
        require(expiration >= block.timestamp, "LocalRelayHub: expired");
        require(node == msg.sender, "LocalRelayHub: wrong node address");
        require(nonce == nonces[msg.sender][from], "LocalRelayHub: bad nonce");
        require(value == 0, "LocalRelayHub: value must be 0");
        require(deploy == (to == address(0)), "LocalRelayHub: a deployment has no destination");
        nonces[msg.sender][from] = nonce + 1;
    }

    /// The last two 32-byte words of the calldata: the node address, then the expiration.
    function _protection(bytes memory data) private pure returns (address node, uint256 expiration) {
        uint256 nodeWord;
        uint256 n = data.length;
        assembly {
            nodeWord := mload(add(data, sub(n, 32)))
            expiration := mload(add(data, n))
        }
        require(nodeWord >> 160 == 0, "LocalRelayHub: node address word is not an address");
        node = address(uint160(nodeWord));
    }

    function _decode(bytes memory b)
        private
        pure
        returns (uint256 nonce, uint256 gasPrice, uint256 gasLimit, address to, uint256 value, bytes memory data)
    {
        require(b.length > 0 && uint8(b[0]) >= 0xc0, "LocalRelayHub: signingData is not an RLP list");
        uint256 pos;
        uint256 end;
        if (uint8(b[0]) < 0xf8) {
            pos = 1;
            end = 1 + uint8(b[0]) - 0xc0;
        } else {
            uint256 lengthOfLength = uint8(b[0]) - 0xf7;
            pos = 1 + lengthOfLength;
            end = pos + _uint(b, 1, lengthOfLength);
        }
        require(end == b.length, "LocalRelayHub: bad RLP list length");
        uint256 start;
        uint256 len;
        (start, len, pos) = _item(b, pos);
        nonce = _uint(b, start, len);
        (start, len, pos) = _item(b, pos);
        gasPrice = _uint(b, start, len);
        (start, len, pos) = _item(b, pos);
        gasLimit = _uint(b, start, len);
        (start, len, pos) = _item(b, pos);
        require(len == 20 || len == 0, "LocalRelayHub: destination is not an address");
        to = address(uint160(_uint(b, start, len)));
        (start, len, pos) = _item(b, pos);
        value = _uint(b, start, len);
        (start, len, pos) = _item(b, pos);
        data = new bytes(len);
        for (uint256 i = 0; i < len; i++) data[i] = b[start + i];
        require(pos == end, "LocalRelayHub: signingData must have six items");
    }

    function _item(bytes memory b, uint256 pos) private pure returns (uint256 start, uint256 len, uint256 next) {
        require(pos < b.length, "LocalRelayHub: truncated RLP");
        uint8 p = uint8(b[pos]);
        if (p < 0x80) {
            (start, len) = (pos, 1);
        } else if (p < 0xb8) {
            (start, len) = (pos + 1, p - 0x80);
        } else if (p < 0xc0) {
            uint256 lengthOfLength = p - 0xb7;
            (start, len) = (pos + 1 + lengthOfLength, _uint(b, pos + 1, lengthOfLength));
        } else {
            revert("LocalRelayHub: unexpected nested list");
        }
        next = start + len;
        require(next <= b.length, "LocalRelayHub: truncated RLP");
    }

    function _uint(bytes memory b, uint256 start, uint256 len) private pure returns (uint256 v) {
        require(len <= 32 && start + len <= b.length, "LocalRelayHub: bad RLP integer");
        for (uint256 i = 0; i < len; i++) v = (v << 8) | uint8(b[start + i]);
    }
}
