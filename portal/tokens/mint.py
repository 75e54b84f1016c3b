"""Mint one order token per published order, in batches, at most once, even if killed mid-way.

The steps of one batch (as ``portal.evidence.evm`` anchors a checkpoint):

1. choose up to TOKEN_BATCH_SIZE orders with no ``order_tokens`` row (their latest release
   logged), leaving out any the chain already holds (those are adopted, step 5);
2. sign ``mintBatch(holder, ocids, dataHashes)`` with the next nonce and COMMIT, in one
   transaction, the ``token_batches`` row (``pending``, the signed bytes and their hash) and one
   ``order_tokens`` row per order, before anything leaves the process;
3. broadcast those exact bytes; wait for the receipt and the confirmations; mark it ``done``.

On restart, each ``pending`` batch is resumed first: mined → ``done``; not mined → the SAME
signed bytes are broadcast again (one nonce: at most one of them is ever mined); the nonce was
used by another transaction, or the transaction reverted → ``failed``, and its orders are freed
to be chosen again. The contract itself refuses an ocid minted before, so even a lost database
cannot make a second token for an order; tokens found on chain with no row are adopted
(step 1): their row is rebuilt from the chain (``mintBatch``'s ``Transfer`` event).

Through a LACChain writer node (CHAIN_BACKEND ``lacchain``, the minter's ``relay``) the node
answers with the hash of ITS transaction to the RelayHub, which replaces the signed bytes' hash
in the batch row once known, and the signed bytes expire (the suffix's expiration, read back
from ``raw``). A pending batch is then resumed from the chain: its first order's token is on
chain → the batch is done (its ``Transfer`` names the transaction); else the signed bytes are
sent again unless the chain's clock has passed their expiration (→ ``failed``). The hub's nonce
lets at most one of two relayed copies through, and the contract refuses an ocid minted before.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import rlp
from eth_utils import to_checksum_address
from hexbytes import HexBytes
from sqlalchemy import Connection, Engine, delete, insert, select, update
from web3.exceptions import TransactionNotFound, Web3Exception

from anchoring.chains.lacchain import split_relay_suffix
from anchoring.chains.tokens import TokenMinter, token_id
from anchoring.errors import ChainError
from portal import links
from portal.evidence.crash import crash_point
from portal.evidence.evm import broadcast
from portal.models import records, releases
from portal.tokens.check import CONTRACT_FILENAME, check_tokens
from portal.tokens.tables import DONE, FAILED, PENDING, order_tokens, token_batches

log = logging.getLogger(__name__)

#: ``VERAZ_CRASH_AT`` points of minting (``portal.evidence.crash``), for the crash tests.
CRASH_POINTS = ("mint-after-intent", "mint-after-send")


def enabled(config: dict) -> bool:
    """Whether the settings ask for order tokens (TOKENS_MINT)."""
    value = config.get("TOKENS_MINT")
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


def base_uri(config: dict) -> str:
    """The contract's base URI: ``{BASE_URL}/tokens/`` (tokenURI appends ``<ocid>.json``)."""
    return links.token_metadata_url(config["BASE_URL"], "").removesuffix(".json")


def open_minter(config: dict, backends: Any) -> TokenMinter:
    """The minter of the settings, on the anchoring chain and account (``Backends``).

    With EVM_RPC_URL, TOKEN_CONTRACT_ADDRESS names the deployed contract (``veraz mint
    --deploy`` deploys one). On the embedded chain the contract is deployed once and its address
    kept in ``INSTANCE_PATH/chain/token-contract-address``. Raises :class:`ChainError`.
    """
    if str(config.get("EVM_RPC_URL", "")).strip().lower() == "off":
        raise ChainError("order tokens need the EVM chain, and EVM_RPC_URL is off")
    anchorer = backends.anchorer()
    address = str(config.get("TOKEN_CONTRACT_ADDRESS") or "").strip()
    if not address:
        if str(config.get("EVM_RPC_URL", "")).strip():
            raise ChainError(
                "setting TOKEN_CONTRACT_ADDRESS is required with EVM_RPC_URL (`veraz mint --deploy` "
                "deploys the contract and prints its address)"
            )
        address = _embedded_contract(
            anchorer, config, Path(config["INSTANCE_PATH"]) / "chain" / CONTRACT_FILENAME
        )
    minter = TokenMinter(
        anchorer.w3,
        address,
        anchorer.account,
        gas_price=anchorer.gas_price,
        timeout=anchorer.timeout,
        confirmations=anchorer.confirmations,
        poll_interval=anchorer.poll_interval,
        mine_while_waiting=anchorer.mine_while_waiting,
        relay=getattr(anchorer, "relay", None),
    )
    minter.check_contract()
    return minter


