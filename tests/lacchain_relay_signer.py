"""A LACChain writer node's gas-relay-signer, re-enacted over HTTP in front of anvil (tests only).

What LACChain's gas-relay-signer does with a user's JSON-RPC calls (lacchain/gas-management
and LACNetNetworks/gas-management: ``controller/relayController.go``,
``controller/processController.go``, ``service/relaySignerService.go``):

* ``eth_sendRawTransaction``: refuses a transaction not signed pre-EIP-155 (``v`` 27/28);
  builds ``signingData`` = RLP ``[nonce, gasPrice, gasLimit, to, value, data]`` of the
  user's transaction; simulates ``relayMetaTx(signingData, v, r, s)`` on the RelayHub from
  the node's account and refuses it when it would fail; otherwise sends it from the node's
  account, with gas ``len(data) * 105 + 300000 + gasLimit``, and answers with the hash of
  the NODE's transaction;
  A transaction without a destination goes to ``deployMetaTx`` instead;
* ``eth_getTransactionCount``: the user's nonce at the RelayHub for this node
  (``getNonce(from)`` called from the node's account); asked for ``pending``, the newer relay
  signer also queues a nonce per user and answers one more than the last queued, and a sent
  transaction whose nonce is not the hub's current one is refused with ``BAD NONCE`` (a queued
  nonce is only released when a transaction is sent);
* ``eth_getTransactionReceipt``: the node's receipt, with ``contractAddress`` taken from the
  hub's ``ContractDeployed`` event and ``status`` 0 when ``TransactionRelayed`` says the inner
  call failed;
* anything else goes to the node (anvil here).

This is built independently of ``anchoring.chains.lacchain`` (it decodes the raw bytes with
``rlp`` itself), so the tests check the portal's transactions against it rather than against
the portal's own reading of the format.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import rlp
from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes
from web3 import HTTPProvider, Web3

RELAY_META_TX = keccak(text="relayMetaTx(bytes,uint8,bytes32,bytes32)")[:4]
DEPLOY_META_TX = keccak(text="deployMetaTx(bytes,uint8,bytes32,bytes32)")[:4]
CONTRACT_DEPLOYED = keccak(text="ContractDeployed(address,address,address)")
TRANSACTION_RELAYED = keccak(text="TransactionRelayed(address,address,address,bool,bytes)")
GET_NONCE = keccak(text="getNonce(address)")[:4]


class RelaySigner:
    """An HTTP JSON-RPC endpoint relaying through ``hub`` with the node key ``node``."""

    def __init__(self, upstream: str, hub: str, node: LocalAccount) -> None:
        self.upstream = Web3(HTTPProvider(upstream))
        self.hub = to_checksum_address(hub)
        self.node = node
        self.relayed: list[str] = []  # node transaction hashes, in order
        self.queues: dict[str, list[int]] = {}  # the relay signer's pending nonces per user
        self._lock = threading.Lock()
        signer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server hook's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                request = json.loads(body)
                if isinstance(request, list):
                    answer: Any = [signer.handle(item) for item in request]
                else:
                    answer = signer.handle(request)
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        method, params, ident = request.get("method"), request.get("params") or [], request.get("id")
        try:
            if method == "eth_sendRawTransaction":
                result: Any = self._relay(HexBytes(params[0]))
            elif method == "eth_getTransactionCount":
                result = hex(self._transaction_count(params[0], str(params[1] if len(params) > 1 else "")))
            elif method == "eth_getTransactionReceipt":
                result = self._receipt(params[0])
            else:
                answer = self.upstream.provider.make_request(method, params)
                return {**dict(answer), "id": ident}
        except RelayRefused as exc:
            return {"jsonrpc": "2.0", "id": ident, "error": {"code": -32000, "message": str(exc)}}
        return {"jsonrpc": "2.0", "id": ident, "result": result}

    def _transaction_count(self, user: str, tag: str) -> int:
        nonce = self._hub_nonce(user)
        if tag.lower() == "pending":
            with self._lock:
                queue = self.queues.setdefault(to_checksum_address(user), [])
                if queue:
                    nonce = queue[-1] + 1
                queue.append(nonce)
        return nonce

    def _hub_nonce(self, user: str) -> int:
        data = GET_NONCE + abi_encode(["address"], [to_checksum_address(user)])
        out = self.upstream.eth.call({"from": self.node.address, "to": self.hub, "data": HexBytes(data)})
        return int(abi_decode(["uint256"], bytes(out))[0])

    def _receipt(self, tx_hash: str) -> Any:
        answer = self.upstream.provider.make_request("eth_getTransactionReceipt", [tx_hash])  # type: ignore[arg-type]
        receipt = answer.get("result")
        if not receipt:
            return receipt
        receipt = dict(receipt)
        for entry in receipt.get("logs", []):
            topic = HexBytes(entry["topics"][0]) if entry.get("topics") else b""
            if topic == CONTRACT_DEPLOYED:
                receipt["contractAddress"] = to_checksum_address(HexBytes(entry["data"])[-20:])
            elif topic == TRANSACTION_RELAYED:
                executed = abi_decode(["bool", "bytes"], bytes(HexBytes(entry["data"])))[0]
                if not executed:
                    receipt["status"] = "0x0"
        return receipt

    def _relay(self, raw: HexBytes) -> str:
        items = rlp.decode(bytes(raw))
        if len(items) != 9:
            raise RelayRefused("only legacy transactions are relayed")
        v = int.from_bytes(items[6], "big")
        if v not in (27, 28):
            raise RelayRefused("transaction must be signed pre-EIP155 (chainId=0, v=27 or 28)")
        signing_data = rlp.encode(items[:6])
        sender = Account.recover_transaction(bytes(raw))
        if int.from_bytes(items[0], "big") != self._hub_nonce(sender):
            raise RelayRefused("BAD NONCE")
        user_gas = int.from_bytes(items[2], "big")
        user_data = bytes(items[5])
        selector = RELAY_META_TX if items[3] else DEPLOY_META_TX  # no destination: a deployment
        call = selector + abi_encode(
            ["bytes", "uint8", "bytes32", "bytes32"],
            [signing_data, v, bytes(items[7]).rjust(32, b"\0"), bytes(items[8]).rjust(32, b"\0")],
        )
        tx = {"from": self.node.address, "to": self.hub, "data": HexBytes(call)}
        try:
            self.upstream.eth.call(tx)  # the relay signer's simulation
        except Exception as exc:  # a revert: the transaction would fail, so it is refused
            raise RelayRefused(f"Transaction will fail, then is rejected: {exc}") from None
        with self._lock:
            full = {
                **tx,
                "gas": len(user_data) * 105 + 300_000 + user_gas,
                "nonce": self.upstream.eth.get_transaction_count(self.node.address, "pending"),
                "chainId": self.upstream.eth.chain_id,
                "gasPrice": self.upstream.eth.gas_price,
            }
            signed = self.node.sign_transaction(full)
            tx_hash = self.upstream.eth.send_raw_transaction(signed.raw_transaction).to_0x_hex()
            self.relayed.append(tx_hash)
            queue = self.queues.get(sender)
            if queue:
                queue.pop(0)
        return tx_hash


class RelayRefused(Exception):
    """The relay signer refuses the transaction (a JSON-RPC error to the client)."""
