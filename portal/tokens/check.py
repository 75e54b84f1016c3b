"""The order-token rows checked against the chain: ``veraz mint --check`` and ``veraz audit``.

The pages show an order's token from ``order_tokens`` and its ``token_batches`` row (contract,
chain, transaction, block, holder), so every one of those values is re-read from the chain:

* each row: its token id is SHA-256 of its ocid; its release is a release of the order with
  the data hash minted; its batch is ``done``;
* each done batch: its chain id is the chain's; its contract is the configured one; its
  transaction's receipt is on chain, succeeded, in the recorded block with the recorded gas,
  and holds a ``Transfer`` from 0 of every token of the batch, to the recorded holder;
* each token: the chain holds it with the recorded ocid and data hash;
* the other way round: every token the contract ever minted (its ``Transfer`` events from 0)
  has a row in a done batch, so a deleted row, a row moved to another batch or an edited
  ocid or status is named by the ocid the chain holds.

Every problem names the order's ocid (:class:`CheckProblem`). The reads are one ``eth_getLogs``
for the contract, one receipt per batch and five calls per token.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_utils import is_address, to_checksum_address
from hexbytes import HexBytes
from sqlalchemy import Connection, select
from web3.exceptions import TransactionNotFound, Web3Exception

from anchoring.chains.tokens import TRANSFER_TOPIC, TokenMinter, token_id
from anchoring.errors import AnchoringError, ChainError
from portal.models import releases
from portal.tokens.tables import DONE, PENDING, order_tokens, token_batches

__all__ = ["CONTRACT_FILENAME", "CheckProblem", "audit_tokens", "check_tokens", "reading_minter"]

#: Where the embedded chain's token contract address is kept (``INSTANCE_PATH/chain/``).
CONTRACT_FILENAME = "token-contract-address"


@dataclass(frozen=True)
class CheckProblem:
    ocid: str
    reason: str


def _minted_ids(minter: TokenMinter) -> list[int]:
    """Every token id the contract minted (``Transfer`` from the zero address), in order."""
    logs = minter.w3.eth.get_logs(
        {
            "address": minter.contract_address,
            "fromBlock": 0,
            "toBlock": "latest",
            # Topics as 0x-hex strings: eth-tester (the embedded chain) ignores bytes topics.
            "topics": [HexBytes(TRANSFER_TOPIC).to_0x_hex(), HexBytes(bytes(32)).to_0x_hex()],
        }
    )
    return [int.from_bytes(bytes(e["topics"][3]), "big") for e in logs]


def _batch_problems(minter: TokenMinter, chain_id: int, batch: Any, rows: list[Any]) -> list[str]:
    """What is wrong with a done batch's own columns (named for each of its orders)."""
    if int(batch.chain_id) != chain_id:
        return [f"minted on chain {batch.chain_id}, but the chain is {chain_id}"]
    if not is_address(batch.contract) or to_checksum_address(batch.contract) != minter.contract_address:
        return [f"minted on another contract, {batch.contract}"]
    try:
        receipt = minter.w3.eth.get_transaction_receipt(HexBytes(batch.tx_hash))
    except (TransactionNotFound, ValueError):
        return [f"the recorded mint transaction {batch.tx_hash} is not on chain"]
    found = []
    if int(receipt["status"]) != 1:
        found.append(f"the recorded mint transaction {batch.tx_hash} reverted")
    if batch.block_number is None or int(receipt["blockNumber"]) != int(batch.block_number):
        found.append(f"the mint transaction is in block {receipt['blockNumber']}, not {batch.block_number}")
    if batch.gas_used is None or int(receipt["gasUsed"]) != int(batch.gas_used):
        found.append(f"the mint transaction used {receipt['gasUsed']} gas, not {batch.gas_used}")
    minted_to = {
        int.from_bytes(bytes(e["topics"][3]), "big"): to_checksum_address(bytes(e["topics"][2])[-20:])
        for e in receipt["logs"]
        if to_checksum_address(e["address"]) == minter.contract_address
        and len(e["topics"]) == 4
        and bytes(e["topics"][0]) == TRANSFER_TOPIC
        and bytes(e["topics"][1]) == bytes(32)
    }
    holder = str(batch.holder)
    for row in rows:
        to = minted_to.get(token_id(row.ocid))
        if to is None:
            found.append(f"{row.ocid} is not minted by the recorded transaction {batch.tx_hash}")
        elif holder != to:
            found.append(f"minted to {to}, not to the recorded holder {holder}")
    return found