def deploy(config: dict, backends: Any) -> str:
    """Deploy a VerazOrderToken owned by the anchoring account; its address. On LACChain,
    a VerazRelayedOrderToken trusting the network's hub, deployed through the writer node."""
    from anchoring.chains.tokens import deploy_token_contract

    anchorer = backends.anchorer()
    return deploy_token_contract(
        anchorer.w3,
        anchorer.account,
        base_uri(config),
        gas_price=anchorer.gas_price,
        timeout=anchorer.timeout,
        relay=getattr(anchorer, "relay", None),
    )


def _embedded_contract(anchorer: Any, config: dict, record: Path) -> str:
    from anchoring.chains.tokens import deploy_token_contract, token_artifact

    if record.is_file():
        address = to_checksum_address(record.read_text().strip())
        if anchorer.w3.eth.get_code(address) == HexBytes(token_artifact()["deployedBytecode"]):
            return address
    deployed = deploy_token_contract(anchorer.w3, anchorer.account, base_uri(config))
    tmp = record.with_suffix(".tmp")
    tmp.write_text(deployed + "\n")
    tmp.replace(record)
    return deployed


@dataclass
class MintReport:
    """What one run did."""

    minted: int = 0  # orders whose batch is done in this run
    batches: int = 0
    adopted: int = 0  # tokens found on chain without a row
    failed: int = 0  # batches that never took effect (their orders are chosen again)
    gas_used: int = 0
    errors: list[str] = field(default_factory=list)


def _now() -> datetime:
    return datetime.now(UTC)


def _inserted_id(conn: Connection, statement: Any) -> int:
    """Run an insert of one ``token_batches`` row; its new id."""
    key = conn.execute(statement).inserted_primary_key
    if key is None:  # pragma: no cover - every insert of a row with a primary key has one
        raise RuntimeError("the database gave no id for the new batch")
    return int(key[0])


def _receipt(minter: TokenMinter, tx_hash: str) -> Any | None:
    try:
        return minter.w3.eth.get_transaction_receipt(HexBytes(tx_hash))
    except TransactionNotFound:
        return None


def _set_tx_hash(engine: Engine, batch_id: int, tx_hash: str) -> None:
    """Record the hash the writer node answered (its relay transaction) for the batch."""
    with engine.begin() as conn:
        conn.execute(
            update(token_batches)
            .where(token_batches.c.id == batch_id)
            .values(tx_hash=tx_hash, updated_at=_now())
        )


def _wait(minter: TokenMinter, tx_hash: str) -> Any:
    """The receipt once ``confirmations`` deep; ChainError on timeout (it is resumed later)."""
    deadline = time.monotonic() + minter.timeout
    while True:
        receipt = _receipt(minter, tx_hash)
        if receipt is not None:
            depth = int(minter.w3.eth.block_number) - int(receipt["blockNumber"]) + 1
            if receipt["status"] != 1 or depth >= minter.confirmations:
                return receipt
        if time.monotonic() > deadline:
            raise ChainError(
                f"mint transaction {tx_hash} not confirmed within {minter.timeout} s; "
                "the next run looks for it (it is not sent again with another nonce)"
            )
        minter.pause_between_polls(mine=receipt is not None)


def _finish(engine: Engine, batch_id: int, receipt: Any, report: MintReport) -> None:
    """Record a mined batch: done, or failed (reverted) with its orders freed."""
    with engine.begin() as conn:
        if receipt["status"] == 1:
            conn.execute(
                update(token_batches)
                .where(token_batches.c.id == batch_id)
                .values(
                    status=DONE,
                    block_number=int(receipt["blockNumber"]),
                    gas_used=int(receipt["gasUsed"]),
                    last_error=None,
                    updated_at=_now(),
                )
            )
            count = len(
                conn.execute(select(order_tokens.c.ocid).where(order_tokens.c.batch_id == batch_id)).all()
            )
            report.minted += count
            report.batches += 1
            report.gas_used += int(receipt["gasUsed"])
            return
        _fail(conn, batch_id, "the transaction reverted", report)


def _fail(conn: Connection, batch_id: int, reason: str, report: MintReport) -> None:
    conn.execute(delete(order_tokens).where(order_tokens.c.batch_id == batch_id))
    conn.execute(
        update(token_batches)
        .where(token_batches.c.id == batch_id)
        .values(status=FAILED, last_error=reason, updated_at=_now())
    )
    report.failed += 1
    log.warning("mint batch %d failed: %s; its orders will be chosen again", batch_id, reason)


