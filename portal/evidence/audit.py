"""``veraz audit``: re-derive the log from the published data and check everything.

Steps, each problem reported with the ocid (or checkpoint) and the step that failed:

* ``document-hash``: every stored order PDF hashes to the SHA-256 its release declares;
* ``entry``: every published release and proforma, re-encoded from its stored canonical
  JSON (hashes recomputed, not read from the ``data_hash`` column), must be in the log;
* ``log``: every log entry must belong to a published row (a deleted row leaves an orphan
  entry), and the stored tree must match its entries (``anchoring.log`` audit);
* ``checkpoint``: every checkpoint's signature, and its root recomputed from the entries;
* ``consistency``: every checkpoint is consistent with the next (RFC 9162 proof verified);
* ``anchor``: every done anchor commits to its checkpoint (EVM root and size; the RFC 3161
  token verified over the note against the TSA's CA), and is read back from the chain when
  the chain can be reached.
"""

from __future__ import annotations

import base64
import hashlib

from sqlalchemy import Engine, select

from anchoring import merkle, notes
from anchoring.errors import AnchoringError
from portal.evidence import record, sealing, store
from portal.evidence.backends import Backends, tsa_ca_pem
from portal.models import order_pdfs, proformas, releases


def audit(engine: Engine, config: dict) -> tuple[list[str], str]:
    """Return ``(problems, summary)``; no problems means the log checks out."""
    problems: list[str] = []
    signer = store.signer(config)
    with engine.connect() as conn:
        size = store.size(conn)
        expected: dict[bytes, str] = {}  # leaf hash -> who
        # leaf_index column -> (the row's re-derived leaf hash, who): each row points at its entry
        pointers: dict[int | None, tuple[bytes, str]] = {}
        for row in conn.execute(
            select(
                releases.c.ocid, releases.c.release_id, releases.c.data, releases.c.data_hash,
                releases.c.leaf_index,
            ).order_by(releases.c.id)
        ):
            who = f"{row.ocid} release {row.release_id}"
            data_hash = hashlib.sha256(row.data).hexdigest()
            if data_hash != row.data_hash:
                problems.append(
                    f"{who}: step data-hash: stored data_hash {row.data_hash} is not "
                    f"the SHA-256 of the stored release ({data_hash})"
                )
            import orjson

            release = orjson.loads(row.data)
            quotes = record.release_quotes(conn, row.ocid, release)
            document = record.document_hash(release)
            entry = record.release_entry(row.ocid, row.release_id, data_hash, document, quotes)
            expected[merkle.leaf_hash(entry)] = who
            pointers[row.leaf_index] = (merkle.leaf_hash(entry), who)
        for row in conn.execute(
            select(
                proformas.c.ocid, proformas.c.proforma_id, proformas.c.data, proformas.c.leaf_index
            ).order_by(proformas.c.id)
        ):
            who = f"{row.ocid} proforma {row.proforma_id}"
            entry = record.proforma_entry(
                row.ocid, row.proforma_id, hashlib.sha256(row.data).hexdigest()
            )
            expected[merkle.leaf_hash(entry)] = who
            pointers[row.leaf_index] = (merkle.leaf_hash(entry), who)
        # hash 2: every stored order PDF is the one its release declares (same bytes, same hash)
        declared = {}
        for row in conn.execute(select(releases.c.ocid, releases.c.release_id, releases.c.data)
                                .where(releases.c.origin == "catalogue")):
            import orjson

            digest = record.document_hash(orjson.loads(row.data))
            if digest:
                declared[(row.ocid, row.release_id)] = digest
        for row in conn.execute(select(order_pdfs.c.ocid, order_pdfs.c.release_id,
                                       order_pdfs.c.data)):
            want = declared.pop((row.ocid, row.release_id), None)
            got = hashlib.sha256(row.data).hexdigest()
            if want != got:
                problems.append(
                    f"{row.ocid} release {row.release_id}: step document-hash: the stored order "
                    f"PDF hashes to {got}, the release declares {want}")
        for (ocid, release_id), want in declared.items():
            problems.append(f"{ocid} release {release_id}: step document-hash: the order PDF "
                            f"declared with SHA-256 {want} is missing")
        logged: set[bytes] = set()
        misplaced: list[tuple[int, bytes, str]] = []
        for start in range(0, size, 5000):
            for i, data in enumerate(store.entries(conn, start, min(size, start + 5000))):
                leaf = merkle.leaf_hash(data)
                logged.add(leaf)
                pointed = pointers.pop(start + i, None)
                if pointed is not None and pointed[0] != leaf:
                    misplaced.append((start + i, *pointed))
                if leaf not in expected:
                    problems.append(
                        f"{store.describe_entry(data)}: step log: log entry "
                        f"{start + i} matches no published row (row altered or "
                        "deleted)"
                    )
        for index, leaf, who in misplaced:
            if leaf in logged:  # an altered row is reported below ("not in the log")
                problems.append(
                    f"{who}: step entry: its leaf_index {index} points at another log entry"
                )
        for index, (leaf, who) in pointers.items():
            if leaf in logged:  # logged, but the row does not say where
                problems.append(
                    f"{who}: step entry: its leaf_index is "
                    f"{'missing' if index is None else f'{index}, beyond the log'}"
                )
        for leaf, who in expected.items():
            if leaf not in logged:
                problems.append(
                    f"{who}: step entry: the published row is not in the log "
                    "(altered after logging, or never logged)"
                )
        problems += [f"log {p}" for p in store.audit(conn, signer.verifier_key)]

        history = store.checkpoints(conn)
        for c in history:
            try:
                checked = notes.verify_checkpoint(c.note, signer.verifier_key)
                if checked.size != c.size or checked.root != c.root:
                    raise AnchoringError("the note does not match the stored size and root")
                actual = store.root(conn, c.size)
                if actual != c.root:
                    problems.append(
                        f"checkpoint {c.size}: step checkpoint: root {c.root.hex()} "
                        f"but the entries give {actual.hex()}"
                    )
            except AnchoringError as exc:
                problems.append(f"checkpoint {c.size}: step checkpoint: {exc}")
        for a, b in zip(history, history[1:], strict=False):
            try:
                merkle.verify_consistency(
                    a.size,
                    b.size,
                    a.root,
                    b.root,
                    store.consistency_proof(conn, a.size, b.size) if a.size != b.size else [],
                )
            except AnchoringError as exc:
                problems.append(f"checkpoint {a.size} -> {b.size}: step consistency: {exc}")
        problems += _audit_anchors(config, history, sealing.anchor_rows(conn))
    summary = (
        f"Audited {size:,} log entries, {len(expected):,} published rows, "
        f"{len(history):,} checkpoints: "
        + (f"{len(problems):,} problem(s)." if problems else "no problem.")
    )
    return problems, summary


