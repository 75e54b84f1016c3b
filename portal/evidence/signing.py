"""The portal's document-signing certificate, and PAdES B-T signatures of evidence PDFs.

The signing certificate is issued by the CA of the embedded TSA (``INSTANCE_PATH/tsa``,
created by :class:`anchoring.timestamps.EmbeddedTSA`, whose CA key is kept there), so one
published CA certificate verifies both the portal's signature and, with the embedded TSA, its
timestamps. With a remote TSA (``TSA_URL``) the embedded CA is still created for signing only;
the published trust file (``portal.evidence.read.trust.trust_pem``) then also carries the
remote TSA's CA (``TSA_CA_FILE``).

Files: ``INSTANCE_PATH/evidence-signing/signer.key`` (ECDSA P-256, PKCS#8 PEM, mode 0600,
never logged nor shown) and ``signer.pem`` (public). The certificate carries keyUsage
digitalSignature + nonRepudiation (what PAdES validators ask of a signer) and the
documentSigning extended key usage (RFC 9336). A certificate that expires within
:data:`RENEW_BEFORE` is replaced by a new one at the next signature; PDFs already signed keep
validating, since their timestamp proves the signature was made while it was valid.

The signer's identity is the embedded CA (published at ``/evidence/ca.pem``) and the key pair
it issued. Once an evidence PDF was signed (:func:`document_signer` is given its certificate),
nothing is created any more: a missing CA key, signing key or certificate, or a certificate or
CA other than the one that signed the stored PDFs, is a :class:`SigningError` naming the file;
only the renewal above makes a new key pair, from the same CA, and says so in the log.

The timestamp comes from the TSA the portal anchors checkpoints with: the embedded TSA in
process (a pyHanko ``TimeStamper`` calling ``EmbeddedTSA.respond``), or the remote one over
HTTP (pyHanko's client).
``TSA_URL=off`` gives a PAdES B-B signature (no timestamp).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import fcntl
import functools
import io
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asn1crypto import keys, pem, tsp, x509
from cryptography import x509 as cx509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID, ObjectIdentifier

from anchoring.certificates import distinguished_name, issue_end_entity_certificate
from anchoring.errors import KeyFileError
from anchoring.keyfiles import create_private, read_private
from portal.evidence.read.trust import signing_directory, tsa_directory

#: RFC 9336 id-kp-documentSigning.
DOCUMENT_SIGNING = ObjectIdentifier("1.3.6.1.5.5.7.3.36")
VALIDITY = dt.timedelta(days=5 * 365)
RENEW_BEFORE = dt.timedelta(days=30)
SIGNATURE_FIELD = "VerazEvidence"

log = logging.getLogger(__name__)


class SigningError(Exception):
    """The evidence PDF could not be signed (key files, TSA)."""


@dataclass(frozen=True)
class DocumentSigner:
    """The signing certificate, its key (in memory only) and the CA certificate above it."""

    certificate: x509.Certificate
    ca_certificate: x509.Certificate
    _key: keys.PrivateKeyInfo = field(repr=False)

    def __repr__(self) -> str:
        return f"DocumentSigner(subject={self.certificate.subject.human_friendly!r})"


def _read_key(path: Path) -> bytes:
    """The PEM in key file ``path``; one that others could read is refused (SigningError)."""
    try:
        return read_private(path)
    except KeyFileError as error:
        raise SigningError(str(error)) from error


def _issuer(config: dict, signed_before: cx509.Certificate | None) -> tuple[cx509.Certificate, Any]:
    """The embedded CA and its private key; created with the embedded TSA on first use, never
    once a PDF was signed (``signed_before``)."""
    from anchoring.timestamps import EmbeddedTSA

    directory = tsa_directory(config)
    if not (directory / "ca.key").is_file():
        if signed_before is not None:
            raise SigningError(
                f"the evidence-signing CA key {directory / 'ca.key'} does not exist, but evidence "
                f"PDFs were signed under the CA {signed_before.issuer.rfc4514_string()}; restore "
                f"{directory} from a backup (a new CA would be a new signer identity, so none "
                "is made)"
            )
        EmbeddedTSA(directory)  # creates the CA (under its own lock) when absent
    ca = cx509.load_pem_x509_certificate((directory / "ca.pem").read_bytes())
    key = serialization.load_pem_private_key(_read_key(directory / "ca.key"), password=None)
    return ca, key


def _issue(config: dict, directory: Path, now: dt.datetime, signed_before: cx509.Certificate | None) -> None:
    ca, ca_key = _issuer(config, signed_before)
    if signed_before is not None:
        _check_issued_by(ca, signed_before, "the certificate that signed the stored evidence PDFs")
    key = ec.generate_private_key(ec.SECP256R1())
    organisation = ca.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    org = str(organisation[0].value) if organisation else "Veraz"
    cert = issue_end_entity_certificate(
        ca,
        ca_key,
        distinguished_name(f"{org} evidence signing", org),
        key.public_key(),
        extended_key_usage=DOCUMENT_SIGNING,
        extended_key_usage_critical=False,
        now=now,
        not_after=min(now + VALIDITY, ca.not_valid_after_utc),
    )
    pkcs8 = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # signer.pem marks a complete pair: it goes first and comes back last, so a crash
    # in between leaves no certificate and the next call issues a new pair, never a
    # certificate beside another certificate's key. Key files are never overwritten.
    (directory / "signer.pem").unlink(missing_ok=True)
    (directory / "signer.key").unlink(missing_ok=True)
    create_private(directory / "signer.key", pkcs8)
    tmp = directory / "signer.pem.tmp"
    tmp.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    tmp.replace(directory / "signer.pem")


def _check_issued_by(ca: cx509.Certificate, certificate: cx509.Certificate, what: str) -> None:
    try:
        certificate.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        raise SigningError(
            f"{what} ({certificate.subject.rfc4514_string()}) was not issued by the CA in "
            f"{ca.subject.rfc4514_string()}; put back the CA and signing key the evidence PDFs "
            "were signed with (a different one would be a new signer identity)"
        ) from None


def document_signer(
    config: dict,
    *,
    now: dt.datetime | None = None,
    signed_before: x509.Certificate | None = None,
) -> DocumentSigner:
    """The portal's document signer; issued (or renewed) from the embedded CA when needed.

    ``signed_before``: the certificate that signed the newest stored evidence PDF (see
    :func:`signer_certificate`), None before the first. Given it, a missing key or certificate
    is never replaced by a new one (:class:`SigningError`), and the CA must be the one that
    issued it.
    """
    now = now or dt.datetime.now(dt.UTC)
    before = cx509.load_der_x509_certificate(signed_before.dump()) if signed_before else None
    directory = signing_directory(config)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(directory / ".lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two processes at once issue one certificate
        cert_path = directory / "signer.pem"
        current = cx509.load_pem_x509_certificate(cert_path.read_bytes()) if cert_path.is_file() else None
        if before is not None and (current is None or not (directory / "signer.key").is_file()):
            missing = cert_path if current is None else directory / "signer.key"
            raise SigningError(
                f"the evidence-signing file {missing} does not exist, but evidence PDFs were "
                f"signed by {before.subject.rfc4514_string()} (serial {before.serial_number}); "
                f"restore {directory} from a backup (a new key would be a new signer identity, "
                "so none is made)"
            )
        if current is None or current.not_valid_after_utc - RENEW_BEFORE <= now:
            _issue(config, directory, now, before)
            if current is not None:
                log.warning(
                    "renewed the evidence-signing certificate in %s (a new key pair from "
                    "the same CA): the old one expires on %s",
                    cert_path,
                    current.not_valid_after_utc.isoformat(),
                )
        cert_pem = cert_path.read_bytes()
        key_pem = _read_key(directory / "signer.key")
    ca_pem = (tsa_directory(config) / "ca.pem").read_bytes()
    key = serialization.load_pem_private_key(key_pem, password=None)
    if before is not None:
        ca = cx509.load_pem_x509_certificate(ca_pem)
        _check_issued_by(ca, before, "the certificate that signed the stored evidence PDFs")
        _check_issued_by(
            ca, cx509.load_pem_x509_certificate(cert_pem), f"the signing certificate {cert_path}"
        )
    if key.public_key() != cx509.load_pem_x509_certificate(cert_pem).public_key():
        raise SigningError(
            f"the signing key {directory / 'signer.key'} is not the key of the "
            f"certificate {cert_path}; restore the pair from a backup"
        )
    der_key = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return DocumentSigner(
        certificate=x509.Certificate.load(pem.unarmor(cert_pem)[2]),
        ca_certificate=x509.Certificate.load(pem.unarmor(ca_pem)[2]),
        _key=keys.PrivateKeyInfo.load(der_key),
    )


def signer_certificate(pdf: bytes) -> x509.Certificate:
    """The certificate that signed a stored evidence PDF (its first signature)."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    try:
        signatures = PdfFileReader(io.BytesIO(pdf)).embedded_signatures
        return signatures[0].signer_cert
    except Exception as exc:  # noqa: BLE001 - pyHanko raises many types; one sentence out
        raise SigningError(f"cannot read the signer of the stored evidence PDF: {exc}") from exc


