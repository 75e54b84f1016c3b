"""Every setting of the portal, documented once.

Precedence, lowest first: the defaults below, then ``instance/veraz.toml`` (or the file named by
``PORTAL_CONFIG_FILE``), then ``PORTAL_<NAME>`` environment variables (``DATABASE_URL`` also works
unprefixed, as hosting platforms set it), then the mapping given to ``create_app(config=...)``.

``docs/settings.md`` is generated from this table (``veraz settings --markdown``) and a test fails
when a setting is missing from it.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "INSTANCE_PATH",
        str(ROOT / "instance"),
        "Folder for the SQLite database, keys and other run-time state (outside version control).",
    ),
    Setting(
        "DATABASE_URL",
        "",
        "SQLAlchemy URL. Empty means a SQLite file `veraz.sqlite3` in INSTANCE_PATH. "
        "PostgreSQL: `postgresql+psycopg://user:password@host/dbname`.",
    ),
    Setting(
        "DATABASE_REPLICA_URL",
        "",
        "SQLAlchemy URL of a read-only PostgreSQL replica following DATABASE_URL (streaming "
        "replication). When set, every GET and HEAD request of the web portal reads from it, so "
        "readers scale on replicas; commands (imports, anchoring, exports, audit) and writes use "
        "DATABASE_URL. A replica lags by its replication delay. Empty: everything uses DATABASE_URL.",
    ),
    Setting(
        "LOG_VERIFIER_KEY",
        "",
        "The log's public C2SP verifier key (as `/api/log/key` serves it), for portal hosts that do "
        "not hold the signing key file: they serve this key, and put it in proof bundles, only while "
        "it verifies the newest checkpoint. Empty: the key is read from the signing key file.",
    ),
    Setting(
        "SECRET_KEY",
        "",
        "Flask session key. Empty means one is generated once into INSTANCE_PATH/secret_key (0600).",
    ),
    Setting(
        "BASE_URL",
        "http://127.0.0.1:8000",
        "Public URL of the portal, used in package `uri`s, API links and verification URLs.",
    ),
    Setting(
        "OCID_PREFIX",
        "ocds-vrz0pe",
        "OCID prefix registered with the Open Contracting Partnership for this publisher.",
    ),
    Setting("PUBLISHER_NAME", "Veraz (demostración)", "Name of the publisher in OCDS packages."),
    Setting("PUBLISHER_SCHEME", "PE-RUC", "Identifier scheme of the publisher (org-id.guide)."),
    Setting("PUBLISHER_UID", "20000000001", "Identifier of the publisher within its scheme."),
    Setting("PUBLISHER_URI", "http://127.0.0.1:8000/", "Web address of the publisher."),
    Setting("LICENSE", "https://creativecommons.org/licenses/by/4.0/", "Licence of the published data."),
    Setting(
        "PUBLICATION_POLICY",
        "http://127.0.0.1:8000/about#policy",
        "URL of the publication policy declared in every package.",
    ),
    Setting("DEFAULT_LOCALE", "es", "Interface language when the visitor has not chosen one (es or en)."),
    Setting(
        "TIMEZONE",
        "America/Lima",
        "Time zone (IANA name) in which pages show dates and times; stored data keep their own offsets.",
    ),
    Setting("LOCALES", "es,en", "Interface languages offered, comma separated."),
    Setting("API_PAGE_SIZE", 100, "Default number of releases per API page."),
    Setting("API_MAX_PAGE_SIZE", 1000, "Largest `limit` accepted by the API."),
    Setting(
        "API_RATE_LIMIT",
        "120 per minute",
        "Requests one client may make to `/api/` (flask-limiter notation, such as "
        "`120 per minute;3000 per hour`); beyond it, 429 with `Retry-After`. Empty: no limit.",
    ),
    Setting(
        "API_RATE_LIMIT_STORAGE",
        "memory://",
        "Where the rate limit's counts live (a flask-limiter storage URI): `memory://` counts per "
        "worker process; `redis://host:6379` shares the counts between workers and hosts.",
    ),
    Setting(
        "TRUSTED_PROXIES",
        0,
        "Reverse proxies in front of the portal that append the client's address to "
        "`X-Forwarded-For`; the rate limit counts per the address the outermost one saw. 0: the peer.",
    ),
    Setting(
        "INTAKE_RATE_LIMIT",
        "100 per second",
        "Requests one intake token may make to `POST /api/intake/...` (flask-limiter notation, counted "
        "in API_RATE_LIMIT_STORAGE); beyond it, 429 with `Retry-After`. Empty: no limit. The intake "
        "is not counted in API_RATE_LIMIT.",
    ),
    Setting(
        "INTAKE_MAX_BODY_BYTES",
        8 * 1024 * 1024,
        "Largest request body the intake API reads (bytes); beyond it, 413 and nothing stored.",
    ),
    Setting(
        "INTAKE_MAX_RECORDS",
        1000,
        "Most quotes or orders in one intake request; beyond it, 413 and nothing stored.",
    ),
    Setting("IMPORT_BATCH_SIZE", 500, "Orders per transaction when importing."),
    Setting(
        "IMPORT_WORKERS",
        0,
        "Processes that parse, map and validate orders while importing; 0 means one per core.",
    ),
    Setting(
        "BULK_MIN_ORDERS",
        50000,
        "`veraz import-orders` bulk-loads a file of at least this many orders, when it also "
        "holds more orders than are stored: the lookup indexes are dropped and rebuilt at the "
        "end, which then costs less than maintaining them row by row.",
    ),
    Setting("DEMO_ORDERS", 2000, "Orders in the demo dataset loaded by `make run` into an empty database."),
    Setting("DEMO_SEED", 2026, "Seed of the demo dataset (same seed, same orders)."),
    Setting(
        "WEB_BIND", "127.0.0.1:8000", "Address (host:port) on which `veraz serve` and `make run` listen."
    ),
    Setting("WEB_WORKERS", 2, "Gunicorn worker processes of `veraz serve` and `make run`."),
    Setting(
        "WEB_THREADS",
        4,
        "Threads per gunicorn worker (gthread): phones keep connections open, and a thread "
        "serves each without blocking its worker.",
    ),
    # --- evidence log and anchors (portal/evidence/) ---
    Setting(
        "LOG_ORIGIN",
        "",
        "Origin line of the evidence log's signed checkpoints (C2SP tlog-checkpoint), a "
        "schema-less URL naming the log. Empty means BASE_URL's host and path + `/log`. "
        "Never change it once checkpoints are published.",
    ),
    Setting(
        "LOG_KEY_FILE",
        "",
        "Ed25519 key file that signs checkpoints (created 0600 on first `veraz anchor`, never "
        "logged or shown). Empty means INSTANCE_PATH/log-signer.key.",
    ),
    Setting(
        "CHECKPOINT_INTERVAL",
        1800,
        "Seconds between checkpoints sealed by `veraz anchor --watch` when entries are pending.",
    ),
    Setting(
        "PENDING_ENTRIES_TRIGGER",
        1000,
        "`veraz anchor --watch` also seals as soon as this many entries are pending.",
    ),
    Setting(
        "MAX_CHECKPOINT_ENTRIES",
        180000,
        "Most new entries one checkpoint covers (as Peru Compras aggregates up to 180,000 "
        "evidences per root): a larger backlog is sealed as several checkpoints, so that "
        "each evidence PDF stays readable. 0: no limit.",
    ),
    Setting("LOG_ENTRIES_MAX_PAGE", 1000, "Largest page of `/api/log/entries` (end - start)."),
    Setting(
        "EVM_RPC_URL",
        "",
        "JSON-RPC endpoint of the EVM chain that anchors checkpoints. Empty means the embedded "
        "chain in INSTANCE_PATH/chain (development; owned by the `veraz anchor --watch` "
        "process). `off` disables EVM anchoring.",
    ),
    Setting("EVM_CHAIN_ID", 0, "Chain id the RPC endpoint must serve (required with EVM_RPC_URL)."),
    Setting(
        "EVM_CONTRACT_ADDRESS",
        "",
        "Address of the deployed VerazAnchor contract (required with EVM_RPC_URL; the "
        "embedded chain deploys its own).",
    ),
    Setting(
        "EVM_KEY_FILE", "", "secp256k1 key file (0600) of the anchoring account (required with EVM_RPC_URL)."
    ),
    Setting(
        "EVM_EXPLORER_URL",
        "",
        "Block-explorer link for an anchor, formatted with {tx_hash}, {chain_id}, "
        "{block_number}, {contract}; e.g. `https://sepolia.etherscan.io/tx/{tx_hash}`.",
    ),
    Setting("EVM_CONFIRMATIONS", 1, "Blocks that must hold or follow an anchor before it is done."),
    Setting(
        "EVM_GAS_PRICE",
        "",
        "Legacy gas price in wei (`0` on LACChain/Besu free-gas networks). Empty means "
        "EIP-1559 fees suggested by the node.",
    ),
    Setting(
        "CHAIN_BACKEND",
        "evm",
        "How anchoring transactions reach the chain at EVM_RPC_URL: `evm` sends them from the "
        "anchoring account; `lacchain` signs them for LACChain's gas model (gas price 0, calldata "
        "followed by the writer node's address and an expiration) and hands them to the writer "
        "node, which relays them through the RelayHub. With `lacchain`, EVM_CONTRACT_ADDRESS is a "
        "VerazRelayedAnchor trusting LACCHAIN_RELAY_HUB; see docs/anchoring.md.",
    ),
    Setting(
        "LACCHAIN_NODE_ADDRESS",
        "",
        "Address of the LACChain writer node that relays the anchors (its "
        "`/lacchain/data/nodeAddress`; required with CHAIN_BACKEND `lacchain`).",
    ),
    Setting(
        "LACCHAIN_RELAY_HUB",
        "",
        "LACChain RelayHub address (the gas-relay-signer's `contractAddress`), the hub the "
        "anchor contract trusts to name senders (required with CHAIN_BACKEND `lacchain`).",
    ),
    Setting(
        "LACCHAIN_EXPIRATION",
        300,
        "Seconds an anchoring transaction signed for LACChain stays valid: the expiration it "
        "carries is the host's clock plus this.",
    ),
    Setting(
        "LACCHAIN_GAS_LIMIT",
        100000,
        "Gas limit of the anchoring transaction signed for LACChain: what the RelayHub gives the "
        "anchor call (VerazRelayedAnchor's call costs a few thousand gas more than VerazAnchor's "
        "23,808; the default leaves ample room).",
    ),
    Setting(
        "TSA_URL",
        "",
        "RFC 3161 timestamp authority URL. Empty means the embedded TSA with its own CA in "
        "INSTANCE_PATH/tsa (development). `off` disables timestamps.",
    ),
    Setting(
        "TSA_CA_FILE",
        "",
        "PEM file of the CA that issued the remote TSA's certificate (the trust anchors: it may "
        "hold several certificates).",
    ),
    Setting(
        "TSA_REVOCATION",
        "ocsp",
        "How a remote TSA's certificate is checked when each timestamp is obtained: `ocsp` (the "
        "responder named in its Authority Information Access), `crl` (its CRL Distribution "
        "Point) or `none`. The response is kept with the timestamp so anyone can re-check it "
        "offline (docs/anchoring.md).",
    ),
    Setting(
        "TSA_REVOCATION_URL",
        "",
        "OCSP responder or CRL address to use instead of the one the TSA certificate names.",
    ),
    Setting("ANCHOR_TIMEOUT", 120, "Seconds one anchoring attempt (chain or TSA) may take."),
    Setting(
        "ANCHOR_RETRY_BASE",
        30,
        "Seconds before retrying a failed anchor; doubles on each failure (exponential backoff).",
    ),
    Setting("ANCHOR_RETRY_MAX", 3600, "Longest wait between two attempts of a failed anchor."),
    Setting(
        "EVIDENCE_PDF_RETRY_BASE",
        30,
        "Seconds before retrying a checkpoint whose evidence PDF failed; doubles on each "
        "failure (exponential backoff).",
    ),
    Setting(
        "EVIDENCE_PDF_RETRY_MAX", 3600, "Longest wait between two attempts at a checkpoint's evidence PDF."
    ),
    # --- independent witnesses (portal/witness/, docs/witnesses.md) ---
    Setting(
        "WITNESSES",
        "",
        "Witnesses that cosign each new checkpoint (C2SP tlog-witness), separated by commas or "
        "new lines, each `<submission prefix URL> <verifier key>` (`/add-checkpoint` is appended "
        "unless the URL ends with it; the key as `veraz witness key` prints it). Empty: no "
        "witnesses. `veraz anchor` sends them the newest checkpoint with a "
        "consistency proof, retrying with ANCHOR_RETRY_BASE/ANCHOR_RETRY_MAX backoff; a witness "
        "that is down never holds up sealing or anchoring.",
    ),
    Setting(
        "WITNESSES_REQUIRED",
        0,
        "Cosignatures from distinct configured witnesses a checkpoint needs before the verify "
        "page says it is confirmed by independent witnesses (0: the page shows no witness step).",
    ),
    Setting("WITNESS_TIMEOUT", 10, "Seconds to wait for a witness's answer before trying it again later."),
    # --- verification page (portal/views/verify.py) ---
    Setting(
        "VERIFY_PUBLIC_RPC_URL",
        "",
        "Public JSON-RPC endpoint of the anchoring chain that visitors' browsers may call "
        "(CORS-enabled) to read an anchor's transaction receipt themselves on `/verify`. "
        "Empty means the page shows the anchor as reported by the portal.",
    ),
    # --- search (portal/search/) ---
    Setting(
        "SEARCH_ENGINE",
        "database",
        "Engine of the search box: `database` (the database's own full-text index: SQLite "
        "FTS5 or a PostgreSQL tsvector, kept in the publishing transaction) or `whoosh` (a "
        "Whoosh index in INSTANCE_PATH/search-whoosh that catches up from the database). "
        "Measured in docs/search.md. After changing it, or upgrading a database that predates "
        "the search index, run `veraz search-index rebuild`.",
    ),
    # --- bulk downloads (portal/exports/, docs/bulk-downloads.md) ---
    Setting(
        "EXPORT_DIR",
        "",
        "Folder of the bulk downloads written by `veraz export` and served at `/downloads`. "
        "Empty means INSTANCE_PATH/exports.",
    ),
    Setting(
        "EXPORT_AFTER_IMPORT",
        False,
        "Bring the bulk downloads up to date (`veraz export`, only the years with new releases) "
        "at the end of every `veraz import-orders` and `veraz import-ocds`.",
    ),
    Setting(
        "EXPORT_WORKERS",
        0,
        "Processes that compile releases during `veraz export` (the costly part), and that write a "
        "first export of the compiled releases, a range of ocids each (see docs/bulk-downloads.md, "
        '"Shards"); 0 means one per core.',
    ),
    Setting(
        "EXPORT_WATCH",
        False,
        "`veraz anchor --watch` brings the bulk downloads up to date (only the years with new "
        "releases) whenever releases were published since the last export.",
    ),
    Setting(
        "EXPORT_TABLES",
        True,
        "Every export (`veraz export`, after imports, the watcher) also rebuilds the CSV and XLSX "
        "of the years that changed (flatterer: the slow part). Off: they stay as they were, each "
        "saying in the manifest which snapshot it holds, until `veraz export --tables`.",
    ),
    Setting(
        "EXPORT_QUICK",
        True,
        "Exports after imports and in the watcher (and `veraz export --quick`) write only the "
        "compiled releases (full.jsonl.gz and the yearly files), made from the previous export's "
        "files: seconds, even at a million orders. The release and record packages, CSV and XLSX "
        "of the years that changed stay as they were, each saying in the manifest which snapshot "
        "it holds (`packagesLeft` lists those years), until a `veraz export`. Off: those exports "
        "rebuild the packages too, and the tables as EXPORT_TABLES says.",
    ),
    Setting(
        "EXPORT_HEADERS",
        "pointer",
        "Column headers of the exported CSV and XLSX: `pointer` (each field's JSON Pointer) or "
        "`en` (the OCDS schema's English titles). Changing it rebuilds every year's tables.",
    ),
    # Red flags (portal/flags, docs/red-flags.md): thresholds and the sources they come from.
    Setting(
        "FLAGS_AFTER_IMPORT",
        True,
        "Refresh the red flags (`veraz flags refresh`, partial) at the end of every `import-orders` "
        "and `import-ocds`.",
    ),
    Setting(
        "FLAG_SPLIT_THRESHOLD",
        42800.0,
        "Red flag `split`: the amount (in FLAG_SPLIT_CURRENCY) under which purchases escape most "
        "procurement rules; default 8 UIT of 2025 (S/ 5,350 each). OCP red-flags guide R002/R011, "
        "Prozorro risk rule sas24-3-14-1.",
    ),
    Setting(
        "FLAG_SPLIT_CURRENCY",
        "PEN",
        "Red flag `split`: the currency of FLAG_SPLIT_THRESHOLD.",
    ),
    Setting(
        "FLAG_SPLIT_WINDOW_DAYS",
        7,
        "Red flag `split`: most days between the first and last order of a group of split orders.",
    ),
    Setting(
        "FLAG_SPLIT_NEAR",
        0.8,
        "Red flag `split`: each order counts only when at least this fraction of the threshold (just "
        "under it); 0 counts every order under it.",
    ),
    Setting(
        "FLAG_IQR_FACTOR",
        1.5,
        "Red flags `overprice` and `heterogeneous_supplier`: a value is an outlier above Q3 + this "
        "factor x (Q3 - Q1), Tukey's upper fence as OCP's Cardinal computes it (R017, R048).",
    ),
    Setting(
        "FLAG_PRICE_MIN_LINES",
        10,
        "Red flag `overprice`: fewest lines of a product (same catalogue, code, unit, currency) for its "
        "fence to be computed.",
    ),
    Setting(
        "FLAG_MIN_BUYER_ORDERS",
        5,
        "Red flags `supplier_share`, `buyer_hhi`, `one_supplier`, `year_end_rush`: fewest orders of a "
        "buyer (or buyer-year) for its shares to mean anything.",
    ),
    Setting(
        "FLAG_SHARE_THRESHOLD",
        0.5,
        "Red flag `supplier_share`: a supplier's share of a buyer's spending above which it is flagged "
        "(the COVID-19 procurement explorer's >50% rule; OCP R040).",
    ),
    Setting(
        "FLAG_HHI_THRESHOLD",
        2500.0,
        "Red flags `buyer_hhi`, `catalogue_hhi`: Herfindahl-Hirschman index (0-10,000) of suppliers' "
        "shares above which spending is highly concentrated (US DOJ/FTC merger guidelines 2010; OCP "
        "R050/R051).",
    ),
    Setting(
        "FLAG_CATALOGUE_MIN_ORDERS",
        20,
        "Red flag `catalogue_hhi`: fewest orders under a framework agreement for its HHI.",
    ),
    Setting(
        "FLAG_ONE_SUPPLIER_SHARE",
        0.8,
        "Red flag `one_supplier`: a buyer whose orders go to one supplier at least this often (by number"
        " of orders).",
    ),
    Setting(
        "FLAG_AMENDMENT_RAISE",
        0.2,
        "Red flag `amendment_raise`: a rise of the value over the first published one above this "
        "fraction (the COVID-19 procurement explorer's 20%; OCP R035).",
    ),
    Setting(
        "FLAG_NEW_SUPPLIER_DAYS",
        90,
        "Red flag `new_supplier`: days after a supplier's first order during which a large order is "
        "flagged (DIGIWHIST NEW_COMPANY, OCP R052).",
    ),
    Setting(
        "FLAG_LARGE_QUANTILE",
        0.9,
        "Red flag `new_supplier`: an order is large when its amount is at or above this quantile of all "
        "orders in its currency.",
    ),
    Setting(
        "FLAG_YEAR_END_DAYS",
        31,
        "Red flag `year_end_rush`: the last days of the (calendar, fiscal) year that count as year-end.",
    ),
    Setting(
        "FLAG_YEAR_END_SHARE",
        0.3,
        "Red flag `year_end_rush`: a buyer's share of a year's spending placed in its last "
        "FLAG_YEAR_END_DAYS above which it is flagged (an even spread puts about 8.5% there).",
    ),
    Setting(
        "FLAG_LATE_DAYS",
        0,
        "Red flag `late_delivery`: days after its due date a delivery may be met before it is late.",
    ),
    Setting(
        "TOKENS_MINT",
        False,
        "Mint one non-transferable ERC-721 token per published order (docs/tokens.md): `veraz mint`, "
        "and `veraz anchor --watch` after each round. Uses the anchoring chain and account (EVM_*).",
    ),
    Setting(
        "TOKEN_CONTRACT_ADDRESS",
        "",
        "Address of the VerazOrderToken contract (owned by the anchoring account). Required with "
        "EVM_RPC_URL (`veraz mint --deploy` deploys one and prints it); empty on the embedded chain, "
        "where it is deployed once and kept in INSTANCE_PATH/chain/token-contract-address.",
    ),
    Setting("TOKEN_BATCH_SIZE", 100, "Orders minted per transaction."),
    Setting(
        "TOKEN_HOLDER",
        "",
        "Address the order tokens are minted to (they can never move). Empty: the minting account.",
    ),
)

_BY_NAME = {s.name: s for s in SETTINGS}


def default(name: str) -> Any:
    """The documented default of setting ``name`` (for library functions' keyword defaults)."""
    return _BY_NAME[name].default


def _coerce(name: str, raw: str) -> Any:
    default = _BY_NAME[name].default
    if isinstance(default, bool):
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(default, int):
        return int(raw)
    return raw


def load_settings(config: dict | None = None, environ: dict | None = None) -> dict:
    """Resolve every setting following the documented precedence."""
    environ = dict(os.environ if environ is None else environ)
    values = {s.name: s.default for s in SETTINGS}
    instance = Path(
        (config or {}).get("INSTANCE_PATH") or environ.get("PORTAL_INSTANCE_PATH") or values["INSTANCE_PATH"]
    )
    config_file = Path(environ.get("PORTAL_CONFIG_FILE") or instance / "veraz.toml")
    if config_file.is_file():
        with config_file.open("rb") as f:
            for key, value in tomllib.load(f).items():
                if key.upper() in _BY_NAME:
                    values[key.upper()] = value
    if environ.get("DATABASE_URL"):
        values["DATABASE_URL"] = environ["DATABASE_URL"]
    for name in _BY_NAME:
        if f"PORTAL_{name}" in environ:
            values[name] = _coerce(name, environ[f"PORTAL_{name}"])
    for key, value in (config or {}).items():
        values[key] = value
    values["INSTANCE_PATH"] = str(Path(values["INSTANCE_PATH"]).resolve())
    if not values["DATABASE_URL"]:
        values["DATABASE_URL"] = f"sqlite:///{Path(values['INSTANCE_PATH']) / 'veraz.sqlite3'}"
    return values


def settings_markdown() -> str:
    """The settings table as Markdown (docs/settings.md)."""
    lines = [
        "# Settings",
        "",
        "Generated by `veraz settings --markdown` from `portal/settings.py`. Precedence, lowest first:",
        "defaults, `instance/veraz.toml` (or `PORTAL_CONFIG_FILE`), `PORTAL_<NAME>` environment",
        "variables (`DATABASE_URL` also unprefixed), the mapping given to `create_app(config=...)`.",
        "",
        "| setting | default | meaning |",
        "|---|---|---|",
    ]
    for s in SETTINGS:
        default = "" if s.name == "INSTANCE_PATH" else s.default
        shown = "`instance/` in the project" if s.name == "INSTANCE_PATH" else f"`{default}`"
        lines.append(f"| `{s.name}` | {shown} | {s.help} |")
    return "\n".join(lines) + "\n"
