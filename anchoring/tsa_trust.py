"""Trust in a remote TSA, checked as a citizen's tool would: chain and revocation status.

A timestamp token is only as good as the TSA certificate that signed it. When a token is
obtained from a remote TSA, :func:`collect_revocation` builds the TSA certificate's path to the
configured CA (trust anchors), fetches the revocation status of the TSA certificate (OCSP,
RFC 6960, at the URL of its Authority Information Access by default; or the CRL, RFC 5280, of
its CRL Distribution Points), verifies the answer, and returns it as **evidence**: the DER
certificates of the path and the DER OCSP response or CRL. The portal keeps that evidence with
the token, so :func:`check_revocation` can repeat the whole check later, offline, as of the
token's ``genTime`` (``veraz verify``, proof bundles, the verification page).

What is checked (each failure raises :class:`TimestampError` naming the reason):

* the path: each certificate issued (signature and name) by the next, up to a certificate of
  the configured CA file; every issuer a CA (``basicConstraints CA:TRUE``); every certificate
  valid at ``genTime``. The token itself (signature, ``timeStamping`` EKU, imprint) is checked
  by :func:`anchoring.timestamps.verify_timestamp` before this;
* OCSP: response status ``successful``; a single response for the TSA certificate (serial and
  issuer name and key hashes); signed by the issuing CA itself or by a responder certificate
  the CA issued with the ``OCSPSigning`` EKU, valid when the response was produced; our nonce
  echoed when the responder echoes one (online only); certificate status ``good``;
* CRL: issued and signed by the TSA certificate's issuer; the TSA certificate's serial not
  listed;
* freshness, for both: the response speaks about ``genTime``: not expired before it
  (``nextUpdate``, when present, at or after ``genTime``), not made more than ``max_age``
  after it, and, without ``nextUpdate``, not made more than ``max_age`` before it.

This module never touches the portal: the caller stores the evidence dict.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hmac
import secrets
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from asn1crypto import x509 as ax509
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID

from anchoring import timestamps
from anchoring.errors import TimestampError

__all__ = [
    "CRL",
    "METHODS",
    "NONE",
    "OCSP",
    "RevocationPolicy",
    "check_revocation",
    "collect_revocation",
]

OCSP = "ocsp"
CRL = "crl"
NONE = "none"
METHODS = (OCSP, CRL, NONE)

_MAX_RESPONSE_BYTES = 4 << 20  # CRLs of public CAs reach a few MiB
_MAX_PATH = 6
DEFAULT_MAX_AGE = dt.timedelta(days=1)


@dataclass(frozen=True)
class RevocationPolicy:
    """How a remote TSA's certificate is checked: ``method`` is ``ocsp``, ``crl`` or ``none``;
    ``url`` overrides the certificate's AIA (OCSP) or CDP (CRL) address."""

    method: str = OCSP
    url: str | None = None
    max_age: dt.timedelta = DEFAULT_MAX_AGE
    timeout: float = 30.0

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            accepted = ", ".join(METHODS)
            raise TimestampError(f"revocation method must be one of {accepted}, not {self.method!r}")

    def collect(self, token_der: bytes, ca_pem: bytes) -> dict[str, Any] | None:
        """:func:`collect_revocation` with this policy (what :class:`RemoteTSA` calls)."""
        return collect_revocation(token_der, ca_pem, self)


# --- reading the token and the trust anchors ------------------------------------------------


def _token_parts(token_der: bytes) -> tuple[x509.Certificate, list[x509.Certificate], dt.datetime]:
    """The TSA certificate, the other certificates the token carries, and its genTime."""
    token = timestamps._load_token(token_der)
    signed_data = timestamps._signed_data(token)
    signer = timestamps._signer_certificate(signed_data)
    others = [c for c in timestamps._embedded_certificates(signed_data) if c != signer]
    gen_time: dt.datetime = timestamps._tst_info(signed_data)["gen_time"].native
    return (
        x509.load_der_x509_certificate(signer.dump()),
        [x509.load_der_x509_certificate(c.dump()) for c in others],
        gen_time.astimezone(dt.UTC),
    )


