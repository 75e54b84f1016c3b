"""Helpers of the order-token tests: what the chain minted, which orders are published."""

from __future__ import annotations

from collections import Counter

from hexbytes import HexBytes
from sqlalchemy import select

from anchoring.chains.tokens import TRANSFER_TOPIC
from portal.db import app_engine
from portal.models import records, releases


def minted_on_chain(minter) -> Counter:
    """``Counter(token id)`` of every mint (Transfer from 0) the contract ever emitted."""
    logs = minter.w3.eth.get_logs(
        {
            "address": minter.contract_address,
            "fromBlock": 0,
            "toBlock": "latest",
            "topics": [HexBytes(TRANSFER_TOPIC).to_0x_hex(), HexBytes(bytes(32)).to_0x_hex()],
        }
    )
    return Counter(int.from_bytes(bytes(e["topics"][3]), "big") for e in logs)


def orders_of(app) -> dict[str, str]:
    """``{ocid: data hash of its latest release}`` of every published order."""
    with app_engine(app).connect() as conn:
        rows = conn.execute(
            select(records.c.ocid, releases.c.data_hash)
            .select_from(records.join(releases, releases.c.id == records.c.last_release))
            .where(records.c.kind == "order")
        ).all()
    return {r.ocid: r.data_hash for r in rows}