def check_tokens(conn: Connection, minter: TokenMinter | None) -> list[CheckProblem]:
    """Every order-token row checked as the module says; without ``minter`` (no chain), the
    checks the database can make alone."""
    problems: list[CheckProblem] = []
    rows = conn.execute(
        select(order_tokens, token_batches.c.status)
        .select_from(order_tokens.outerjoin(token_batches, token_batches.c.id == order_tokens.c.batch_id))
        .order_by(order_tokens.c.ocid)
    ).all()
    hashes: dict[tuple[str, str], str] = {}
    for chunk in (rows[i : i + 500] for i in range(0, len(rows), 500)):
        keys = [r.release_id for r in chunk]
        for rel in conn.execute(
            select(releases.c.ocid, releases.c.release_id, releases.c.data_hash).where(
                releases.c.release_id.in_(keys)
            )
        ):
            hashes[(rel.ocid, rel.release_id)] = rel.data_hash
    by_batch: dict[int, list[Any]] = defaultdict(list)
    for row in rows:
        if row.token_id != f"{token_id(row.ocid):064x}":
            problems.append(CheckProblem(row.ocid, "the recorded token id is not SHA-256 of the ocid"))
        if hashes.get((row.ocid, row.release_id)) != row.data_hash:
            problems.append(
                CheckProblem(
                    row.ocid, f"release {row.release_id} of the order does not have the minted data hash"
                )
            )
        if row.status is None:
            problems.append(CheckProblem(row.ocid, f"its mint batch {row.batch_id} does not exist"))
        elif row.status == DONE:
            by_batch[int(row.batch_id)].append(row)
    if minter is None:
        return problems
    try:
        chain_id = int(minter.w3.eth.chain_id)
        batches = {b.id: b for b in conn.execute(select(token_batches).where(token_batches.c.status == DONE))}
        for batch_id, batch_rows in by_batch.items():
            for reason in _batch_problems(minter, chain_id, batches[batch_id], batch_rows):
                problems.extend(CheckProblem(r.ocid, reason) for r in batch_rows)
        for row in (r for rs in by_batch.values() for r in rs):
            token = minter.token(row.ocid)
            if token is None:
                problems.append(CheckProblem(row.ocid, "recorded as minted, but the chain has no such token"))
            elif token.data_hash != row.data_hash or token.ocid != row.ocid:
                problems.append(CheckProblem(row.ocid, f"the chain holds data hash {token.data_hash}"))
        # A pending batch's tokens may be on chain already: the next mint run marks it done.
        recorded = {token_id(r.ocid) for r in rows if r.status in (DONE, PENDING)}
        for tid in _minted_ids(minter):
            if tid not in recorded:
                token_ocid = str(minter.contract.functions.ocidOf(tid).call(minter._caller))
                problems.append(
                    CheckProblem(token_ocid, "the chain holds its token, but no done mint batch records it")
                )
    except (Web3Exception, OSError) as exc:
        raise ChainError(f"the chain could not be read: {exc}") from None
    return problems


def reading_minter(config: dict, anchorer: Any) -> TokenMinter | None:
    """A minter to READ the configured token contract (never deploys): TOKEN_CONTRACT_ADDRESS,
    or on the embedded chain the address recorded when it was deployed; None when neither."""
    address = str(config.get("TOKEN_CONTRACT_ADDRESS") or "").strip()
    if not address:
        record = Path(config["INSTANCE_PATH"]) / "chain" / CONTRACT_FILENAME
        if str(config.get("EVM_RPC_URL", "")).strip() or not record.is_file():
            return None
        address = record.read_text().strip()
    return TokenMinter(anchorer.w3, address, anchorer.account, relay=getattr(anchorer, "relay", None))


def audit_tokens(conn: Connection, config: dict, report: Any) -> str | None:
    """``veraz audit``'s step ``token``: :func:`check_tokens`, with the chain when it can be
    opened; ``report(check, subject, detail)`` per problem. Returns why the chain could not be
    read, if it could not. Costs two one-row queries when no token was ever recorded."""
    if (
        conn.execute(select(order_tokens.c.ocid).limit(1)).first() is None
        and conn.execute(select(token_batches.c.id).limit(1)).first() is None
    ):
        return None
    from portal.evidence.backends import Backends

    backends = Backends(config)
    unavailable = None
    try:
        minter = None
        try:
            minter = reading_minter(config, backends.anchorer())
            if minter is None:
                report("token", "order tokens", "tokens are recorded, but no token contract is configured")
            else:
                minter.check_contract()
        except AnchoringError as exc:
            if minter is not None:  # the chain answered: the contract itself is wrong
                report("token", "order tokens", str(exc))
            else:
                unavailable = str(exc)
            minter = None
        try:
            found = check_tokens(conn, minter)
        except ChainError as exc:
            unavailable, found = str(exc), check_tokens(conn, None)
        for p in found:
            report("token", p.ocid, p.reason)
    finally:
        backends.close()
    return unavailable
