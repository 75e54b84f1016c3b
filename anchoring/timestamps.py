"""RFC 3161 timestamps of checkpoints: obtain them from a TSA and verify them offline.

A timestamp token is a CMS ``SignedData`` (RFC 5652) whose content is a ``TSTInfo``
(RFC 3161 section 2.4.2): the TSA signs "this SHA-256 digest existed at ``genTime``".

* :class:`EmbeddedTSA` is a TSA in a directory (its own CA and TSA certificate), for
  development and for portals without an external TSA. Its tokens are only as trustworthy
  as the portal's keys: use a :class:`RemoteTSA` operated by someone else for evidence that
  must hold against the portal operator.
* :class:`RemoteTSA` posts an ``application/timestamp-query`` to any RFC 3161 TSA over HTTP.
* :func:`verify_timestamp` checks a token in pure Python (imprint, CMS signature, ESS
  signing-certificate binding, TSA certificate EKU, path to the given CA at ``genTime``).
  The same tokens verify with ``openssl ts -verify`` (see docs/anchoring.md).

:class:`TimestampToken` keeps the whole DER ``TimeStampResp`` the TSA returned (status and
token), because that is what ``openssl ts -verify -in resp.tsr`` and
``openssl ts -reply -in resp.tsr -text`` read; :attr:`TimestampToken.token_der` is the bare
token (``openssl ts -verify -token_in``). :func:`verify_timestamp` accepts either form.

This is network and key code; it never changes what is timestamped (the caller passes the
checkpoint bytes). Revocation is not checked here: the embedded TSA publishes no CRL; a
:class:`RemoteTSA` given a revocation policy checks its TSA certificate's OCSP or CRL status
through :mod:`anchoring.tsa_trust` and keeps the evidence in :attr:`TimestampToken.revocation`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import datetime as dt
import fcntl
import hashlib
import hmac
import os
import secrets
import urllib.error
import urllib.request
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from asn1crypto import algos, cms, core, pem, tsp, x509
from cryptography import x509 as cx509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import PathBuildingError, PathValidationError, ValidationError

from anchoring.certificates import (
    distinguished_name,
    issue_ca_certificate,
    issue_end_entity_certificate,
)
from anchoring.errors import KeyFileError, TimestampError
from anchoring.keyfiles import create_private, read_private

__all__ = [
    "EmbeddedTSA",
    "RemoteTSA",
    "TimestampInfo",
    "TimestampToken",
    "VERAZ_TSA_POLICY",
    "verify_timestamp",
]

#: The policy OID of the embedded TSA's tokens: a UUID OID (ITU-T X.667, arc 2.25), which
#: needs no registration. It names "Veraz embedded TSA, no accuracy guarantee beyond 1 s".
VERAZ_TSA_POLICY = "2.25.256568653347986968620333587418844824097"

#: Digest algorithms accepted in imprints and signatures (no SHA-1, no MD5).
_DIGESTS: dict[str, Any] = {
    "sha256": hashlib.sha256,
    "sha384": hashlib.sha384,
    "sha512": hashlib.sha512,
}
_CRYPTOGRAPHY_DIGESTS: dict[str, hashes.HashAlgorithm] = {
    "sha256": hashes.SHA256(),
    "sha384": hashes.SHA384(),
    "sha512": hashes.SHA512(),
}
_MAX_RESPONSE_BYTES = 1 << 20

T = TypeVar("T")


class _TimeStampResp(core.Sequence):
    """RFC 3161 s2.4.2 TimeStampResp. asn1crypto's ``tsp.TimeStampResp`` makes the token
    mandatory, but a refusal carries none (``timeStampToken ... OPTIONAL``)."""

    _fields = [
        ("status", tsp.PKIStatusInfo),
        ("time_stamp_token", cms.ContentInfo, {"optional": True}),
    ]


@dataclass(frozen=True)
class TimestampToken:
    """A timestamp as obtained from a TSA. Immutable; ``der`` is the serialisation.

    ``der`` is the DER ``TimeStampResp`` (status + token), i.e. an ``openssl ts`` ``.tsr``
    file. The other fields are read from it for display and indexing; they are not a
    verification: call :func:`verify_timestamp`.
    """

    der: bytes
    gen_time: dt.datetime
    tsa_name: str
    serial: int
    digest_hex: str
    #: What :mod:`anchoring.tsa_trust` checked and kept about the TSA certificate (its path
    #: and an OCSP response or CRL), for a remote TSA with a revocation policy; else None.
    revocation: dict[str, Any] | None = None

    @property
    def token_der(self) -> bytes:
        """The bare ``TimeStampToken`` (CMS ContentInfo) inside the response."""
        return _load_token(self.der).dump()

    @classmethod
    def from_der(cls, der: bytes) -> TimestampToken:
        """Read a ``TimeStampResp`` (``.tsr``); raise :class:`TimestampError` if malformed."""
        try:
            response = _TimeStampResp.load(der, strict=True)
            if isinstance(response["time_stamp_token"], core.Void):
                raise ValueError("no token")
        except (ValueError, TypeError) as exc:
            raise TimestampError(f"not a DER TimeStampResp: {exc}") from None
        token = _load_token(der)
        tst_info = _tst_info(_signed_data(token))
        signer = _signer_certificate(_signed_data(token))
        return cls(
            der=der,
            gen_time=tst_info["gen_time"].native,
            tsa_name=_subject_string(signer),
            serial=int(tst_info["serial_number"].native),
            digest_hex=bytes(tst_info["message_imprint"]["hashed_message"].native).hex(),
        )


@dataclass(frozen=True)
class TimestampInfo:
    """What a verified token says: the digest existed at ``gen_time``, per ``tsa_name``."""

    gen_time: dt.datetime
    tsa_name: str
    serial: int
    digest_hex: str
    hash_algorithm: str
    policy: str
    nonce: int | None
    accuracy_seconds: float | None


# --- verification ------------------------------------------------------------------------


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, even if this thread runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _load_token(der: bytes) -> cms.ContentInfo:
    """The TimeStampToken from a DER TimeStampResp or a bare DER token."""
    try:
        response = _TimeStampResp.load(der, strict=True)
        status = response["status"]["status"].native
    except (ValueError, TypeError):
        try:
            token = cms.ContentInfo.load(der, strict=True)
            _ = token["content_type"].native, token["content"]
        except (ValueError, TypeError) as exc:
            raise TimestampError(f"neither a TimeStampResp nor a TimeStampToken: {exc}") from None
        return token
    if status not in ("granted", "granted_with_mods"):
        text = "; ".join(response["status"]["status_string"].native or [])
        failure = ", ".join(sorted(response["status"]["fail_info"].native or []))
        detail = ", ".join(part for part in (failure, text) if part)
        raise TimestampError(f"the TSA refused the request: {status} ({detail or 'no reason'})")
    token = response["time_stamp_token"]
    if not isinstance(token, cms.ContentInfo):
        raise TimestampError("the TimeStampResp grants but carries no token")
    return token


def _signed_data(token: cms.ContentInfo) -> cms.SignedData:
    if token["content_type"].native != "signed_data":
        raise TimestampError("the token is not a CMS SignedData")
    signed_data = token["content"]
    if signed_data["encap_content_info"]["content_type"].native != "tst_info":
        raise TimestampError("the token's content is not a TSTInfo")
    return signed_data


def _tst_info(signed_data: cms.SignedData) -> tsp.TSTInfo:
    content = signed_data["encap_content_info"]["content"]
    if not isinstance(content, core.ParsableOctetString):
        raise TimestampError("the token has no TSTInfo content")
    tst_info = content.parsed
    if not isinstance(tst_info, tsp.TSTInfo):
        raise TimestampError("the token's content is not a TSTInfo")
    return tst_info


def _signer_info(signed_data: cms.SignedData) -> cms.SignerInfo:
    signer_infos = signed_data["signer_infos"]
    if len(signer_infos) != 1:
        raise TimestampError(f"a timestamp token has exactly 1 signer, this has {len(signer_infos)}")
    return signer_infos[0]


def _embedded_certificates(signed_data: cms.SignedData) -> list[x509.Certificate]:
    return [c.chosen for c in signed_data["certificates"] or () if c.name == "certificate"]


def _signer_certificate(signed_data: cms.SignedData) -> x509.Certificate:
    """The certificate named by the SignerInfo's sid, from the token's certificates."""
    sid = _signer_info(signed_data)["sid"]
    for cert in _embedded_certificates(signed_data):
        if sid.name == "issuer_and_serial_number":
            if (
                cert.issuer == sid.chosen["issuer"]
                and cert.serial_number == sid.chosen["serial_number"].native
            ):
                return cert
        elif cert.key_identifier == sid.chosen.native:
            return cert
    raise TimestampError("the token does not carry the TSA certificate (request it with certReq=true)")


def _subject_string(cert: x509.Certificate) -> str:
    return cx509.load_der_x509_certificate(cert.dump()).subject.rfc4514_string()


def _attribute(signer_info: cms.SignerInfo, name: str) -> Any:
    values = [a["values"] for a in signer_info["signed_attrs"] if a["type"].native == name]
    if len(values) != 1 or len(values[0]) != 1:
        raise TimestampError(f"the token must have exactly one signed {name} attribute")
    return values[0][0]


def _check_ess_binding(signer_info: cms.SignerInfo, cert: x509.Certificate) -> None:
    """RFC 3161 s2.4.1 / RFC 5816: the signed attributes name the TSA certificate by hash."""
    types = {a["type"].native for a in signer_info["signed_attrs"]}
    if "signing_certificate_v2" in types:
        cert_id = _attribute(signer_info, "signing_certificate_v2")["certs"][0]
        algorithm = cert_id["hash_algorithm"]["algorithm"].native
        if algorithm not in _DIGESTS:
            raise TimestampError(f"ESSCertIDv2 uses unsupported hash {algorithm}")
        expected = _DIGESTS[algorithm](cert.dump()).digest()
    elif "signing_certificate" in types:
        # ESSCertID (v1) is SHA-1 by definition; here it only binds the certificate named
        # by the signature (collision resistance is not what is relied on).
        cert_id = _attribute(signer_info, "signing_certificate")["certs"][0]
        expected = hashlib.sha1(cert.dump(), usedforsecurity=False).digest()
    else:
        raise TimestampError("the token has no ESS signing-certificate attribute")
    if not hmac.compare_digest(bytes(cert_id["cert_hash"].native), expected):
        raise TimestampError("the ESS signing-certificate attribute names another certificate")
    issuer_serial = cert_id["issuer_serial"]
    if issuer_serial.native is not None and (issuer_serial["serial_number"].native != cert.serial_number):
        raise TimestampError("the ESS signing-certificate serial is not the TSA certificate's")


def _check_signature(signer_info: cms.SignerInfo, cert: x509.Certificate, digest: str) -> None:
    # The signature covers the DER of the signed attributes as a SET OF (tag 0x31), not
    # as the [0] IMPLICIT field they are stored in (RFC 5652 s5.4).
    signed = b"\x31" + signer_info["signed_attrs"].dump()[1:]
    signature = bytes(signer_info["signature"].native)
    algorithm = signer_info["signature_algorithm"]
    name = algorithm.signature_algo
    public_key = serialization.load_der_public_key(cert.public_key.dump())
    hash_algorithm = _CRYPTOGRAPHY_DIGESTS[digest]
    try:
        if name == "rsassa_pkcs1v15" and isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, signed, padding.PKCS1v15(), hash_algorithm)
        elif name == "rsassa_pss" and isinstance(public_key, rsa.RSAPublicKey):
            params = algorithm["parameters"]
            pss_hash = _CRYPTOGRAPHY_DIGESTS.get(params["hash_algorithm"]["algorithm"].native)
            if pss_hash is None:
                raise TimestampError("unsupported RSASSA-PSS hash")
            pss = padding.PSS(padding.MGF1(pss_hash), params["salt_length"].native)
            public_key.verify(signature, signed, pss, pss_hash)
        elif name == "ecdsa" and isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, signed, ec.ECDSA(hash_algorithm))
        elif name == "ed25519" and isinstance(public_key, ed25519.Ed25519PublicKey):
            public_key.verify(signature, signed)
        else:
            raise TimestampError(f"unsupported signature algorithm {name} for this key")
    except InvalidSignature:
        raise TimestampError("the TSA signature does not verify") from None


def _check_tsa_certificate(cert: x509.Certificate) -> None:
    """RFC 3161 s2.3: the TSA certificate has one EKU, timeStamping, marked critical."""
    extensions = {e["extn_id"].native: e for e in cert["tbs_certificate"]["extensions"] or ()}
    eku = extensions.get("extended_key_usage")
    if eku is None:
        raise TimestampError("the TSA certificate has no extendedKeyUsage extension")
    if not eku["critical"].native:
        raise TimestampError("the TSA certificate's extendedKeyUsage is not critical")
    if eku["extn_value"].parsed.native != ["time_stamping"]:
        raise TimestampError("the TSA certificate's extendedKeyUsage is not only timeStamping")


def _check_path(
    cert: x509.Certificate, others: list[x509.Certificate], ca_pem: bytes, moment: dt.datetime
) -> None:
    roots = [x509.Certificate.load(der) for _, _, der in pem.unarmor(ca_pem, multiple=True)]
    if not roots:
        raise TimestampError("no CA certificate in the given PEM")
    context = ValidationContext(
        trust_roots=roots,
        moment=moment,
        allow_fetching=False,
        revocation_mode="soft-fail",
        weak_hash_algos={"md2", "md5", "sha1"},
    )
    validator = CertificateValidator(cert, intermediate_certs=others, validation_context=context)
    try:
        _run(validator.async_validate_usage(set(), extended_key_usage={"time_stamping"}))
    except PathBuildingError:
        raise TimestampError("the TSA certificate does not chain to the given CA") from None
    except (PathValidationError, ValidationError) as exc:
        raise TimestampError(f"the TSA certificate is not valid at genTime: {exc}") from None


def verify_timestamp(token_der: bytes, data: bytes, ca_pem: bytes) -> TimestampInfo:
    """Verify an RFC 3161 token over ``data`` against the CA certificate(s) in ``ca_pem``.

    ``token_der`` is a DER ``TimeStampResp`` (``.tsr``) or a bare ``TimeStampToken``.
    Checks, in order: the response status; the CMS structure (SignedData of a TSTInfo, one
    signer); the message imprint equals the hash of ``data`` (SHA-256/384/512); the signed
    attributes (content type, message digest of the TSTInfo, ESS signing certificate naming
    the TSA certificate carried in the token); the signature; the TSA certificate's EKU
    (only timeStamping, critical); the ``tsa`` name, if present, is the certificate's
    subject; and a certificate path from it to a CA in ``ca_pem`` valid at ``genTime``.

    Returns the verified :class:`TimestampInfo`; raises :class:`TimestampError`.
    """
    try:
        return _verify(token_der, data, ca_pem)
    except TimestampError:
        raise
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise TimestampError(f"malformed timestamp token: {exc}") from None


def _verify(token_der: bytes, data: bytes, ca_pem: bytes) -> TimestampInfo:
    token = _load_token(token_der)
    signed_data = _signed_data(token)
    tst_info = _tst_info(signed_data)
    if tst_info["version"].native != "v1":
        raise TimestampError("unsupported TSTInfo version")

    imprint = tst_info["message_imprint"]
    imprint_algorithm = imprint["hash_algorithm"]["algorithm"].native
    if imprint_algorithm not in _DIGESTS:
        raise TimestampError(f"unsupported message imprint hash {imprint_algorithm}")
    digest = _DIGESTS[imprint_algorithm](data).digest()
    if not hmac.compare_digest(bytes(imprint["hashed_message"].native), digest):
        raise TimestampError("message imprint mismatch: the token is for other data")

    signer_info = _signer_info(signed_data)
    signer_digest = signer_info["digest_algorithm"]["algorithm"].native
    if signer_digest not in _DIGESTS:
        raise TimestampError(f"unsupported signer digest {signer_digest}")
    if signer_info["signed_attrs"].native is None:
        raise TimestampError("the token has no signed attributes")
    if _attribute(signer_info, "content_type").native != "tst_info":
        raise TimestampError("the signed content-type attribute is not TSTInfo")
    econtent = bytes(signed_data["encap_content_info"]["content"])
    content_digest = _DIGESTS[signer_digest](econtent).digest()
    if not hmac.compare_digest(bytes(_attribute(signer_info, "message_digest").native), content_digest):
        raise TimestampError("the signed message-digest does not match the TSTInfo")

    cert = _signer_certificate(signed_data)
    _check_ess_binding(signer_info, cert)
    _check_signature(signer_info, cert, signer_digest)
    _check_tsa_certificate(cert)
    tsa = tst_info["tsa"]
    if tsa.native is not None and (tsa.name != "directory_name" or tsa.chosen != cert.subject):
        raise TimestampError("the token's tsa name is not the TSA certificate's subject")

    gen_time: dt.datetime = tst_info["gen_time"].native
    others = [c for c in _embedded_certificates(signed_data) if c != cert]
    _check_path(cert, others, ca_pem, gen_time)

    accuracy = tst_info["accuracy"]
    accuracy_seconds = None
    if accuracy.native is not None:
        accuracy_seconds = (
            (accuracy["seconds"].native or 0)
            + (accuracy["millis"].native or 0) / 1e3
            + (accuracy["micros"].native or 0) / 1e6
        )
    return TimestampInfo(
        gen_time=gen_time,
        tsa_name=_subject_string(cert),
        serial=int(tst_info["serial_number"].native),
        digest_hex=digest.hex(),
        hash_algorithm=imprint_algorithm,
        policy=tst_info["policy"].dotted,
        nonce=tst_info["nonce"].native,
        accuracy_seconds=accuracy_seconds,
    )


# --- requesting ------------------------------------------------------------------------------


def _request(data: bytes) -> tuple[tsp.TimeStampReq, int]:
    nonce = secrets.randbits(63)
    request = tsp.TimeStampReq(
        {
            "version": "v1",
            "message_imprint": {
                "hash_algorithm": {"algorithm": "sha256"},
                "hashed_message": hashlib.sha256(data).digest(),
            },
            "nonce": nonce,
            "cert_req": True,
        }
    )
    return request, nonce


def _accept(response_der: bytes, data: bytes, nonce: int, ca_pem: bytes) -> TimestampToken:
    """Verify a TSA response against our request before handing it out."""
    info = verify_timestamp(response_der, data, ca_pem)
    if info.nonce != nonce:
        raise TimestampError("the TSA response does not echo our nonce (replayed response?)")
    if info.hash_algorithm != "sha256":
        raise TimestampError("the TSA changed the imprint hash algorithm")
    return TimestampToken.from_der(response_der)


class RemoteTSA:
    """An RFC 3161 TSA reached over HTTP(S) (RFC 3161 s3.4), trusted through ``ca_pem_path``.

    Every response is verified (signature, chain to the CA, nonce, imprint) before it is
    returned; network failures, timeouts, refusals and bad tokens raise
    :class:`TimestampError`.
    """

    def __init__(
        self,
        url: str,
        ca_pem_path: str | os.PathLike[str],
        *,
        timeout: float = 30.0,
        revocation: Any = None,
    ):
        self.url = url
        self.ca_pem = Path(ca_pem_path).read_bytes()
        self.timeout = timeout
        # An anchoring.tsa_trust.RevocationPolicy (its collect() checks the TSA certificate and
        # returns the evidence to keep), or None: no revocation check.
        self.revocation = revocation

    def __repr__(self) -> str:
        return f"RemoteTSA(url={self.url!r})"

    def timestamp(self, data: bytes) -> TimestampToken:
        """Timestamp the SHA-256 of ``data``; return the verified token."""
        request, nonce = _request(data)
        http_request = urllib.request.Request(
            self.url,
            data=request.dump(),
            method="POST",
            headers={
                "Content-Type": "application/timestamp-query",
                "Accept": "application/timestamp-reply",
            },
        )
        try:
            with urllib.request.urlopen(http_request, timeout=self.timeout) as response:
                content_type = response.headers.get_content_type()
                body = response.read(_MAX_RESPONSE_BYTES + 1)
        except urllib.error.HTTPError as exc:
            raise TimestampError(f"the TSA at {self.url} answered HTTP {exc.code}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise TimestampError(f"cannot reach the TSA at {self.url}: {reason}") from None
        if content_type != "application/timestamp-reply":
            raise TimestampError(f"the TSA at {self.url} answered {content_type}, not a timestamp")
        if len(body) > _MAX_RESPONSE_BYTES:
            raise TimestampError(f"the TSA at {self.url} answered more than 1 MiB")
        token = _accept(body, data, nonce, self.ca_pem)
        if self.revocation is None:
            return token
        return dataclasses.replace(token, revocation=self.revocation.collect(token.der, self.ca_pem))


# --- the embedded TSA ------------------------------------------------------------------------


class EmbeddedTSA:
    """A TSA in ``directory``: creates a self-signed CA and a TSA certificate on first use.

    Files: ``ca.pem`` and ``tsa.pem`` (certificates, public: publish ``ca.pem`` so anyone
    can verify), ``ca.key`` and ``tsa.key`` (RSA 3072, PKCS#8 PEM, mode 0600). The TSA
    certificate carries ``extendedKeyUsage=critical,timeStamping`` (RFC 3161 s2.3) and is
    valid 10 years; tokens are signed RSA PKCS#1 v1.5 with SHA-256, name the certificate
    with ESSCertIDv2 (RFC 5816) and carry it (certReq), policy :data:`VERAZ_TSA_POLICY`,
    accuracy 1 s, a random 127-bit serial. ``clock`` (returning an aware UTC datetime) is
    for tests.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        clock: Any = None,
        organisation: str = "Veraz",
    ) -> None:
        self.directory = Path(directory)
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        with open(self.directory / ".lock", "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # two processes starting at once create one CA
            if not (self.directory / "tsa.pem").exists():
                self._create(organisation)
        self.ca_pem = (self.directory / "ca.pem").read_bytes()
        tsa_pem = (self.directory / "tsa.pem").read_bytes()
        self._tsa_cert = x509.Certificate.load(pem.unarmor(tsa_pem)[2])
        try:
            key_pem = read_private(self.directory / "tsa.key")
        except KeyFileError as error:
            raise TimestampError(str(error)) from error
        key = serialization.load_pem_private_key(key_pem, password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise TimestampError("the embedded TSA key must be RSA")
        self._tsa_key = key

    @property
    def ca_pem_path(self) -> Path:
        """The CA certificate to publish and to pass to :func:`verify_timestamp`."""
        return self.directory / "ca.pem"

    def __repr__(self) -> str:
        return f"EmbeddedTSA(directory={str(self.directory)!r})"

    def _create(self, organisation: str) -> None:
        now = self._clock().replace(microsecond=0)
        ca_key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
        tsa_key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
        ca_cert = issue_ca_certificate(
            distinguished_name(f"{organisation} Timestamp Root CA", organisation),
            ca_key,
            now=now,
            not_after=now + dt.timedelta(days=20 * 365),
        )
        tsa_cert = issue_end_entity_certificate(
            ca_cert,
            ca_key,
            distinguished_name(f"{organisation} Embedded TSA", organisation),
            tsa_key.public_key(),
            extended_key_usage=ExtendedKeyUsageOID.TIME_STAMPING,
            extended_key_usage_critical=True,  # RFC 3161 s2.3
            now=now,
            not_after=now + dt.timedelta(days=10 * 365),
        )
        pkcs8 = serialization.PrivateFormat.PKCS8
        no_password = serialization.NoEncryption()
        pem_encoding = serialization.Encoding.PEM
        # Keys first (never overwritten, 0600), certificates last: tsa.pem marks a complete
        # directory.
        create_private(self.directory / "ca.key", ca_key.private_bytes(pem_encoding, pkcs8, no_password))
        create_private(self.directory / "tsa.key", tsa_key.private_bytes(pem_encoding, pkcs8, no_password))
        (self.directory / "ca.pem").write_bytes(ca_cert.public_bytes(pem_encoding))
        (self.directory / "tsa.pem").write_bytes(tsa_cert.public_bytes(pem_encoding))

    def respond(self, request_der: bytes) -> bytes:
        """Answer a DER ``TimeStampReq`` with a DER ``TimeStampResp`` (what a TSA server does).

        Refuses (status ``rejection``) requests it cannot parse or whose imprint uses a hash
        other than SHA-256/384/512 or has the wrong length.
        """
        try:
            request = tsp.TimeStampReq.load(request_der, strict=True)
            imprint = request["message_imprint"]
            algorithm = imprint["hash_algorithm"]["algorithm"].native
            hashed = bytes(imprint["hashed_message"].native)
            if algorithm not in _DIGESTS or len(hashed) != _DIGESTS[algorithm]().digest_size:
                return _rejection("bad_alg")
            if request["req_policy"].native not in (None, VERAZ_TSA_POLICY):
                return _rejection("unaccepted_policy")
        except (ValueError, TypeError):
            return _rejection("bad_data_format")
        return self._grant(request).dump()

    def _grant(self, request: tsp.TimeStampReq) -> tsp.TimeStampResp:
        gen_time = self._clock().astimezone(dt.UTC)
        fields: dict[str, Any] = {
            "version": "v1",
            "policy": VERAZ_TSA_POLICY,
            "message_imprint": request["message_imprint"],
            "serial_number": secrets.randbits(127),
            "gen_time": gen_time,
            "accuracy": {"seconds": 1},
            "ordering": False,
            "tsa": x509.GeneralName(name="directory_name", value=self._tsa_cert.subject),
        }
        if request["nonce"].native is not None:
            fields["nonce"] = request["nonce"]
        tst_info_der = tsp.TSTInfo(fields).dump()
        cert_id = tsp.ESSCertIDv2(
            {
                "hash_algorithm": {"algorithm": "sha256"},
                "cert_hash": hashlib.sha256(self._tsa_cert.dump()).digest(),
                "issuer_serial": {
                    "issuer": [x509.GeneralName(name="directory_name", value=self._tsa_cert.issuer)],
                    "serial_number": self._tsa_cert.serial_number,
                },
            }
        )
        signed_attrs = cms.CMSAttributes(
            [
                {"type": "content_type", "values": ["tst_info"]},
                {"type": "signing_time", "values": [cms.Time({"utc_time": gen_time})]},
                {"type": "message_digest", "values": [hashlib.sha256(tst_info_der).digest()]},
                {"type": "signing_certificate_v2", "values": [{"certs": [cert_id]}]},
            ]
        )
        signature = self._tsa_key.sign(signed_attrs.dump(), padding.PKCS1v15(), hashes.SHA256())
        digest_algorithm = algos.DigestAlgorithm({"algorithm": "sha256"})
        signer_info = cms.SignerInfo(
            {
                "version": "v1",
                "sid": cms.SignerIdentifier(
                    name="issuer_and_serial_number",
                    value={
                        "issuer": self._tsa_cert.issuer,
                        "serial_number": self._tsa_cert.serial_number,
                    },
                ),
                "digest_algorithm": digest_algorithm,
                "signed_attrs": signed_attrs,
                "signature_algorithm": {"algorithm": "rsassa_pkcs1v15"},
                "signature": signature,
            }
        )
        certificates = [self._tsa_cert] if request["cert_req"].native else []
        signed_data = cms.SignedData(
            {
                "version": "v3",
                "digest_algorithms": [digest_algorithm],
                "encap_content_info": {
                    "content_type": "tst_info",
                    "content": core.ParsableOctetString(tst_info_der),
                },
                "certificates": certificates or None,
                "signer_infos": [signer_info],
            }
        )
        token = cms.ContentInfo({"content_type": "signed_data", "content": signed_data})
        return tsp.TimeStampResp({"status": {"status": "granted"}, "time_stamp_token": token})

    def timestamp(self, data: bytes) -> TimestampToken:
        """Timestamp the SHA-256 of ``data``; return the token, verified against our CA."""
        request, nonce = _request(data)
        return _accept(self.respond(request.dump()), data, nonce, self.ca_pem)


def _rejection(failure: str) -> bytes:
    return _TimeStampResp(
        {"status": {"status": "rejection", "fail_info": tsp.PKIFailureInfo({failure})}}
    ).dump()
