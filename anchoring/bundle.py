"""The proof bundle: everything needed to check one logged release without the portal.

PROOF-CRITICAL (format): ``docs/proof-format.md`` ("Proof bundle") and
``docs/proof-bundle.schema.json`` specify it; bundles already handed out must keep verifying,
so a change here is a new ``version``, never an edit of version 1.

A :class:`ProofBundle` is an immutable value with explicit serialisation
(:meth:`ProofBundle.to_json` / :meth:`ProofBundle.from_json`, byte-exact round trip).
:func:`verify_bundle` is pure (no I/O, no clock, no network): it recomputes every hash from the
bytes it is given and returns one :class:`Step` per check. The checks that need the outside
world (reading an anchor back from a chain, verifying a timestamp token against a CA) are in
``anchoring.bundle_network``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from anchoring import cosignature, merkle, notes
from anchoring import entries as entry_format
from anchoring.canonical import canonical_json
from anchoring.errors import AnchoringError

__all__ = [
    "BUNDLE_VERSION",
    "BundleError",
    "ProformaProofBundle",
    "ProofBundle",
    "Step",
    "load_bundle",
    "verify_bundle",
    "verify_proforma_bundle",
    "witness_step",
]

BUNDLE_VERSION = 1
PASS, FAIL, SKIP = "PASS", "FAIL", "SKIP"


class BundleError(AnchoringError):
    """A proof bundle is not well formed (a field is missing, of the wrong type or shape)."""


@dataclass(frozen=True)
class Step:
    """The outcome of one verification step: ``status`` is PASS, FAIL or SKIP."""

    name: str
    status: str
    detail: str

    @property
    def passed(self) -> bool:
        return self.status == PASS


@dataclass(frozen=True)
class ProformaRef:
    """One leaf of the proformas hash link: a quote's id and the SHA-256 of its canonical JSON."""

    id: str
    hash: str


@dataclass(frozen=True)
class AnchorRecord:
    """One anchor of the checkpoint: ``type`` is ``evm`` or ``rfc3161``.

    ``status`` is ``done`` or ``pending``; a done anchor carries ``data``: for ``evm`` the chain
    record (chainId, contract, txHash, blockNumber, blockTime, root, treeSize, sender,
    explorerUrl), for ``rfc3161`` ``{"token": base64 DER TimeStampToken, ...}`` and, from a
    remote TSA checked for revocation, ``revocation`` (``anchoring.tsa_trust``).
    """

    type: str
    status: str
    data: tuple[tuple[str, Any], ...] = ()

    def get(self, key: str, default: Any = None) -> Any:
        return dict(self.data).get(key, default)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "status": self.status, **dict(self.data)}

    @classmethod
    def from_dict(cls, value: Any) -> AnchorRecord:
        """An anchor of one of the three shapes of docs/proof-format.md; :class:`BundleError`
        names what is missing, unknown or of the wrong type."""
        if not isinstance(value, dict):
            raise BundleError("anchors: every anchor must be an object")
        kind, status = value.get("type"), value.get("status")
        if kind not in ("evm", "rfc3161") or status not in ("done", "pending"):
            raise BundleError("anchors: type must be evm or rfc3161, status done or pending")
        shape = _ANCHOR_SHAPES["pending" if status == "pending" else kind]
        optional = _OPTIONAL_ANCHOR_FIELDS.get(kind, {}) if status == "done" else {}
        _only(value, {"type", "status", *shape, *optional}, "anchors")
        for name, valid in shape.items():
            if name not in value or not valid(value[name]):
                raise BundleError(f"anchors: {kind} {status} anchor: {name} missing or malformed")
        for name, valid in optional.items():
            if name in value and not valid(value[name]):
                raise BundleError(f"anchors: {kind} {status} anchor: {name} malformed")
        data = tuple((k, v) for k, v in value.items() if k not in ("type", "status"))
        return cls(kind, status, data)