@functools.cache
def _portal_timestamper_class() -> type:
    # pyHanko is imported here, not at module level: ``veraz anchor`` imports this module on
    # every run and signs only when a checkpoint is fully anchored (pyHanko's import costs
    # half a second).
    from pyhanko.sign.timestamps import TimeStamper

    class PortalTimeStamper(TimeStamper):
        """pyHanko's timestamp client over the portal's embedded TSA, called in process."""

        def __init__(self, tsa: Any) -> None:
            super().__init__()
            self._tsa = tsa

        async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
            return tsp.TimeStampResp.load(self._tsa.respond(req.dump()))

    return PortalTimeStamper


def timestamper(config: dict, backends: Any) -> Any:
    """A pyHanko timestamper over the TSA the portal anchors with, or None (``TSA_URL=off``).

    The embedded TSA (``backends.tsa()``) answers in process; a remote TSA (``TSA_URL``) is
    asked over HTTP with pyHanko's client.
    """
    url = str(config.get("TSA_URL", "")).strip()
    if url.lower() == "off":
        return None
    if url:
        # The requests-based client: the aiohttp one leaves a session to close per call.
        from pyhanko.sign.timestamps.requests_client import RequestsHTTPTimeStamper

        return RequestsHTTPTimeStamper(url, timeout=float(config["ANCHOR_TIMEOUT"]))
    return _portal_timestamper_class()(backends.tsa())


def sign_pdf(
    pdf: bytes,
    signer: DocumentSigner,
    stamper: Any,
    *,
    reason: str,
    location: str,
) -> bytes:
    """Sign ``pdf`` PAdES B-T (B-B without ``stamper``) in an incremental update.

    The input bytes are kept unchanged as the prefix of the output (the signature is appended),
    so the document as rendered stays byte-identical inside the signed file.
    """
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    simple = signers.SimpleSigner(
        signing_cert=signer.certificate,
        signing_key=signer._key,
        cert_registry=SimpleCertificateStore.from_certs([signer.ca_certificate]),
    )
    meta = signers.PdfSignatureMetadata(
        field_name=SIGNATURE_FIELD,
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
        reason=reason,
        location=location,
    )
    pdf_signer = signers.PdfSigner(meta, signer=simple, timestamper=stamper)
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    try:
        out = asyncio.run(pdf_signer.async_sign_pdf(writer))
    except Exception as exc:  # noqa: BLE001 - pyHanko raises many types; one sentence out
        raise SigningError(f"cannot sign the evidence PDF: {exc}") from exc
    return out.getvalue()
