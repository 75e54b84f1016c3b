"""The anchoring backends named by the settings: an EVM anchorer and an RFC 3161 TSA.

Defaults are self-contained for development and ``make run``: an embedded py-evm chain in
``INSTANCE_PATH/chain`` (persistent; one process owns it, the ``veraz anchor --watch``
watcher) and an embedded TSA with its own CA in ``INSTANCE_PATH/tsa``. Settings switch to any
JSON-RPC node and any remote TSA. Backends are opened lazily and kept open by the watcher.

The anchoring account and the embedded TSA's CA are identities: once a checkpoint was anchored
from an account, or timestamped by the embedded TSA, a key file that holds another account or
a CA that is gone is an error naming the file (:meth:`Backends.expect` reads what was used),
never a silent new identity.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from eth_utils import to_checksum_address
from hexbytes import HexBytes
from sqlalchemy import Connection, select

from anchoring.errors import ChainError, TimestampError
from portal.evidence.read.trust import tsa_directory
from portal.evidence.tables import DONE, EVM, RFC3161, anchors

CONTRACT_FILENAME = "contract-address"


def enabled_types(config: dict) -> list[str]:
    """The anchor types made for every checkpoint, per the settings."""
    types = []
    if str(config.get("EVM_RPC_URL", "")).strip().lower() != "off":
        types.append(EVM)
    if str(config.get("TSA_URL", "")).strip().lower() != "off":
        types.append(RFC3161)
    return types


def revocation_policy(config: dict) -> Any:
    """The remote TSA's revocation check of the settings (TSA_REVOCATION, TSA_REVOCATION_URL),
    an ``anchoring.tsa_trust.RevocationPolicy``. Its freshness window stays the default one:
    verifiers re-check the kept evidence with that window (docs/proof-format.md)."""
    from anchoring.tsa_trust import RevocationPolicy

    return RevocationPolicy(
        method=str(config.get("TSA_REVOCATION", "ocsp")).strip().lower(),
        url=str(config.get("TSA_REVOCATION_URL", "")).strip() or None,
        timeout=float(config["ANCHOR_TIMEOUT"]),
    )


@dataclass(frozen=True)
class Identities:
    """Who anchored the log so far: what the next anchors must be made by."""

    sender: str | None  # the account of the newest done EVM anchor
    timestamped: bool  # a done RFC 3161 anchor exists


def anchored_identities(conn: Connection) -> Identities:
    """The sender of the newest done EVM anchor, and whether any checkpoint was timestamped."""
    receipt = conn.execute(
        select(anchors.c.receipt)
        .where(anchors.c.type == EVM, anchors.c.status == DONE)
        .order_by(anchors.c.tree_size.desc())
        .limit(1)
    ).scalar()
    try:
        sender = orjson.loads(receipt).get("sender") if receipt else None
    except (orjson.JSONDecodeError, AttributeError):
        sender = None  # an unreadable record is the audit's to report
    stamped = conn.execute(
        select(anchors.c.id).where(anchors.c.type == RFC3161, anchors.c.status == DONE).limit(1)
    ).first()
    return Identities(str(sender) if sender else None, stamped is not None)


class Backends:
    """Lazily opened anchoring backends; :meth:`close` releases the embedded chain."""

    def __init__(self, config: dict) -> None:
        self.config = config
        self._anchorer: Any = None
        self._tsa: Any = None
        self._identities = Identities(None, False)

    def expect(self, conn: Connection) -> None:
        """Read who anchored so far: backends opened afterwards must be the same identities."""
        self._identities = anchored_identities(conn)

    def _check_account(self, account: Any) -> None:
        sender = self._identities.sender
        if sender is not None and to_checksum_address(sender) != account.address:
            raise ChainError(
                f"the anchoring key file {account.key_file} holds account {account.address}, "
                f"but the checkpoints were anchored from {to_checksum_address(sender)}; put that "
                f"account's key back in {account.key_file} (anchoring from another account "
                "would be another identity, so nothing is sent)"
            )

    def anchorer(self) -> Any:
        """The ``EvmAnchorer`` of the settings; raises :class:`ChainError` when unreachable."""
        if self._anchorer is None:
            self._anchorer = self._open_anchorer()
        return self._anchorer

    def _open_anchorer(self) -> Any:
        from anchoring.chains.evm import EvmAnchorer, rpc_chain
        from anchoring.chains.keys import load_key

        cfg = self.config
        timeout = float(cfg["ANCHOR_TIMEOUT"])
        gas = str(cfg.get("EVM_GAS_PRICE", "")).strip()
        gas_price = int(gas) if gas else None
        explorer = cfg.get("EVM_EXPLORER_URL") or None
        url = str(cfg.get("EVM_RPC_URL", "")).strip()
        relay = _relay(cfg, url)
        if url:
            for name in ("EVM_CHAIN_ID", "EVM_CONTRACT_ADDRESS", "EVM_KEY_FILE"):
                if not cfg.get(name):
                    raise ChainError(f"setting {name} is required with EVM_RPC_URL")
            account = load_key(cfg["EVM_KEY_FILE"])
            self._check_account(account)
            w3 = rpc_chain(url, int(cfg["EVM_CHAIN_ID"]), timeout=timeout)
            return EvmAnchorer(
                w3,
                cfg["EVM_CONTRACT_ADDRESS"],
                account,
                int(cfg["EVM_CONFIRMATIONS"]),
                explorer,
                gas_price=gas_price,
                timeout=timeout,
                relay=relay,
            )
        from anchoring.chains.embedded import embedded_chain

        directory = Path(cfg["INSTANCE_PATH"]) / "chain"
        w3 = embedded_chain(directory)
        try:
            account = load_key(w3.provider.dev_key_path)  # type: ignore[attr-defined]
            self._check_account(account)
            contract = _embedded_contract(w3, account, directory / CONTRACT_FILENAME)
        except BaseException:
            w3.provider.close()  # type: ignore[attr-defined]
            raise
        return EvmAnchorer(
            w3,
            contract,
            account,
            int(cfg["EVM_CONFIRMATIONS"]),
            explorer,
            timeout=timeout,
            poll_interval=0.05,
            mine_while_waiting=True,
        )

    def tsa(self) -> Any:
        """The TSA of the settings (``timestamp(data) -> TimestampToken``)."""
        if self._tsa is None:
            from anchoring.timestamps import EmbeddedTSA, RemoteTSA

            url = str(self.config.get("TSA_URL", "")).strip()
            if url:
                if not self.config.get("TSA_CA_FILE"):
                    raise TimestampError("setting TSA_CA_FILE is required with TSA_URL")
                self._tsa = RemoteTSA(
                    url,
                    self.config["TSA_CA_FILE"],
                    timeout=float(self.config["ANCHOR_TIMEOUT"]),
                    revocation=revocation_policy(self.config),
                )
            else:
                directory = tsa_directory(self.config)
                if self._identities.timestamped and not (directory / "ca.pem").is_file():
                    raise TimestampError(
                        f"the embedded TSA's CA certificate {directory / 'ca.pem'} does not exist, "
                        "but checkpoints were timestamped under it; restore "
                        f"{directory} from a backup (a new CA would be another identity, so none "
                        "is made)"
                    )
                self._tsa = EmbeddedTSA(directory)
        return self._tsa

    def forget_anchorer(self) -> None:
        """Drop a failed connection so the next attempt reconnects (RPC) or keeps the chain."""
        if self._anchorer is not None and not _is_embedded(self._anchorer):
            self._anchorer = None

    def close(self) -> None:
        if self._anchorer is not None and _is_embedded(self._anchorer):
            self._anchorer.w3.provider.close()
        self._anchorer = None


def _relay(cfg: dict, url: str) -> Any:
    """The ``LacchainRelay`` of CHAIN_BACKEND ``lacchain``; None for ``evm``."""
    backend = str(cfg.get("CHAIN_BACKEND") or "evm").strip().lower()
    if backend == "evm":
        return None
    if backend != "lacchain":
        raise ChainError(f"setting CHAIN_BACKEND is {backend!r}; accepted: evm, lacchain")
    if not url:
        raise ChainError("CHAIN_BACKEND lacchain needs EVM_RPC_URL: the writer node's JSON-RPC endpoint")
    for name in ("LACCHAIN_NODE_ADDRESS", "LACCHAIN_RELAY_HUB"):
        if not str(cfg.get(name) or "").strip():
            raise ChainError(f"setting {name} is required with CHAIN_BACKEND lacchain")
    from anchoring.chains.lacchain import LacchainRelay

    try:
        return LacchainRelay(
            str(cfg["LACCHAIN_NODE_ADDRESS"]).strip(),
            str(cfg["LACCHAIN_RELAY_HUB"]).strip(),
            expiration_window=int(cfg.get("LACCHAIN_EXPIRATION") or 300),
            gas_limit=int(cfg.get("LACCHAIN_GAS_LIMIT") or 100_000),
        )
    except (TypeError, ValueError) as exc:
        raise ChainError(f"the LACChain settings are not valid: {exc}") from None


def _is_embedded(anchorer: Any) -> bool:
    return hasattr(anchorer.w3.provider, "dev_key_path")


def _embedded_contract(w3: Any, account: Any, record: Path) -> str:
    """The VerazAnchor contract on the embedded chain: deployed once, its address kept in a file.

    A crash between deploying and writing the file only costs one more deployment.
    """
    from anchoring.chains.evm import contract_artifact, deploy_contract

    if record.is_file():
        address = to_checksum_address(record.read_text().strip())
        if w3.eth.get_code(address) == HexBytes(contract_artifact()["deployedBytecode"]):
            return address
    deployed = deploy_contract(w3, account)
    tmp = record.with_suffix(".tmp")
    tmp.write_text(deployed + "\n")
    tmp.replace(record)
    return deployed