@dataclass(frozen=True)
class ProofBundle:
    """A self-contained proof that one release was logged (see docs/proof-format.md).

    ``status`` is ``complete`` (the entry is in the signed checkpoint ``checkpoint``) or
    ``pending`` (logged, not yet sealed: no proof, checkpoint or anchors yet).
    """

    ocid: str
    release_id: str
    status: str
    hashes: dict[str, str | None]
    proformas: tuple[ProformaRef, ...]
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
    # An imported release's source package statement (who published it, under which terms),
    # whose SHA-256 of the RFC 8785 form is ``hashes["package"]``; None for the portal's own.
    source: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of the bundle, fields in the documented order."""
        hashes = {k: self.hashes.get(k) for k in ("data", "document", "proformas")}
        if self.hashes.get("package"):
            hashes["package"] = self.hashes["package"]
        out: dict[str, Any] = {
            "version": self.version,
            "status": self.status,
            "ocid": self.ocid,
            "releaseId": self.release_id,
            "hashes": hashes,
        }
        if self.source is not None:
            out["source"] = self.source
        out |= {
            "proformas": [{"id": p.id, "hash": p.hash} for p in self.proformas],
            "entry": {"kind": "release", "base64": base64.b64encode(self.entry).decode()},
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
    def from_json(cls, data: bytes | str) -> ProofBundle:
        """Parse a bundle; :class:`BundleError` names the first field that is wrong."""
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise BundleError(f"the bundle is not JSON: {exc}") from None
        return cls.from_dict(obj)

    @classmethod
    def from_dict(cls, obj: Any) -> ProofBundle:
        """A bundle from its parsed JSON, as strict as ``docs/proof-bundle.schema.json``:
        :class:`BundleError` names the first field that is missing, unknown or malformed."""
        status = bundle_status(obj, _FIELDS)
        hashes = _field(obj, "hashes", dict)
        _only(hashes, {"data", "document", "proformas", "package"}, "hashes")
        if "package" in hashes and not _is_hex32(hashes["package"]):
            raise BundleError("hashes.package: must be 64 lowercase hex digits (absent for the portal's own)")
        source = obj.get("source")
        if ("source" in obj) != ("package" in hashes) or (
            source is not None and not isinstance(source, dict)
        ):
            raise BundleError("source: an object, present exactly when hashes.package is")
        for name in ("data", "proformas"):
            if not _is_hex32(hashes.get(name)):
                raise BundleError(f"hashes.{name}: must be 64 lowercase hex digits")
        if "document" not in hashes:
            raise BundleError("hashes.document: missing (null when there is no document)")
        if hashes["document"] is not None and not _is_hex32(hashes["document"]):
            raise BundleError("hashes.document: must be 64 lowercase hex digits or null")
        refs = []
        for item in _field(obj, "proformas", list):
            if (
                not isinstance(item, dict)
                or set(item) != {"id", "hash"}
                or not isinstance(item.get("id"), str)
                or not _is_hex32(item.get("hash"))
            ):
                raise BundleError("proformas: each must be {id: string, hash: 64 hex digits}")
            refs.append(ProformaRef(item["id"], item["hash"]))
        entry_bytes = entry_of(obj, "release")
        bundle: dict[str, Any] = dict(
            ocid=_text(obj, "ocid"),
            release_id=_text(obj, "releaseId"),
            status=status,
            hashes={k: hashes[k] for k in ("data", "document", "proformas", "package") if k in hashes},
            source=source,
            proformas=tuple(refs),
            entry=entry_bytes,
            leaf_index=_uint(obj, "leafIndex"),
            leaf_hash=_hex32(obj.get("leafHash"), "leafHash"),
        )
        if status == "complete":
            bundle.update(_proof_fields(obj))
        return cls(**bundle)


def bundle_status(obj: Any, fields: set[str]) -> str:
    """The ``status`` of a version 1 bundle (of any entry kind) whose own fields are ``fields``;
    :class:`BundleError` when it is not an object of that version, or has another field. A
    pending bundle has none of the proof's fields."""
    if not isinstance(obj, dict):
        raise BundleError("the bundle must be a JSON object")
    if obj.get("version") != BUNDLE_VERSION or isinstance(obj.get("version"), bool):
        raise BundleError(f"version: only version {BUNDLE_VERSION} bundles are understood")
    status = _field(obj, "status", str)
    if status not in ("complete", "pending"):
        raise BundleError("status: must be complete or pending")
    _only(obj, fields | (_COMPLETE_FIELDS if status == "complete" else set()), "the bundle")
    return status


