"""X.509 certificates issued by the portal's embedded CA.

The embedded TSA (``anchoring.timestamps.EmbeddedTSA``) creates the CA and its TSA
certificate; the portal's evidence-PDF signer (``portal.evidence.signing``) has the same CA
issue its document-signing certificate. Both end-entity certificates have the same profile,
built here once: ``basicConstraints=critical,CA:FALSE``,
``keyUsage=critical,digitalSignature,nonRepudiation``, one extended key usage, subject and
authority key identifiers, signed with SHA-256.
"""

from __future__ import annotations

import datetime as dt

from cryptography import x509 as cx509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    CertificatePublicKeyTypes,
)
from cryptography.x509.oid import NameOID, ObjectIdentifier

__all__ = ["distinguished_name", "issue_ca_certificate", "issue_end_entity_certificate"]

#: How long before "now" a new certificate becomes valid (clocks of verifiers may lag).
_BACKDATE = dt.timedelta(minutes=5)


def distinguished_name(common_name: str, organisation: str) -> cx509.Name:
    """The distinguished name ``CN=<common_name>, O=<organisation>``."""
    return cx509.Name(
        [
            cx509.NameAttribute(NameOID.COMMON_NAME, common_name),
            cx509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
        ]
    )


def _key_usage(*, signer: bool) -> cx509.KeyUsage:
    """digitalSignature + nonRepudiation for a signer, keyCertSign + cRLSign for a CA."""
    return cx509.KeyUsage(
        digital_signature=signer,
        content_commitment=signer,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=not signer,
        crl_sign=not signer,
        encipher_only=False,
        decipher_only=False,
    )


def _builder(
    subject: cx509.Name,
    issuer: cx509.Name,
    public_key: CertificatePublicKeyTypes,
    now: dt.datetime,
    not_after: dt.datetime,
) -> cx509.CertificateBuilder:
    """Subject, issuer, key, a random serial, valid from 5 minutes before ``now``."""
    return (
        cx509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(cx509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(not_after)
    )


def issue_ca_certificate(
    subject: cx509.Name,
    key: CertificateIssuerPrivateKeyTypes,
    *,
    now: dt.datetime,
    not_after: dt.datetime,
) -> cx509.Certificate:
    """A self-signed CA certificate that may issue end-entity certificates only.

    ``basicConstraints=critical,CA:TRUE,pathlen:0``, ``keyUsage=critical,keyCertSign,cRLSign``
    and a subject key identifier; signed with SHA-256.
    """
    return (
        _builder(subject, subject, key.public_key(), now, not_after)
        .add_extension(cx509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(signer=False), critical=True)
        .add_extension(cx509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def issue_end_entity_certificate(
    ca: cx509.Certificate,
    ca_key: CertificateIssuerPrivateKeyTypes,
    subject: cx509.Name,
    public_key: CertificatePublicKeyTypes,
    *,
    extended_key_usage: ObjectIdentifier,
    extended_key_usage_critical: bool,
    now: dt.datetime,
    not_after: dt.datetime,
) -> cx509.Certificate:
    """A signing certificate for ``public_key`` issued by ``ca`` (signed with ``ca_key``).

    ``basicConstraints=critical,CA:FALSE``, ``keyUsage=critical,digitalSignature,
    nonRepudiation``, ``extendedKeyUsage`` (the one given, critical or not), subject key
    identifier, authority key identifier (``ca``'s subject key identifier); SHA-256.
    """
    ca_ski = ca.extensions.get_extension_for_class(cx509.SubjectKeyIdentifier).value
    return (
        _builder(subject, ca.subject, public_key, now, not_after)
        .add_extension(cx509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(signer=True), critical=True)
        .add_extension(cx509.ExtendedKeyUsage([extended_key_usage]), critical=extended_key_usage_critical)
        .add_extension(cx509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            cx509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