def _audit_anchors(config: dict, history, anchors: dict[int, list[dict]]) -> list[str]:
    problems = []
    ca = tsa_ca_pem(config)
    by_size = {c.size: c for c in history}
    backends = Backends(config)
    chain_note_given = False
    try:
        for size, items in anchors.items():
            c = by_size.get(size)
            if c is None:
                problems.append(
                    f"checkpoint {size}: step anchor: anchors for a checkpoint that does not exist"
                )
                continue
            for a in items:
                if a["status"] != "done":
                    continue
                if a["type"] == "evm":
                    if a.get("root") != c.root.hex() or a.get("treeSize") != c.size:
                        problems.append(
                            f"checkpoint {size}: step anchor: the EVM anchor "
                            "record is for another root or size"
                        )
                        continue
                    try:
                        from anchoring.chains.evm import EvmAnchor, verify_anchor

                        anchorer = backends.anchorer()
                        verify_anchor(
                            anchorer.w3,
                            EvmAnchor(
                                chain_id=a["chainId"],
                                contract=a["contract"],
                                tx_hash=a["txHash"],
                                block_number=a["blockNumber"],
                                block_time=a["blockTime"],
                                root_hex=a["root"],
                                tree_size=a["treeSize"],
                                sender=a["sender"],
                                explorer_url=a.get("explorerUrl"),
                            ),
                            c.root,
                            c.size,
                        )
                    except AnchoringError as exc:
                        text = str(exc)
                        if "in use by another process" in text or "cannot reach" in text:
                            chain_note_given = True  # the chain is busy/unreachable: not a problem
                        else:
                            problems.append(f"checkpoint {size}: step anchor (evm): {text}")
                elif a["type"] == "rfc3161" and ca is not None:
                    try:
                        from anchoring.timestamps import verify_timestamp

                        verify_timestamp(base64.b64decode(a["token"]), c.note.encode(), ca)
                    except (AnchoringError, ValueError) as exc:
                        problems.append(f"checkpoint {size}: step anchor (rfc3161): {exc}")
    finally:
        backends.close()
    if chain_note_given:
        import sys

        print(
            "note: the chain could not be opened (owned by the watcher or unreachable): EVM "
            "anchor records were checked against their checkpoints, not read from the chain",
            file=sys.stderr,
        )
    return problems