def entry_of(obj: dict[str, Any], kind: str) -> bytes:
    """The entry bytes of a bundle, ``{"kind": kind, "base64": ...}``; BundleError otherwise."""
    entry = _field(obj, "entry", dict)
    _only(entry, {"kind", "base64"}, "entry")
    if entry.get("kind") != kind:
        raise BundleError(f"entry.kind: must be {kind}")
    if not isinstance(entry.get("base64"), str):
        raise BundleError("entry.base64: missing or not a str")
    try:
        return base64.b64decode(entry["base64"], validate=True)
    except (binascii.Error, ValueError):
        raise BundleError("entry.base64: not valid base64") from None


def _proof_fields(obj: dict[str, Any]) -> dict[str, Any]:
    """The fields of a complete bundle (release or quote) that prove its entry: tree size,
    inclusion proof, checkpoint, key and anchors, parsed as strictly as the schemas say."""
    tree_size = _uint(obj, "treeSize")
    if tree_size < 1:
        raise BundleError("treeSize: a complete bundle's tree holds at least its entry")
    key = _field(obj, "key", str)
    if not _VERIFIER_KEY.fullmatch(key):
        raise BundleError("key: must be a C2SP verifier key <name>+<8 hex>+<base64>")
    return dict(
        tree_size=tree_size,
        inclusion_proof=tuple(_hex32(h, "inclusionProof") for h in _field(obj, "inclusionProof", list)),
        checkpoint=_text(obj, "checkpoint"),
        key=key,
        anchors=tuple(AnchorRecord.from_dict(a) for a in _field(obj, "anchors", list)),
        cosignatures=_cosignature_lines(obj),
    )


def _cosignature_lines(obj: dict[str, Any]) -> tuple[str, ...]:
    """The optional ``cosignatures``: witnesses' cosignature/v1 lines on the checkpoint, each
    ``— <name> <base64>`` without its newline; absent when no witness cosigned."""
    if "cosignatures" not in obj:
        return ()
    lines = _field(obj, "cosignatures", list)
    if not lines:
        raise BundleError("cosignatures: absent, not empty, when no witness cosigned")
    for line in lines:
        try:
            if not isinstance(line, str) or line.endswith("\n"):
                raise AnchoringError("not a string without a final newline")
            cosignature.Cosignature.parse_line(line)
        except AnchoringError:
            raise BundleError(
                "cosignatures: each must be a cosignature/v1 line '— <name> <base64>'"
            ) from None
    if len(set(lines)) != len(lines):
        raise BundleError("cosignatures: a line is repeated")
    return tuple(lines)


_FIELDS = {
    "version",
    "status",
    "ocid",
    "releaseId",
    "hashes",
    "source",
    "proformas",
    "entry",
    "leafIndex",
    "leafHash",
}
_COMPLETE_FIELDS = {"treeSize", "inclusionProof", "checkpoint", "key", "anchors", "cosignatures"}
_VERIFIER_KEY = re.compile(r"[^+\s]+\+[0-9a-f]{8}\+[A-Za-z0-9+/=]+")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_TX_HASH = re.compile(r"0x[0-9a-f]{64}")


def _int_at_least(low: int) -> Any:
    return lambda v: type(v) is int and v >= low


def _string(v: Any) -> bool:
    return isinstance(v, str)


def _matching(pattern: re.Pattern[str]) -> Any:
    return lambda v: isinstance(v, str) and pattern.fullmatch(v) is not None


def _base64_text(v: Any) -> bool:
    try:
        return isinstance(v, str) and bool(v) and bool(base64.b64decode(v, validate=True))
    except (binascii.Error, ValueError):
        return False


# The members of each anchor shape besides type and status (docs/proof-bundle.schema.json).
_ANCHOR_SHAPES: dict[str, dict[str, Any]] = {
    "pending": {"attempts": _int_at_least(0), "nextAttemptAt": _string},
    "evm": {
        "chainId": _int_at_least(1),
        "contract": _matching(_ADDRESS),
        "txHash": _matching(_TX_HASH),
        "blockNumber": _int_at_least(0),
        "blockTime": _int_at_least(0),
        "root": lambda v: _is_hex32(v),  # defined below
        "treeSize": _int_at_least(1),
        "sender": _matching(_ADDRESS),
        "explorerUrl": lambda v: v is None or isinstance(v, str),
    },
    "rfc3161": {"token": _base64_text, "genTime": _string, "tsa": _string},
}