def _anchors(ca_pem: bytes) -> list[x509.Certificate]:
    try:
        roots = x509.load_pem_x509_certificates(ca_pem)
    except ValueError:
        raise TimestampError("the TSA CA file holds no PEM certificate") from None
    return roots


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def _valid_at(cert: x509.Certificate, moment: dt.datetime, what: str) -> None:
    if not cert.not_valid_before_utc <= moment <= cert.not_valid_after_utc:
        raise TimestampError(
            f"the {what} {cert.subject.rfc4514_string()} was not valid at {_iso(moment)} "
            f"(valid {_iso(cert.not_valid_before_utc)} to {_iso(cert.not_valid_after_utc)})"
        )


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    if cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _path(
    tsa: x509.Certificate,
    intermediates: list[x509.Certificate],
    roots: list[x509.Certificate],
    moment: dt.datetime,
) -> list[x509.Certificate]:
    """``[tsa, issuer, ..., trust anchor]``, each valid at ``moment``; raise if there is none."""
    root_ders = {_der(r) for r in roots}
    _valid_at(tsa, moment, "TSA certificate")
    path = [tsa]
    while _der(path[-1]) not in root_ders:
        if len(path) > _MAX_PATH:
            raise TimestampError("the TSA certificate's path to the CA is too long")
        current = path[-1]
        issuer = next((c for c in roots + intermediates if _issued_by(current, c) and c not in path), None)
        if issuer is None:
            raise TimestampError(
                f"the TSA certificate {tsa.subject.rfc4514_string()} does not chain to the configured "
                f"CA (no issuer {current.issuer.rfc4514_string()} in the CA file or the token)"
            )
        if not _is_ca(issuer):
            raise TimestampError(f"{issuer.subject.rfc4514_string()} issued a certificate but is not a CA")
        _valid_at(issuer, moment, "CA certificate")
        path.append(issuer)
    return path


# --- freshness -----------------------------------------------------------------------------


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _fresh(
    what: str,
    this_update: dt.datetime,
    next_update: dt.datetime | None,
    gen_time: dt.datetime,
    max_age: dt.timedelta,
) -> None:
    if next_update is not None and next_update < gen_time:
        raise TimestampError(
            f"stale {what}: it expired (nextUpdate {_iso(next_update)}) before the timestamp's "
            f"genTime {_iso(gen_time)}"
        )
    if this_update > gen_time + max_age:
        raise TimestampError(
            f"stale {what}: it was made at {_iso(this_update)}, more than {max_age} after the "
            f"timestamp's genTime {_iso(gen_time)}"
        )
    if next_update is None and this_update < gen_time - max_age:
        raise TimestampError(
            f"stale {what}: it was made at {_iso(this_update)} with no nextUpdate, more than "
            f"{max_age} before the timestamp's genTime {_iso(gen_time)}"
        )


# --- signatures ----------------------------------------------------------------------------


def _verify_signature(
    key: Any, signature: bytes, data: bytes, hash_algorithm: hashes.HashAlgorithm | None
) -> bool:
    try:
        if isinstance(key, rsa.RSAPublicKey) and hash_algorithm is not None:
            key.verify(signature, data, padding.PKCS1v15(), hash_algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey) and hash_algorithm is not None:
            key.verify(signature, data, ec.ECDSA(hash_algorithm))
        elif isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            key.verify(signature, data)
        else:
            return False
    except (InvalidSignature, ValueError):
        return False
    return True


# --- OCSP ----------------------------------------------------------------------------------


def _ocsp_url(cert: x509.Certificate) -> str:
    try:
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except x509.ExtensionNotFound:
        aia = x509.AuthorityInformationAccess([])
    for description in aia:
        location = description.access_location
        if description.access_method == AuthorityInformationAccessOID.OCSP and isinstance(
            location, x509.UniformResourceIdentifier
        ):
            return str(location.value)
    raise TimestampError(
        "the TSA certificate names no OCSP responder (Authority Information Access): set "
        "TSA_REVOCATION_URL, or TSA_REVOCATION=crl"
    )


def _key_sha1(cert: x509.Certificate) -> bytes:
    """SHA-1 of the subjectPublicKey BIT STRING (RFC 6960 ResponderID byKey)."""
    return ax509.Certificate.load(_der(cert)).public_key.sha1


def _ocsp_signer(response: ocsp.OCSPResponse, issuer: x509.Certificate) -> tuple[x509.Certificate, str]:
    """The certificate that signed ``response``: the issuer itself or a delegated responder."""

    def names(cert: x509.Certificate) -> bool:
        if response.responder_key_hash is not None:
            return hmac.compare_digest(response.responder_key_hash, _key_sha1(cert))
        return cert.subject == response.responder_name

    if names(issuer):
        return issuer, "the CA"
    for cert in response.certificates:
        if not names(cert):
            continue
        if not _issued_by(cert, issuer):
            raise TimestampError(
                "the OCSP response is signed by a responder certificate the TSA's CA did not issue"
            )
        try:
            eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except x509.ExtensionNotFound:
            eku = x509.ExtendedKeyUsage([])
        if ExtendedKeyUsageOID.OCSP_SIGNING not in eku:
            raise TimestampError("the OCSP responder certificate lacks the OCSPSigning extended key usage")
        _valid_at(cert, response.produced_at_utc, "OCSP responder certificate")
        return cert, f"responder {cert.subject.rfc4514_string()} delegated by the CA"
    raise TimestampError("the OCSP response is signed by neither the TSA's CA nor a responder it delegated")


