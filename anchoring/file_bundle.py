"""Proof bundles of bulk download files (``docs/proof-format.md``, "Bulk file proof bundle").

A bulk file (``full.jsonl.gz``, ``2024.jsonl.gz``, a CSV archive...) is logged as a ``bulk``
entry (:class:`anchoring.entries.BulkFileEntry`): its name, the SHA-256 of its bytes, its size,
the releases it holds and the log's size at its export. Its bundle proves that entry exactly as
a release's bundle proves a release entry (same version, checkpoint, inclusion proof, key,
anchors and cosignatures), so a downloaded file can be checked offline against the log: hash
the file, compare with the entry, check the entry is in a signed, anchored checkpoint.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from anchoring import entries as entry_format
from anchoring import merkle
from anchoring.bundle import (
    BUNDLE_VERSION,
    FAIL,
    PASS,
    SKIP,
    AnchorRecord,
    BundleError,
    Step,
    _checkpoint_steps,
    _field,
    _hex32,
    _is_hex32,
    _only,
    _proof_fields,
    _text,
    _uint,
    bundle_status,
    entry_of,
)
from anchoring.errors import AnchoringError

_FILE_FIELDS = {"version", "status", "file", "entry", "leafIndex", "leafHash"}


@dataclass(frozen=True)
class FileProofBundle:
    """A self-contained proof that one bulk file (these exact bytes) was logged."""

    status: str
    name: str
    sha256: str
    size: int
    releases: int
    log_size: int
    entry: bytes
    leaf_index: int
    leaf_hash: bytes
    tree_size: int | None = None
    inclusion_proof: tuple[bytes, ...] = ()
    checkpoint: str | None = None
    key: str | None = None
    anchors: tuple[AnchorRecord, ...] = field(default=())
    cosignatures: tuple[str, ...] = ()
    version: int = BUNDLE_VERSION

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of the bundle, fields in the documented order."""
        out: dict[str, Any] = {
            "version": self.version,
            "status": self.status,
            "file": {
                "name": self.name,
                "sha256": self.sha256,
                "size": self.size,
                "releases": self.releases,
                "logSize": self.log_size,
            },
            "entry": {"kind": "bulk", "base64": base64.b64encode(self.entry).decode()},
            "leafIndex": self.leaf_index,
            "leafHash": self.leaf_hash.hex(),
        }
        if self.status == "complete":
            out["treeSize"] = self.tree_size
            out["inclusionProof"] = [h.hex() for h in self.inclusion_proof]
            out["checkpoint"] = self.checkpoint
            out["key"] = self.key
            out["anchors"] = [a.to_dict() for a in self.anchors]
            if self.cosignatures:
                out["cosignatures"] = list(self.cosignatures)
        return out

    def to_json(self) -> bytes:
        """UTF-8 JSON, two-space indented; ``from_json(b.to_json()) == b``."""
        return orjson.dumps(self.to_dict(), option=orjson.OPT_INDENT_2)

    @classmethod
    def from_json(cls, data: bytes | str) -> FileProofBundle:
        """Parse a file bundle; :class:`BundleError` names the first field that is wrong."""
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise BundleError(f"the bundle is not JSON: {exc}") from None
        return cls.from_dict(obj)

    @classmethod
    def from_dict(cls, obj: Any) -> FileProofBundle:
        """A file bundle from its parsed JSON, as strict as the release bundle's parser."""
        status = bundle_status(obj, _FILE_FIELDS)
        described = _field(obj, "file", dict)
        _only(described, {"name", "sha256", "size", "releases", "logSize"}, "file")
        if not _is_hex32(described.get("sha256")):
            raise BundleError("file.sha256: must be 64 lowercase hex digits")
        entry_bytes = entry_of(obj, "bulk")
        bundle: dict[str, Any] = dict(
            status=status,
            name=_text(described, "name"),
            sha256=described["sha256"],
            size=_uint(described, "size"),
            releases=_uint(described, "releases"),
            log_size=_uint(described, "logSize"),
            entry=entry_bytes,
            leaf_index=_uint(obj, "leafIndex"),
            leaf_hash=_hex32(obj.get("leafHash"), "leafHash"),
        )
        if status == "complete":
            bundle.update(_proof_fields(obj))
        return cls(**bundle)


def file_digest(path: Path) -> tuple[str, int]:
    """SHA-256 (hex) and size of a file, read in blocks (bulk files are large)."""
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def verify_file_bundle(
    bundle: FileProofBundle,
    *,
    file_sha256: str | None = None,
    file_size: int | None = None,
    file_name: str | None = None,
    pinned_key: str | None = None,
) -> list[Step]:
    """Check a file bundle step by step; pure. ``file_sha256``/``file_size`` are those of the
    downloaded file (``file-hash`` is SKIP without them); ``file_name`` its name on disk, told
    when it differs from the logged one (a renamed download is still the same bytes)."""
    steps: list[Step] = []

    def add(name: str, ok: bool, detail: str) -> None:
        steps.append(Step(name, PASS if ok else FAIL, detail))

    if file_sha256 is None:
        steps.append(Step("file-hash", SKIP, "no file given"))
    else:
        same = file_sha256 == bundle.sha256 and (file_size is None or file_size == bundle.size)
        detail = f"SHA-256 of the file is {file_sha256} ({file_size} bytes); logged {bundle.sha256}"
        detail += f" ({bundle.size} bytes) for {bundle.name}"
        if file_name is not None and file_name != bundle.name:
            detail += f"; the file is named {file_name}"
        add("file-hash", same, detail)
    try:
        expected = entry_format.encode_entry(
            entry_format.BulkFileEntry(
                name=bundle.name,
                file_hash=bytes.fromhex(bundle.sha256),
                size=str(bundle.size),
                releases=str(bundle.releases),
                log_size=str(bundle.log_size),
            )
        )
        add(
            "entry",
            expected == bundle.entry,
            "entry bytes re-encoded from the file's name, SHA-256, size, releases and log size"
            + (" are the logged entry" if expected == bundle.entry else " differ from the logged entry"),
        )
    except AnchoringError as exc:
        add("entry", False, str(exc))
    leaf = merkle.leaf_hash(bundle.entry)
    add("leaf-hash", leaf == bundle.leaf_hash, f"SHA-256(0x00 || entry) is {leaf.hex()}")
    if bundle.status != "complete":
        for name in ("checkpoint-signature", "inclusion"):
            steps.append(
                Step(
                    name,
                    FAIL,
                    "the entry is not yet in a sealed checkpoint "
                    "(status pending): fetch the bundle again later",
                )
            )
        return steps
    return steps + _checkpoint_steps(bundle, pinned_key)