def _revocation_evidence(v: Any) -> bool:
    """The optional ``revocation`` of an rfc3161 anchor (anchoring.tsa_trust): its shape only;
    ``veraz verify`` checks its content."""
    return (
        isinstance(v, dict)
        and set(v) == {"method", "certificates", "response"}
        and v["method"] in ("ocsp", "crl")
        and isinstance(v["certificates"], list)
        and bool(v["certificates"])
        and all(_base64_text(c) for c in v["certificates"])
        and _base64_text(v["response"])
    )


# Fields added to version 1 as optional (a bundle without them is what it was before).
_OPTIONAL_ANCHOR_FIELDS: dict[str, dict[str, Any]] = {"rfc3161": {"revocation": _revocation_evidence}}


def _only(obj: dict, allowed: set[str], where: str) -> None:
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise BundleError(f"{where}: unknown field(s) {unknown} (not allowed in version 1)")


def _text(obj: dict, name: str) -> str:
    value = _field(obj, name, str)
    if not value:
        raise BundleError(f"{name}: must not be empty")
    return value


def _field(obj: dict, name: str, kind: type) -> Any:
    value = obj.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise BundleError(f"{name}: missing or not a {kind.__name__}")
    return value


def _uint(obj: dict, name: str) -> int:
    value = _field(obj, name, int)
    if value < 0:
        raise BundleError(f"{name}: must not be negative")
    return int(value)


def _is_hex32(value: Any) -> bool:
    return isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def _hex32(value: Any, name: str) -> bytes:
    if not _is_hex32(value):
        raise BundleError(f"{name}: each hash must be 64 lowercase hex digits")
    return bytes.fromhex(value)


def release_hash(release: Any) -> str:
    """Hash 1 of a release: SHA-256 (hex) of its RFC 8785 canonical JSON."""
    return hashlib.sha256(canonical_json(release)).hexdigest()