def _resume_relayed(engine: Engine, minter: TokenMinter, batch: Any, report: MintReport) -> None:
    """Resume a batch sent through a LACChain writer node (see the module notes)."""
    with engine.connect() as conn:
        first = conn.execute(
            select(order_tokens.c.ocid)
            .where(order_tokens.c.batch_id == batch.id)
            .order_by(order_tokens.c.ocid)
        ).scalar()
    tid = token_id(first) if first is not None else None
    found = minter.mint_transaction_of(tid, int(batch.from_block)) if tid is not None else None
    if found is not None:
        if found != batch.tx_hash:
            _set_tx_hash(engine, batch.id, found)
        _finish(engine, batch.id, _wait(minter, found), report)
        return
    if _receipt(minter, batch.tx_hash) is not None:
        # The node's transaction was mined and minted nothing (the hub's call failed).
        _finish(engine, batch.id, _wait(minter, batch.tx_hash), report)
        return
    expiration = split_relay_suffix(bytes(rlp.decode(bytes(batch.raw))[5]))[2]
    if int(minter.w3.eth.get_block("latest")["timestamp"]) > expiration:
        with engine.begin() as conn:
            _fail(conn, batch.id, "its relayed transaction expired before it was mined", report)
        return
    sent = broadcast(minter.w3, bytes(batch.raw), "mint")
    if sent is None:
        with engine.begin() as conn:
            _fail(conn, batch.id, "its nonce was used by another transaction", report)
        return
    if sent != batch.tx_hash:
        _set_tx_hash(engine, batch.id, sent)
    _finish(engine, batch.id, _wait(minter, sent), report)


def _resume(engine: Engine, minter: TokenMinter, batch: Any, report: MintReport) -> None:
    if minter.relay is not None:
        _resume_relayed(engine, minter, batch, report)
        return
    receipt = _receipt(minter, batch.tx_hash)
    if receipt is None and not broadcast(minter.w3, bytes(batch.raw), "mint"):
        # The nonce went to another transaction: this one can never be mined.
        with engine.begin() as conn:
            _fail(conn, batch.id, "its nonce was used by another transaction", report)
        return
    _finish(engine, batch.id, _wait(minter, batch.tx_hash), report)


def _candidates(conn: Connection, limit: int) -> list[tuple[str, str, str]]:
    """Up to ``limit`` orders without a token row: ``(ocid, release id, data hash)`` of the
    order's latest release, which must be in the evidence log."""
    rows = conn.execute(
        select(records.c.ocid, releases.c.release_id, releases.c.data_hash)
        .select_from(
            records.join(releases, releases.c.id == records.c.last_release).outerjoin(
                order_tokens, order_tokens.c.ocid == records.c.ocid
            )
        )
        .where(records.c.kind == "order", order_tokens.c.ocid.is_(None), releases.c.leaf_index.is_not(None))
        .order_by(records.c.ocid)
        .limit(limit)
    ).all()
    return [(r.ocid, r.release_id, r.data_hash) for r in rows]


def _adopt(engine: Engine, minter: TokenMinter, found: list[tuple[str, str, str]]) -> None:
    """Rows for tokens the chain holds but the database does not (a lost or restored database)."""
    chain_id = int(minter.w3.eth.chain_id)
    for ocid, release_id, _ in found:
        token = minter.token(ocid)
        tx_hash = minter.mint_transaction_of(token.token_id) if token else None
        if token is None or tx_hash is None:
            continue
        receipt = minter.w3.eth.get_transaction_receipt(HexBytes(tx_hash))
        now = _now()
        with engine.begin() as conn:
            batch_id = _inserted_id(
                conn,
                insert(token_batches).values(
                    chain_id=chain_id,
                    contract=minter.contract_address,
                    holder=token.holder,
                    status=DONE,
                    tx_hash=tx_hash,
                    raw=b"",  # not signed by this database: adopted from the chain
                    nonce=-1,
                    from_block=int(receipt["blockNumber"]),
                    block_number=int(receipt["blockNumber"]),
                    gas_used=int(receipt["gasUsed"]),
                    last_error="adopted from the chain",
                    created_at=now,
                    updated_at=now,
                ),
            )
            conn.execute(
                insert(order_tokens).values(
                    ocid=ocid,
                    token_id=f"{token.token_id:064x}",
                    # The chain says which data hash; the release is the one that has it.
                    release_id=_release_with_hash(conn, ocid, token.data_hash) or release_id,
                    data_hash=token.data_hash,
                    batch_id=batch_id,
                )
            )


