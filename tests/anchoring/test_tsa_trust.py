"""Trust in a remote TSA (``anchoring.tsa_trust``), against a PKI run by the real openssl.

The CA is ``openssl req``/``openssl ca``, the TSA is ``openssl ts -reply`` over HTTP, OCSP is an
``openssl ocsp -index ... -port`` responder and CRLs come from ``openssl ca -gencrl``
(``tests/openssl_pki.py``). Known answers are cross-checked with openssl as a citizen would run
it (``openssl ocsp -respin``, ``openssl verify -crl_check``, ``openssl ts -verify``); every
must-fail case names its reason.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from asn1crypto import pem
from asn1crypto import x509 as ax509
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import ocsp
from hypothesis import example, given, settings
from hypothesis import strategies as st
from openssl_pki import Pki, Server, openssl

from anchoring import timestamps
from anchoring.errors import TimestampError
from anchoring.timestamps import EmbeddedTSA, RemoteTSA, verify_timestamp
from anchoring.tsa_trust import RevocationPolicy, check_revocation, collect_revocation

DATA = b"veraz checkpoint\n7\n" + bytes(range(32))


class World:
    """Two CAs (alpha, the configured one; beta, another), their TSAs and responders."""

    def __init__(self, directory: Path) -> None:
        self.server = Server()
        self.alpha = self.server.pki(directory, "alpha")
        self.beta = self.server.pki(directory, "beta")
        self.alpha.issue("good")
        self.revoked, _ = self.alpha.issue("revoked")
        self.alpha.revoke(self.revoked)
        self.alpha.issue("expired", start="20200101000000Z", end="20210101000000Z")
        self.alpha.issue("noeku", "noeku_ext")
        self.alpha.issue("responder", "ocsp_ext")
        self.beta.issue("good")
        self.alpha.gencrl()
        self.alpha.gencrl(last_update="20200101000000Z", next_update="20200102000000Z", file="stale.crl")
        self.alpha.start_ocsp(port=self.alpha.ocsp_port)
        self.delegated_url = self.alpha.start_ocsp(
            self.alpha.dir / "responder.pem", self.alpha.dir / "responder.key"
        )
        # alpha's database, signed by beta's CA key: a key alpha's CA never certified.
        self.wrong_key_url = self.alpha.start_ocsp(self.beta.ca_pem, self.beta.dir / "ca.key")

    def tsa(
        self, name: str, method: str = "ocsp", url: str | None = None, pki: Pki | None = None
    ) -> RemoteTSA:
        return RemoteTSA(
            self.server.tsa_url(pki or self.alpha, name),
            self.alpha.ca_pem,
            timeout=20,
            revocation=RevocationPolicy(method=method, url=url, timeout=20),
        )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    world = World(tmp_path_factory.mktemp("pki"))
    yield world
    world.server.stop()


@pytest.fixture(scope="module")
def good_ocsp(world: World) -> timestamps.TimestampToken:
    return world.tsa("good").timestamp(DATA)


def _crafted(pki: Pki, name: str, gen_time: dt.datetime) -> bytes:
    """A token signed with the openssl-issued key and certificate ``name`` at a chosen genTime.

    ``openssl ts -reply`` stamps the machine's clock and refuses a certificate without the
    timeStamping EKU; these cases need the same signature code with another time or
    certificate (the embedded TSA's, given this certificate and key).
    """
    signer = EmbeddedTSA.__new__(EmbeddedTSA)
    signer._tsa_cert = ax509.Certificate.load(pem.unarmor((pki.dir / f"{name}.pem").read_bytes())[2])
    signer._tsa_key = serialization.load_pem_private_key((pki.dir / f"{name}.key").read_bytes(), None)
    signer._clock = lambda: gen_time
    request, _nonce = timestamps._request(DATA)
    return signer.respond(request.dump())


def _write(path: Path, evidence: dict) -> tuple[Path, list[Path]]:
    response = path / "response.der"
    response.write_bytes(base64.b64decode(evidence["response"]))
    certs = []
    for i, cert in enumerate(evidence["certificates"]):
        certs.append(path / f"cert{i}.der")
        certs[-1].write_bytes(base64.b64decode(cert))
    return response, certs


# --- known answers --------------------------------------------------------------------------


def test_ocsp_evidence_is_kept_and_openssl_reads_it_as_good(world: World, good_ocsp, tmp_path: Path) -> None:
    evidence = good_ocsp.revocation
    assert evidence is not None and evidence["method"] == "ocsp"
    chain = [base64.b64decode(c) for c in evidence["certificates"]]
    tsa_der = pem.unarmor((world.alpha.dir / "good.pem").read_bytes())[2]
    ca_der = pem.unarmor(world.alpha.ca_pem.read_bytes())[2]
    assert chain == [tsa_der, ca_der]
    # What a citizen's openssl says of the stored response, offline.
    response, certs = _write(tmp_path, evidence)
    result = openssl(
        "ocsp", "-respin", response, "-issuer", world.alpha.ca_pem, "-cert", world.alpha.dir / "good.pem",
        "-CAfile", world.alpha.ca_pem, "-no_nonce",
    )  # fmt: skip
    assert "Response verify OK" in result.stderr + result.stdout
    assert "good.pem: good" in result.stdout
    shown = check_revocation(good_ocsp.der, evidence, world.alpha.ca_pem.read_bytes())
    assert shown.startswith("OCSP: good at ") and "signed by the CA" in shown


def test_crl_evidence_is_kept_and_openssl_accepts_the_certificate(world: World, tmp_path: Path) -> None:
    token = world.tsa("good", "crl").timestamp(DATA)
    evidence = token.revocation
    assert evidence is not None and evidence["method"] == "crl"
    assert base64.b64decode(evidence["response"]) == (world.alpha.dir / "ca.crl").read_bytes()
    response, _ = _write(tmp_path, evidence)
    openssl("crl", "-inform", "DER", "-in", response, "-out", tmp_path / "crl.pem")
    ok = openssl(
        "verify", "-crl_check", "-CRLfile", tmp_path / "crl.pem", "-CAfile", world.alpha.ca_pem,
        world.alpha.dir / "good.pem", check=False,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert "not revoked" in check_revocation(token.der, evidence, world.alpha.ca_pem.read_bytes())


def test_delegated_responder_is_accepted(world: World) -> None:
    token = world.tsa("good", url=world.delegated_url).timestamp(DATA)
    assert token.revocation is not None
    shown = check_revocation(token.der, token.revocation, world.alpha.ca_pem.read_bytes())
    assert "delegated by the CA" in shown and "alpha responder" in shown


def test_no_revocation_policy_keeps_nothing(world: World) -> None:
    token = world.tsa("good", "none").timestamp(DATA)
    assert token.revocation is None
    assert verify_timestamp(token.der, DATA, world.alpha.ca_pem.read_bytes()).nonce is not None


# --- must fail ------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["ocsp", "crl"])
def test_revoked_tsa_is_refused(world: World, method: str, tmp_path: Path) -> None:
    with pytest.raises(TimestampError, match=r"the TSA certificate is revoked \((OCSP|CRL): revoked at"):
        world.tsa("revoked", method).timestamp(DATA)
    # openssl agrees.
    if method == "ocsp":
        result = openssl(
            "ocsp", "-issuer", world.alpha.ca_pem, "-cert", world.revoked, "-url", world.alpha.ocsp_url,
            "-CAfile", world.alpha.ca_pem,
        )  # fmt: skip
        assert "revoked.pem: revoked" in result.stdout
    else:
        openssl("crl", "-inform", "DER", "-in", world.alpha.dir / "ca.crl", "-out", tmp_path / "crl.pem")
        result = openssl(
            "verify", "-crl_check", "-CRLfile", tmp_path / "crl.pem", "-CAfile", world.alpha.ca_pem,
            world.revoked, check=False,
        )  # fmt: skip
        assert result.returncode != 0 and "revoked" in result.stdout + result.stderr


def test_wrong_ca_is_refused(world: World) -> None:
    with pytest.raises(TimestampError):
        world.tsa("good", pki=world.beta).timestamp(DATA)
    token = world.beta.ts_reply(world.beta.dir / "good.pem", world.beta.dir / "good.key", _query())
    with pytest.raises(TimestampError, match="does not chain to the configured CA"):
        collect_revocation(token.stdout, world.alpha.ca_pem.read_bytes(), RevocationPolicy())  # type: ignore[arg-type]


def _ts_verify(tmp_path: Path, token: bytes, ca: Path, data: bytes = DATA):
    """``openssl ts -verify`` of a TimeStampResp over ``data``."""
    (tmp_path / "resp.tsr").write_bytes(token)
    (tmp_path / "data").write_bytes(data)
    resp, data = tmp_path / "resp.tsr", tmp_path / "data"
    return openssl("ts", "-verify", "-in", resp, "-data", data, "-CAfile", ca, check=False)


def _query() -> bytes:
    request, _ = timestamps._request(DATA)
    return request.dump()


def test_expired_tsa_certificate_is_refused(world: World, tmp_path: Path) -> None:
    with pytest.raises(TimestampError):
        world.tsa("expired").timestamp(DATA)
    reply = world.alpha.ts_reply(world.alpha.dir / "expired.pem", world.alpha.dir / "expired.key", _query())
    assert reply.returncode == 0  # openssl ts -reply signs; verifiers must refuse
    with pytest.raises(TimestampError, match="was not valid at"):
        collect_revocation(reply.stdout, world.alpha.ca_pem.read_bytes(), RevocationPolicy())  # type: ignore[arg-type]
    verdict = _ts_verify(tmp_path, reply.stdout, world.alpha.ca_pem)  # type: ignore[arg-type]
    assert verdict.returncode != 0 and "expired" in verdict.stderr


def test_tsa_certificate_without_timestamping_eku_is_refused(world: World, tmp_path: Path) -> None:
    # openssl ts -reply itself refuses to sign with it...
    reply = world.alpha.ts_reply(world.alpha.dir / "noeku.pem", world.alpha.dir / "noeku.key", _query())
    assert reply.returncode != 0 and "invalid signer certificate purpose" in reply.stderr
    with pytest.raises(TimestampError, match="HTTP 500"):
        world.tsa("noeku").timestamp(DATA)
    # ...and a token signed with it anyway fails both verifiers.
    token = _crafted(world.alpha, "noeku", dt.datetime.now(dt.UTC))
    with pytest.raises(TimestampError, match="no extendedKeyUsage"):
        verify_timestamp(token, DATA, world.alpha.ca_pem.read_bytes())
    assert _ts_verify(tmp_path, token, world.alpha.ca_pem).returncode != 0


def test_ocsp_response_signed_by_the_wrong_key_is_refused(world: World) -> None:
    # openssl includes its signer's certificate (beta's CA), which alpha's CA did not issue.
    with pytest.raises(TimestampError, match="signed by a responder certificate the TSA's CA did not issue"):
        world.tsa("good", url=world.wrong_key_url).timestamp(DATA)
    result = openssl(
        "ocsp", "-issuer", world.alpha.ca_pem, "-cert", world.alpha.dir / "good.pem",
        "-url", world.wrong_key_url, "-CAfile", world.alpha.ca_pem, check=False,
    )  # fmt: skip
    assert "Response Verify Failure" in result.stderr + result.stdout


def test_stale_crl_is_refused(world: World) -> None:
    stale = f"{world.server.url}/crl/alpha/stale.crl"
    with pytest.raises(TimestampError, match=r"stale CRL: it expired \(nextUpdate 2020-01-02T00:00:00Z\)"):
        world.tsa("good", "crl", url=stale).timestamp(DATA)


def test_ocsp_response_not_about_gen_time_is_refused(world: World) -> None:
    # A token made three days from now: the responder's answer (valid one hour) expired before.
    later = _crafted(world.alpha, "good", dt.datetime.now(dt.UTC) + dt.timedelta(days=3))
    with pytest.raises(TimestampError, match="stale OCSP response: it expired"):
        collect_revocation(later, world.alpha.ca_pem.read_bytes(), RevocationPolicy())


def test_replayed_ocsp_response_is_refused(world: World, good_ocsp) -> None:
    assert good_ocsp.revocation is not None
    world.server.replay = base64.b64decode(good_ocsp.revocation["response"])
    with pytest.raises(TimestampError, match="does not echo our nonce"):
        world.tsa("good", url=f"{world.server.url}/replay").timestamp(DATA)


def test_unreachable_responder_is_refused(world: World) -> None:
    with pytest.raises(TimestampError, match="cannot reach the revocation server"):
        world.tsa("good", url="http://127.0.0.1:9/").timestamp(DATA)


def test_unknown_method_is_refused() -> None:
    with pytest.raises(TimestampError, match="revocation method must be one of ocsp, crl, none"):
        RevocationPolicy(method="ldap")


# --- offline re-check of stored evidence ----------------------------------------------------


def _flip(data: bytes, at: int) -> str:
    out = bytearray(data)
    out[at] ^= 0x01
    return base64.b64encode(bytes(out)).decode()


def test_tampered_stored_response_fails_offline(world: World, good_ocsp) -> None:
    ca = world.alpha.ca_pem.read_bytes()
    evidence = dict(good_ocsp.revocation)
    der = base64.b64decode(evidence["response"])
    parsed = ocsp.load_der_ocsp_response(der)
    signed_at = der.index(parsed.tbs_response_bytes) + len(parsed.tbs_response_bytes) // 2
    signature_at = der.index(parsed.signature) + 10
    for at in (signed_at, signature_at):
        with pytest.raises(TimestampError):
            check_revocation(good_ocsp.der, evidence | {"response": _flip(der, at)}, ca)
    # The revoked certificate's (genuine) response does not speak for the good one.
    revoked = openssl(
        "ocsp", "-issuer", world.alpha.ca_pem, "-cert", world.revoked, "-url", world.alpha.ocsp_url,
        "-respout", world.alpha.dir / "revoked-resp.der", "-noverify",
    )  # fmt: skip
    assert revoked.returncode == 0
    other = base64.b64encode((world.alpha.dir / "revoked-resp.der").read_bytes()).decode()
    with pytest.raises(TimestampError, match="says nothing about the TSA certificate"):
        check_revocation(good_ocsp.der, evidence | {"response": other}, ca)
    # Evidence about another certificate, or checked against another CA, fails too.
    beta_cert = base64.b64encode(pem.unarmor((world.beta.dir / "good.pem").read_bytes())[2]).decode()
    with pytest.raises(TimestampError, match="about another certificate"):
        check_revocation(good_ocsp.der, evidence | {"certificates": [beta_cert]}, ca)
    with pytest.raises(TimestampError, match="does not chain to the configured CA"):
        check_revocation(good_ocsp.der, evidence, world.beta.ca_pem.read_bytes())
    with pytest.raises(TimestampError, match="method ocsp or crl"):
        check_revocation(good_ocsp.der, evidence | {"method": "none"}, ca)
    # Untouched, it still holds.
    assert check_revocation(good_ocsp.der, evidence, ca).startswith("OCSP: good")


# --- committed vectors (vectors/tsa_trust/make_vectors.py): evidence kept today re-checks later


VECTORS = Path(__file__).resolve().parent / "vectors" / "tsa_trust"


def _vector(name: str) -> dict:
    return json.loads((VECTORS / name).read_text())


@pytest.mark.parametrize(("name", "shows"), [("ocsp.json", "OCSP: good at"), ("crl.json", "not revoked")])
def test_committed_evidence_rechecks_offline(name: str, shows: str, tmp_path: Path) -> None:
    token, ca = (VECTORS / "resp.tsr").read_bytes(), (VECTORS / "ca.pem").read_bytes()
    data = (VECTORS / "data.bin").read_bytes()
    info = verify_timestamp(token, data, ca)
    assert info.policy == "1.2.3.4.1" and info.tsa_name == "CN=vector tsa"
    assert shows in check_revocation(token, _vector(name), ca)
    verdict = _ts_verify(tmp_path, token, VECTORS / "ca.pem", data)
    assert verdict.returncode == 0 and "Verification: OK" in verdict.stdout


def test_committed_stale_ocsp_response_fails_offline() -> None:
    token, ca = (VECTORS / "resp.tsr").read_bytes(), (VECTORS / "ca.pem").read_bytes()
    with pytest.raises(
        TimestampError, match="stale OCSP response: it expired .* before the timestamp's genTime"
    ):
        check_revocation(token, _vector("stale_ocsp.json"), ca)


def test_bundle_anchor_revocation_member_is_optional_and_strict() -> None:
    from anchoring.bundle import AnchorRecord, BundleError

    done = {
        "type": "rfc3161",
        "status": "done",
        "token": "AA==",
        "genTime": "2026-01-01T00:00:00Z",
        "tsa": "x",
    }
    assert AnchorRecord.from_dict(done).get("revocation") is None
    evidence = _vector("ocsp.json")
    assert AnchorRecord.from_dict(done | {"revocation": evidence}).get("revocation") == evidence
    for bad in (
        evidence | {"extra": 1},
        evidence | {"method": "none"},
        evidence | {"certificates": []},
        evidence | {"response": "not base64!"},
        {k: v for k, v in evidence.items() if k != "response"},
    ):
        with pytest.raises(BundleError, match="revocation malformed"):
            AnchorRecord.from_dict(done | {"revocation": bad})
    with pytest.raises(BundleError, match="unknown field"):
        AnchorRecord.from_dict(
            {"type": "evm", "status": "pending", "attempts": 0, "nextAttemptAt": "x"}
            | {"revocation": evidence}
        )


@settings(max_examples=60, deadline=None)
@given(
    at=st.integers(min_value=0), bit=st.integers(min_value=0, max_value=7), field=st.sampled_from([0, 1, 2])
)
# The response's signature algorithm OID lengthened over its NULL parameters (an OID the
# library does not know: UnsupportedAlgorithm, once a crash).
@example(at=226, bit=1, field=0)
def test_any_corrupted_evidence_byte_fails_cleanly_or_is_unsigned(at: int, bit: int, field: int) -> None:
    """A flipped bit anywhere in the kept response or certificates either fails the re-check with
    a TimestampError or leaves what the CA signed untouched (the same verdict): never a crash."""
    token, ca = (VECTORS / "resp.tsr").read_bytes(), (VECTORS / "ca.pem").read_bytes()
    evidence = _vector("ocsp.json")
    blobs = [evidence["response"], *evidence["certificates"]]
    der = bytearray(base64.b64decode(blobs[field]))
    der[at % len(der)] ^= 1 << bit
    flipped = base64.b64encode(bytes(der)).decode()
    if field == 0:
        evidence["response"] = flipped
    else:
        evidence["certificates"][field - 1] = flipped
    try:
        shown = check_revocation(token, evidence, ca)
    except TimestampError:
        return
    parsed = ocsp.load_der_ocsp_response(base64.b64decode(evidence["response"]))
    original = ocsp.load_der_ocsp_response(base64.b64decode(_vector("ocsp.json")["response"]))
    assert parsed.tbs_response_bytes == original.tbs_response_bytes
    assert parsed.signature == original.signature
    assert shown.startswith("OCSP: good at")