def verify_bundle(
    bundle: ProofBundle,
    *,
    release: Any = None,
    document: bytes | None = None,
    pinned_key: str | None = None,
) -> list[Step]:
    """Check ``bundle`` step by step; pure. Steps whose input was not given are SKIP.

    ``release`` is the release as parsed JSON (its canonical form is recomputed),
    ``document`` the order document's bytes, ``pinned_key`` a C2SP verifier key obtained
    independently of the bundle (e.g. from the portal's published key, pinned).
    """
    steps: list[Step] = []

    def add(name: str, ok: bool, detail: str) -> None:
        steps.append(Step(name, PASS if ok else FAIL, detail))

    # 1. The hashes of what the citizen holds.
    if release is None:
        steps.append(Step("release-hash", SKIP, "no release given (--release)"))
    else:
        if not isinstance(release, dict):
            add("release-hash", False, "the release file is not one JSON object")
        else:
            got = release_hash(release)
            same_id = release.get("ocid") == bundle.ocid and str(release.get("id")) == bundle.release_id
            add(
                "release-hash",
                got == bundle.hashes["data"] and same_id,
                f"SHA-256 of the canonical release is {got}"
                + (
                    ""
                    if same_id
                    else f"; the release is {release.get('ocid')} {release.get('id')}, "
                    f"the bundle is for {bundle.ocid} {bundle.release_id}"
                ),
            )
    if document is None:
        steps.append(Step("document-hash", SKIP, "no document given (--document)"))
    else:
        got = hashlib.sha256(document).hexdigest()
        add(
            "document-hash",
            got == bundle.hashes["document"],
            f"SHA-256 of the document is {got}, the bundle has {bundle.hashes['document']}",
        )

    # 2. The proformas hash link over the listed quotes.
    try:
        link_hex = entry_format.proformas_hash_link([bytes.fromhex(p.hash) for p in bundle.proformas]).hex()
        add(
            "proformas-hash-link",
            link_hex == bundle.hashes["proformas"],
            f"Merkle root over {len(bundle.proformas)} proforma hash(es) is {link_hex}",
        )
    except AnchoringError as exc:
        add("proformas-hash-link", False, str(exc))

    # 2b. Who published an imported release, as Veraz states it: the statement hashes to the
    # package hash the entry commits to.
    if bundle.hashes.get("package"):
        stated = (
            hashlib.sha256(canonical_json(bundle.source)).hexdigest() if bundle.source is not None else None
        )
        add(
            "source-package",
            stated == bundle.hashes["package"],
            f"SHA-256 of the source package statement is {stated}, the entry has {bundle.hashes['package']}",
        )

    # 3. The entry commits to exactly these hashes, and hashes to the leaf.
    try:
        expected_entry = entry_format.encode_entry(
            entry_format.ReleaseEntry(
                ocid=bundle.ocid,
                release_id=bundle.release_id,
                data_hash=bytes.fromhex(bundle.hashes["data"] or ""),
                proformas_hash=bytes.fromhex(bundle.hashes["proformas"] or ""),
                document_hash=_opt(bundle.hashes["document"]),
                package_hash=_opt(bundle.hashes.get("package")),
            )
        )
        add(
            "entry",
            expected_entry == bundle.entry,
            "entry bytes re-encoded from ocid, releaseId and hashes"
            + (
                " are the logged entry" if expected_entry == bundle.entry else " differ from the logged entry"
            ),
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


def witness_step(bundle: Any, witnesses: Sequence[str] = (), required: int | None = None) -> list[Step]:
    """Step 5b: enough of the given witnesses cosigned the bundle's checkpoint.

    ``witnesses`` are cosigner verifier keys obtained independently of the bundle; ``required``
    defaults to all of them. No step when no key is given and the bundle carries no
    cosignature; SKIP (with the count carried) when it carries some but no key is given.
    """
    if not witnesses:
        if not bundle.cosignatures:
            return []
        return [
            Step(
                "witnesses",
                SKIP,
                f"the bundle carries {len(bundle.cosignatures)} cosignature(s); "
                "give the witnesses' keys (--witness) to check them",
            )
        ]
    needed = len(witnesses) if required is None else required
    try:
        verifiers = [cosignature.CosignatureVerifier.parse(key) for key in witnesses]
        text, _ = cosignature.note_text(bundle.checkpoint)
    except AnchoringError as exc:
        return [Step("witnesses", FAIL, str(exc))]
    valid = cosignature.valid_cosignatures(text, list(bundle.cosignatures), verifiers)
    names = ", ".join(sorted(v.name for v in verifiers if str(v) in valid)) or "none"
    return [
        Step(
            "witnesses",
            PASS if len(valid) >= needed else FAIL,
            f"{len(valid)} of {len(verifiers)} given witness(es) cosigned the checkpoint "
            f"({names}); {needed} required",
        )
    ]


def _checkpoint_steps(bundle: Any, pinned_key: str | None) -> list[Step]:
    """Steps 4 and 5, shared by release and proforma bundles: the checkpoint is signed by the
    log's key, and the leaf is in the tree it commits to."""
    steps: list[Step] = []

    def add(name: str, ok: bool, detail: str) -> None:
        steps.append(Step(name, PASS if ok else FAIL, detail))

    # 4. The checkpoint is signed by the log's key (and that key is the pinned one).
    assert bundle.checkpoint is not None and bundle.key is not None and bundle.tree_size is not None
    checkpoint = None
    if pinned_key is not None and pinned_key.strip() != bundle.key.strip():
        add("checkpoint-signature", False, "the bundle's key is not the pinned key (--key)")
    else:
        try:
            checkpoint = notes.verify_checkpoint(bundle.checkpoint, bundle.key)
            add(
                "checkpoint-signature",
                True,
                f"signed by {bundle.key.split('+')[0]}" + (" (pinned)" if pinned_key else ""),
            )
        except AnchoringError as exc:
            add("checkpoint-signature", False, str(exc))

    # 5. The leaf is in the tree the checkpoint commits to.
    if checkpoint is None:
        steps.append(Step("inclusion", FAIL, "no verified checkpoint to check against"))
    elif checkpoint.size != bundle.tree_size:
        add(
            "inclusion",
            False,
            f"treeSize {bundle.tree_size} but the checkpoint is for size {checkpoint.size}",
        )
    else:
        try:
            merkle.verify_inclusion(
                bundle.leaf_hash,
                bundle.leaf_index,
                bundle.tree_size,
                list(bundle.inclusion_proof),
                checkpoint.root,
            )
            add(
                "inclusion",
                True,
                f"leaf {bundle.leaf_index} of {bundle.tree_size}, root {checkpoint.root.hex()}",
            )
        except AnchoringError as exc:
            add("inclusion", False, str(exc))
    return steps


def _opt(value: str | None) -> bytes | None:
    return bytes.fromhex(value) if value is not None else None


@dataclass(frozen=True)
class ProformaProofBundle:
    """A self-contained proof that one proforma (supplier quote) was logged, on its own.

    Same version and proof fields as :class:`ProofBundle`; its entry is the quote's
    ``proforma`` entry (``anchoring.entries.ProformaEntry``) and its one hash the SHA-256 of
    the quote's RFC 8785 form (docs/proof-format.md, "Proforma proof bundle").
    """

    ocid: str
    proforma_id: str
    status: str
    proforma_hash: str
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
            "ocid": self.ocid,
            "proformaId": self.proforma_id,
            "hashes": {"proforma": self.proforma_hash},
            "entry": {"kind": "proforma", "base64": base64.b64encode(self.entry).decode()},
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
    def from_json(cls, data: bytes | str) -> ProformaProofBundle:
        """Parse a proforma bundle; :class:`BundleError` names the first field that is wrong."""
        bundle = load_bundle(data)
        if not isinstance(bundle, cls):
            raise BundleError("entry.kind: must be proforma")
        return bundle

    @classmethod
    def from_dict(cls, obj: Any) -> ProformaProofBundle:
        """A proforma bundle from its parsed JSON, as strict as :meth:`ProofBundle.from_dict`."""
        status = bundle_status(obj, _PROFORMA_FIELDS)
        hashes = _field(obj, "hashes", dict)
        _only(hashes, {"proforma"}, "hashes")
        if not _is_hex32(hashes.get("proforma")):
            raise BundleError("hashes.proforma: must be 64 lowercase hex digits")
        entry_bytes = entry_of(obj, "proforma")
        bundle: dict[str, Any] = dict(
            ocid=_text(obj, "ocid"),
            proforma_id=_text(obj, "proformaId"),
            status=status,
            proforma_hash=hashes["proforma"],
            entry=entry_bytes,
            leaf_index=_uint(obj, "leafIndex"),
            leaf_hash=_hex32(obj.get("leafHash"), "leafHash"),
        )
        if status == "complete":
            bundle.update(_proof_fields(obj))
        return cls(**bundle)


_PROFORMA_FIELDS = {"version", "status", "ocid", "proformaId", "hashes", "entry", "leafIndex", "leafHash"}


def load_bundle(data: bytes | str) -> ProofBundle | ProformaProofBundle:
    """Parse a release or a proforma bundle, told apart by ``entry.kind``."""
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise BundleError(f"the bundle is not JSON: {exc}") from None
    entry = obj.get("entry") if isinstance(obj, dict) else None
    if isinstance(entry, dict) and entry.get("kind") == "proforma":
        return ProformaProofBundle.from_dict(obj)
    return ProofBundle.from_dict(obj)


def verify_proforma_bundle(
    bundle: ProformaProofBundle, *, proforma: Any = None, pinned_key: str | None = None
) -> list[Step]:
    """Check a proforma bundle step by step; pure. ``proforma`` is the quote as parsed JSON
    (its canonical form is recomputed; SKIP when not given)."""
    steps: list[Step] = []

    def add(name: str, ok: bool, detail: str) -> None:
        steps.append(Step(name, PASS if ok else FAIL, detail))

    if proforma is None:
        steps.append(Step("proforma-hash", SKIP, "no quote given (--quote)"))
    elif not isinstance(proforma, dict):
        add("proforma-hash", False, "the quote file is not one JSON object")
    else:
        got = release_hash(proforma)  # the same RFC 8785 hash as hash 1
        same_id = str(proforma.get("id")) == bundle.proforma_id
        add(
            "proforma-hash",
            got == bundle.proforma_hash and same_id,
            f"SHA-256 of the canonical quote is {got}"
            + (
                ""
                if same_id
                else f"; the quote is {proforma.get('id')}, the bundle is for {bundle.proforma_id}"
            ),
        )
    try:
        expected = entry_format.encode_entry(
            entry_format.ProformaEntry(
                ocid=bundle.ocid,
                proforma_id=bundle.proforma_id,
                proforma_hash=bytes.fromhex(bundle.proforma_hash),
            )
        )
        add(
            "entry",
            expected == bundle.entry,
            "entry bytes re-encoded from ocid, proformaId and hash"
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
