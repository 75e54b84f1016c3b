"""The CA certificates a citizen trusts, as published (``/api/log/tsa-ca.pem``, ``/evidence/ca.pem``).

Only files are read here: the anchoring process creates them (the embedded TSA and its CA in
``INSTANCE_PATH/tsa``, the evidence signer in ``INSTANCE_PATH/evidence-signing``; see
``portal.evidence.signing``), so web workers never load the signing or timestamping code.
"""

from __future__ import annotations

from pathlib import Path

SIGNING_DIRECTORY = "evidence-signing"


def tsa_directory(config: dict) -> Path:
    """Where the embedded TSA keeps its CA, its certificate and its keys."""
    return Path(config["INSTANCE_PATH"]) / "tsa"


def signing_directory(config: dict) -> Path:
    """Where the evidence-PDF signer keeps its certificate and key."""
    return Path(config["INSTANCE_PATH"]) / SIGNING_DIRECTORY


def tsa_ca_pem(config: dict) -> bytes | None:
    """The PEM of the CA that verifies the portal's timestamp tokens, or None (no TSA yet)."""
    url = str(config.get("TSA_URL", "")).strip()
    if url.lower() == "off":
        return None
    path = Path(config["TSA_CA_FILE"]) if url else tsa_directory(config) / "ca.pem"
    return path.read_bytes() if path.is_file() else None


def trust_pem(config: dict) -> bytes | None:
    """The CA certificate(s) a citizen trusts to validate evidence PDFs.

    The embedded CA (issuer of the signing certificate) and, when it differs, the CA of the
    TSA whose timestamps the PDFs carry. None before anything was ever signed.
    """
    signing_ca = tsa_directory(config) / "ca.pem"
    if not (signing_directory(config) / "signer.pem").is_file() or not signing_ca.is_file():
        return None
    parts = [signing_ca.read_bytes()]
    tsa = tsa_ca_pem(config)
    if tsa and tsa not in parts:
        parts.append(tsa)
    return b"".join(p if p.endswith(b"\n") else p + b"\n" for p in parts)