def _check_ocsp(
    der: bytes,
    tsa: x509.Certificate,
    issuer: x509.Certificate,
    gen_time: dt.datetime,
    max_age: dt.timedelta,
    nonce: bytes | None = None,
) -> str:
    try:
        response = ocsp.load_der_ocsp_response(der)
    except ValueError as exc:
        raise TimestampError(f"the OCSP response is not DER OCSPResponse: {exc}") from None
    if response.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        raise TimestampError(f"the OCSP responder refused: {response.response_status.name.lower()}")
    signer, signer_text = _ocsp_signer(response, issuer)
    try:
        algorithm = response.signature_hash_algorithm
    except UnsupportedAlgorithm as exc:  # an algorithm identifier it does not know (or corrupted)
        raise TimestampError(f"the OCSP response's signature algorithm is not supported: {exc}") from None
    if not _verify_signature(signer.public_key(), response.signature, response.tbs_response_bytes, algorithm):
        raise TimestampError("the OCSP response's signature does not verify")
    if nonce is not None:
        try:
            echoed = response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
        except x509.ExtensionNotFound:
            echoed = None
        if echoed is not None and not hmac.compare_digest(echoed, nonce):
            raise TimestampError("the OCSP response does not echo our nonce (replayed response?)")
    single = None
    for candidate in response.responses:
        try:
            candidate_hash = candidate.hash_algorithm
        except UnsupportedAlgorithm:
            continue  # a certificate id hashed with an unknown algorithm cannot be ours
        expected = ocsp.OCSPRequestBuilder().add_certificate(tsa, issuer, candidate_hash).build()
        if (
            candidate.serial_number == tsa.serial_number
            and candidate.issuer_key_hash == expected.issuer_key_hash
            and candidate.issuer_name_hash == expected.issuer_name_hash
        ):
            single = candidate
            break
    if single is None:
        raise TimestampError("the OCSP response says nothing about the TSA certificate")
    status = single.certificate_status
    if status == ocsp.OCSPCertStatus.REVOKED:
        when = single.revocation_time_utc
        reason = single.revocation_reason.name if single.revocation_reason else "no reason given"
        raise TimestampError(
            f"the TSA certificate is revoked (OCSP: revoked at {_iso(when) if when else '?'}, {reason})"
        )
    if status != ocsp.OCSPCertStatus.GOOD:
        raise TimestampError("the OCSP responder does not know the TSA certificate (status unknown)")
    _fresh("OCSP response", single.this_update_utc, single.next_update_utc, gen_time, max_age)
    return f"OCSP: good at {_iso(single.this_update_utc)}, signed by {signer_text}"


# --- CRL -----------------------------------------------------------------------------------


def _crl_url(cert: x509.Certificate) -> str:
    try:
        points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except x509.ExtensionNotFound:
        points = x509.CRLDistributionPoints([])
    for point in points:
        for name in point.full_name or ():
            if isinstance(name, x509.UniformResourceIdentifier) and name.value.startswith(
                ("http:", "https:")
            ):
                return str(name.value)
    raise TimestampError(
        "the TSA certificate names no HTTP CRL distribution point: set TSA_REVOCATION_URL, or "
        "TSA_REVOCATION=ocsp"
    )


def _check_crl(
    der: bytes,
    tsa: x509.Certificate,
    issuer: x509.Certificate,
    gen_time: dt.datetime,
    max_age: dt.timedelta,
) -> str:
    try:
        crl = x509.load_der_x509_crl(der)
    except ValueError as exc:
        raise TimestampError(f"the CRL is not a DER CertificateList: {exc}") from None
    if crl.issuer != issuer.subject:
        raise TimestampError(
            f"the CRL was issued by {crl.issuer.rfc4514_string()}, not by the TSA certificate's "
            f"issuer {issuer.subject.rfc4514_string()}"
        )
    try:
        valid = crl.is_signature_valid(issuer.public_key())  # type: ignore[arg-type]
    except (TypeError, ValueError, UnsupportedAlgorithm):
        valid = False
    if not valid:
        raise TimestampError("the CRL's signature does not verify with the TSA certificate's issuer")
    revoked = crl.get_revoked_certificate_by_serial_number(tsa.serial_number)
    if revoked is not None:
        raise TimestampError(
            f"the TSA certificate is revoked (CRL: revoked at {_iso(revoked.revocation_date_utc)})"
        )
    _fresh("CRL", crl.last_update_utc, crl.next_update_utc, gen_time, max_age)
    return f"CRL of {_iso(crl.last_update_utc)}: not revoked"