def _release_with_hash(conn: Connection, ocid: str, data_hash: str) -> str | None:
    return conn.execute(
        select(releases.c.release_id)
        .where(releases.c.ocid == ocid, releases.c.data_hash == data_hash)
        .limit(1)
    ).scalar()


def holder_of(config: dict, minter: TokenMinter) -> str:
    """Who the tokens go to: TOKEN_HOLDER, else the minting account."""
    holder = str(config.get("TOKEN_HOLDER") or "").strip()
    return to_checksum_address(holder) if holder else minter.account.address


def mint_pending(
    engine: Engine, config: dict, minter: TokenMinter, *, max_batches: int | None = None
) -> MintReport:
    """Resume unfinished batches, then mint every order without a token, batch by batch.

    Raises :class:`ChainError` when the chain cannot be reached (what was recorded is resumed
    by the next run).
    """
    report = MintReport()
    size = max(1, int(config.get("TOKEN_BATCH_SIZE") or 100))
    holder = holder_of(config, minter)
    chain_id = int(minter.w3.eth.chain_id)
    try:
        with engine.connect() as conn:
            pending = conn.execute(
                select(token_batches).where(token_batches.c.status == PENDING).order_by(token_batches.c.id)
            ).all()
        for batch in pending:
            _resume(engine, minter, batch, report)
        while max_batches is None or report.batches < max_batches:
            with engine.connect() as conn:
                chosen = _candidates(conn, size)
            if not chosen:
                break
            on_chain = [c for c in chosen if minter.minted(token_id(c[0]))]
            if on_chain:
                _adopt(engine, minter, on_chain)
                report.adopted += len(on_chain)
                chosen = [c for c in chosen if c not in on_chain]
                if not chosen:
                    continue
            failed = report.failed
            _mint_batch(engine, minter, holder, chain_id, chosen, report)
            if report.failed > failed:
                # A batch of this run reverted: sending the same again would revert again (gas,
                # a network limit). Stop; the next run tries again, and the log says why.
                report.errors.append("a mint batch reverted; see the log, the next run tries again")
                break
    except (Web3Exception, OSError) as exc:
        raise ChainError(f"the chain could not be reached: {exc}") from None
    return report


def _mint_batch(
    engine: Engine,
    minter: TokenMinter,
    holder: str,
    chain_id: int,
    chosen: list[tuple[str, str, str]],
    report: MintReport,
) -> None:
    items = [(ocid, bytes.fromhex(data_hash)) for ocid, _, data_hash in chosen]
    tx = minter.mint_transaction(holder, items)
    signed = minter.account.sign_transaction(tx)
    tx_hash = HexBytes(signed.hash).to_0x_hex()
    now = _now()
    with engine.begin() as conn:  # the intent, durable before anything is sent
        batch_id = _inserted_id(
            conn,
            insert(token_batches).values(
                chain_id=chain_id,
                contract=minter.contract_address,
                holder=holder,
                status=PENDING,
                tx_hash=tx_hash,
                raw=bytes(signed.raw_transaction),
                nonce=int(tx["nonce"]),
                from_block=int(minter.w3.eth.block_number),
                created_at=now,
                updated_at=now,
            ),
        )
        conn.execute(
            insert(order_tokens),
            [
                {
                    "ocid": ocid,
                    "token_id": f"{token_id(ocid):064x}",
                    "release_id": release_id,
                    "data_hash": data_hash,
                    "batch_id": batch_id,
                }
                for ocid, release_id, data_hash in chosen
            ],
        )
    crash_point("mint-after-intent")
    sent = broadcast(minter.w3, bytes(signed.raw_transaction), "mint")
    if minter.relay is not None and sent is not None and sent != tx_hash:
        tx_hash = sent  # the writer node's transaction to the hub: the one with a receipt
        _set_tx_hash(engine, batch_id, tx_hash)
    crash_point("mint-after-send")
    _finish(engine, batch_id, _wait(minter, tx_hash), report)


def mint_due(engine: Engine, config: dict, backends: Any) -> MintReport | None:
    """The watcher's hook (``veraz anchor --watch``): mint when TOKENS_MINT is on."""
    if not enabled(config):
        return None
    minter = open_minter(config, backends)
    return mint_pending(engine, config, minter)


def check(engine: Engine, minter: TokenMinter) -> list[Any]:
    """Every recorded token against the chain (``portal.tokens.check``); ``veraz mint --check``."""
    with engine.connect() as conn:
        return check_tokens(conn, minter)