# --- fetching ------------------------------------------------------------------------------


def _fetch(url: str, body: bytes | None, content_type: str | None, expect: str, timeout: float) -> bytes:
    headers = {"Accept": expect}
    if content_type:
        headers["Content-Type"] = content_type
    request = urllib.request.Request(url, data=body, method="POST" if body else "GET", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            got = response.headers.get_content_type()
            data = response.read(_MAX_RESPONSE_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise TimestampError(f"the revocation server at {url} answered HTTP {exc.code}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TimestampError(f"cannot reach the revocation server at {url}: {reason}") from None
    if len(data) > _MAX_RESPONSE_BYTES:
        raise TimestampError(f"the revocation server at {url} answered more than 4 MiB")
    # CRLs are often served as application/octet-stream: only OCSP's type is insisted on.
    if expect == "application/ocsp-response" and got != expect:
        raise TimestampError(f"the OCSP responder at {url} answered {got}, not an OCSP response")
    return data


def collect_revocation(token_der: bytes, ca_pem: bytes, policy: RevocationPolicy) -> dict[str, Any] | None:
    """Check a freshly obtained token's TSA certificate and return the evidence to keep.

    ``{"method": "ocsp"|"crl", "certificates": [base64 DER, TSA certificate first, each issuer
    next, the trust anchor last], "response": base64 DER OCSPResponse or CertificateList}``;
    None when ``policy.method`` is ``none``. Raises :class:`TimestampError` with the reason
    when the TSA is revoked or cannot be checked.
    """
    if policy.method == NONE:
        return None
    tsa, intermediates, gen_time = _token_parts(token_der)
    path = _path(tsa, intermediates, _anchors(ca_pem), gen_time)
    if len(path) < 2:
        raise TimestampError("the TSA certificate is itself a trust anchor: there is no CA to ask")
    issuer = path[1]
    if policy.method == OCSP:
        url = policy.url or _ocsp_url(tsa)
        nonce = secrets.token_bytes(16)
        request = (
            ocsp.OCSPRequestBuilder()
            .add_certificate(tsa, issuer, hashes.SHA1())  # noqa: S303 - RFC 6960 CertID, what responders index
            .add_extension(x509.OCSPNonce(nonce), critical=False)
            .build()
        )
        der = _fetch(
            url,
            request.public_bytes(serialization.Encoding.DER),
            "application/ocsp-request",
            "application/ocsp-response",
            policy.timeout,
        )
        _check_ocsp(der, tsa, issuer, gen_time, policy.max_age, nonce)
    else:
        url = policy.url or _crl_url(tsa)
        der = _fetch(url, None, None, "application/pkix-crl", policy.timeout)
        _check_crl(der, tsa, issuer, gen_time, policy.max_age)
    return {
        "method": policy.method,
        "certificates": [base64.b64encode(_der(c)).decode() for c in path],
        "response": base64.b64encode(der).decode(),
    }


def check_revocation(
    token_der: bytes,
    evidence: Any,
    ca_pem: bytes,
    *,
    max_age: dt.timedelta = DEFAULT_MAX_AGE,
) -> str:
    """Re-check stored evidence offline, as of the token's genTime; return what it shows.

    The trust anchors are the verifier's ``ca_pem``, never the evidence's copy; the evidence's
    other certificates only help build the path. Raises :class:`TimestampError` naming what
    failed (malformed evidence, another certificate, no path, a bad or stale response, revoked).
    """
    if not isinstance(evidence, dict) or evidence.get("method") not in (OCSP, CRL):
        raise TimestampError("the revocation evidence must be an object with method ocsp or crl")
    certificates, response = evidence.get("certificates"), evidence.get("response")
    if not isinstance(certificates, list) or not certificates or not isinstance(response, str):
        raise TimestampError("the revocation evidence needs certificates (a list) and response")
    try:
        certs = [x509.load_der_x509_certificate(base64.b64decode(c, validate=True)) for c in certificates]
        der = base64.b64decode(response, validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise TimestampError("the revocation evidence holds malformed base64 or certificates") from None
    tsa, intermediates, gen_time = _token_parts(token_der)
    if _der(certs[0]) != _der(tsa):
        raise TimestampError("the revocation evidence is about another certificate than the token's TSA")
    path = _path(tsa, intermediates + certs[1:], _anchors(ca_pem), gen_time)
    if len(path) < 2:
        raise TimestampError("the TSA certificate is itself a trust anchor: there is no CA to ask")
    if evidence["method"] == OCSP:
        return _check_ocsp(der, tsa, path[1], gen_time, max_age)
    return _check_crl(der, tsa, path[1], gen_time, max_age)
