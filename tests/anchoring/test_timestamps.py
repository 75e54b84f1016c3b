"""RFC 3161: the embedded TSA, the remote client, and the verifier, checked against openssl.

Every token the project makes must verify with the tool a citizen would use,
``openssl ts -verify``, and every must-fail case must fail there too.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import http.server
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from asn1crypto import tsp
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from anchoring.errors import TimestampError
from anchoring.timestamps import (
    VERAZ_TSA_POLICY,
    EmbeddedTSA,
    RemoteTSA,
    TimestampToken,
    verify_timestamp,
)

VECTORS = Path(__file__).resolve().parent / "vectors" / "rfc3161"
DATA = b"veraz checkpoint\n180000\n" + bytes(range(32))
OPENSSL = shutil.which("openssl")


@pytest.fixture(scope="module")
def tsa(tmp_path_factory: pytest.TempPathFactory) -> EmbeddedTSA:
    """One embedded TSA per module: RSA-3072 key generation takes about a second."""
    return EmbeddedTSA(tmp_path_factory.mktemp("tsa"))


@pytest.fixture(scope="module")
def other_tsa(tmp_path_factory: pytest.TempPathFactory) -> EmbeddedTSA:
    """A second, unrelated TSA: its CA must not validate the first one's tokens."""
    return EmbeddedTSA(tmp_path_factory.mktemp("other-tsa"))


def openssl_verify(
    tmp_path: Path, der: bytes, data: bytes, ca_pem: bytes, *, token: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run the real ``openssl ts -verify`` (``-token_in`` for a bare token)."""
    if OPENSSL is None:
        pytest.fail("openssl is required: it is the verifier a citizen would use")
    (tmp_path / "in.der").write_bytes(der)
    (tmp_path / "data.bin").write_bytes(data)
    (tmp_path / "ca.pem").write_bytes(ca_pem)
    command = [OPENSSL, "ts", "-verify", "-in", str(tmp_path / "in.der")]
    if token:
        command.insert(3, "-token_in")
    command += ["-data", str(tmp_path / "data.bin"), "-CAfile", str(tmp_path / "ca.pem")]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def assert_openssl_accepts(tmp_path: Path, der: bytes, data: bytes, ca_pem: bytes, **kw) -> None:
    result = openssl_verify(tmp_path, der, data, ca_pem, **kw)
    assert result.returncode == 0 and "Verification: OK" in result.stdout, result.stderr


def assert_openssl_rejects(tmp_path: Path, der: bytes, data: bytes, ca_pem: bytes, **kw) -> None:
    result = openssl_verify(tmp_path, der, data, ca_pem, **kw)
    assert result.returncode != 0 and "Verification: OK" not in result.stdout


# --- the embedded TSA ------------------------------------------------------------------------


def test_embedded_tsa_files_and_certificate_profile(tsa: EmbeddedTSA) -> None:
    for name in ("ca.key", "tsa.key"):
        assert (tsa.directory / name).stat().st_mode & 0o777 == 0o600
    cert = x509.load_pem_x509_certificate((tsa.directory / "tsa.pem").read_bytes())
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical and list(eku.value) == [ExtendedKeyUsageOID.TIME_STAMPING]
    ca = x509.load_pem_x509_certificate(tsa.ca_pem)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert cert.issuer == ca.subject


def test_embedded_tsa_token_verifies_with_openssl_and_python(tsa: EmbeddedTSA, tmp_path: Path) -> None:
    token = tsa.timestamp(DATA)
    assert_openssl_accepts(tmp_path, token.der, DATA, tsa.ca_pem)
    assert_openssl_accepts(tmp_path, token.token_der, DATA, tsa.ca_pem, token=True)
    info = verify_timestamp(token.der, DATA, tsa.ca_pem)
    assert info == verify_timestamp(token.token_der, DATA, tsa.ca_pem)
    assert info.digest_hex == token.digest_hex == hashlib.sha256(DATA).hexdigest()
    assert info.gen_time == token.gen_time
    assert info.serial == token.serial
    assert info.tsa_name == token.tsa_name == "O=Veraz,CN=Veraz Embedded TSA"
    assert info.policy == VERAZ_TSA_POLICY
    assert info.hash_algorithm == "sha256"
    assert info.nonce is not None
    assert abs(info.gen_time - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)


def test_token_round_trips_through_der(tsa: EmbeddedTSA) -> None:
    token = tsa.timestamp(DATA)
    assert TimestampToken.from_der(token.der) == token
    with pytest.raises(TimestampError, match="not a DER TimeStampResp"):
        TimestampToken.from_der(token.token_der)


def test_serials_are_unique(tsa: EmbeddedTSA) -> None:
    assert len({tsa.timestamp(DATA).serial for _ in range(5)}) == 5


def test_embedded_tsa_keeps_its_ca_across_restarts(tsa: EmbeddedTSA) -> None:
    again = EmbeddedTSA(tsa.directory)
    assert again.ca_pem == tsa.ca_pem
    verify_timestamp(again.timestamp(DATA).der, DATA, tsa.ca_pem)


def test_embedded_tsa_refuses_a_loose_key(tmp_path: Path) -> None:
    EmbeddedTSA(tmp_path)
    (tmp_path / "tsa.key").chmod(0o644)
    with pytest.raises(TimestampError, match="chmod 600"):
        EmbeddedTSA(tmp_path)


def test_gen_time_outside_certificate_validity_fails(tsa: EmbeddedTSA) -> None:
    """A token whose genTime is after the TSA certificate expired does not verify."""
    future = dt.datetime.now(dt.UTC) + dt.timedelta(days=11 * 365)
    late = EmbeddedTSA(tsa.directory, clock=lambda: future)
    with pytest.raises(TimestampError, match="not valid at genTime"):
        late.timestamp(DATA)


def test_embedded_tsa_rejects_bad_requests(tsa: EmbeddedTSA) -> None:
    bad = tsp.TimeStampReq(
        {
            "version": "v1",
            "message_imprint": {
                "hash_algorithm": {"algorithm": "sha1"},
                "hashed_message": b"x" * 20,
            },
        }
    ).dump()
    with pytest.raises(TimestampError, match=r"refused the request: rejection \(bad_alg\)"):
        verify_timestamp(tsa.respond(bad), DATA, tsa.ca_pem)
    with pytest.raises(TimestampError, match="refused the request: rejection"):
        verify_timestamp(tsa.respond(b"\x30\x03\x02\x01\x07"), DATA, tsa.ca_pem)


# --- must-fail: both openssl and the Python verifier reject ---------------------------------


def test_wrong_data_fails(tsa: EmbeddedTSA, tmp_path: Path) -> None:
    token = tsa.timestamp(DATA)
    assert_openssl_rejects(tmp_path, token.der, DATA + b"x", tsa.ca_pem)
    with pytest.raises(TimestampError, match="imprint mismatch"):
        verify_timestamp(token.der, DATA + b"x", tsa.ca_pem)


def test_wrong_ca_fails(tsa: EmbeddedTSA, other_tsa: EmbeddedTSA, tmp_path: Path) -> None:
    token = tsa.timestamp(DATA)
    assert_openssl_rejects(tmp_path, token.der, DATA, other_tsa.ca_pem)
    with pytest.raises(TimestampError, match="does not chain"):
        verify_timestamp(token.der, DATA, other_tsa.ca_pem)


def _corruption_sites(token: TimestampToken) -> dict[str, int]:
    """Byte offsets inside the signature, the signed TSTInfo and the embedded certificate."""
    response = tsp.TimeStampResp.load(token.der)
    signed_data = response["time_stamp_token"]["content"]
    signer_info = signed_data["signer_infos"][0]
    tst_info = bytes(signed_data["encap_content_info"]["content"])
    cert = signed_data["certificates"][0].chosen.dump()
    signature = bytes(signer_info["signature"].native)
    sites = {
        "signature": token.der.index(signature) + len(signature) // 2,
        "tst_info_serial": token.der.index(tst_info) + len(tst_info) // 2,
        "certificate": token.der.index(cert) + len(cert) // 2,
        "signed_attributes": token.der.index(signer_info["signed_attrs"].contents) + 40,
    }
    for offset in sites.values():
        assert token.der.count(token.der[offset : offset + 16]) == 1
    return sites


@pytest.mark.parametrize("site", ["signature", "tst_info_serial", "certificate", "signed_attributes"])
def test_corrupted_byte_fails(tsa: EmbeddedTSA, tmp_path: Path, site: str) -> None:
    token = tsa.timestamp(DATA)
    offset = _corruption_sites(token)[site]
    corrupted = bytearray(token.der)
    corrupted[offset] ^= 0x01
    assert_openssl_rejects(tmp_path, bytes(corrupted), DATA, tsa.ca_pem)
    with pytest.raises(TimestampError):
        verify_timestamp(bytes(corrupted), DATA, tsa.ca_pem)


def test_truncated_token_fails(tsa: EmbeddedTSA, tmp_path: Path) -> None:
    token = tsa.timestamp(DATA)
    assert_openssl_rejects(tmp_path, token.der[:-10], DATA, tsa.ca_pem)
    with pytest.raises(TimestampError):
        verify_timestamp(token.der[:-10], DATA, tsa.ca_pem)
    with pytest.raises(TimestampError):
        verify_timestamp(b"", DATA, tsa.ca_pem)


# --- the shared vectors (openssl ts -reply and pyHanko DummyTimeStamper) --------------------

VECTOR_DIGEST = "2e3b9b6014e498ab870aba4889e2eb3f6997a9e7e46f0a58ea737bc2432a2732"


@pytest.mark.parametrize(
    ("name", "token", "serial", "nonce", "policy"),
    [
        ("openssl_resp.tsr", False, 2, 0x188BBA02E747C10C, "1.2.3.4.1"),
        ("openssl_token.der", True, 2, 0x188BBA02E747C10C, "1.2.3.4.1"),
        ("pyhanko_resp.tsr", False, 0x019444A9B7D3D75A, 0x3039, "1.3.6.1.4.1.4146.2.2"),
    ],
)
def test_vectors_verify(tmp_path: Path, name: str, token: bool, serial: int, nonce: int, policy: str) -> None:
    der = (VECTORS / name).read_bytes()
    data = (VECTORS / "data.bin").read_bytes()
    ca_pem = (VECTORS / "ca.pem").read_bytes()
    info = verify_timestamp(der, data, ca_pem)
    assert info.digest_hex == VECTOR_DIGEST
    assert info.serial == serial and info.nonce == nonce and info.policy == policy
    assert info.tsa_name == "O=Portal Test,CN=Test TSA"
    assert info.gen_time.replace(microsecond=0) == dt.datetime(
        2026, 11, 21, 7, 11, 14 if "openssl" in name else 15, tzinfo=dt.UTC
    )
    assert_openssl_accepts(tmp_path, der, data, ca_pem, token=token)
    with pytest.raises(TimestampError, match="imprint mismatch"):
        verify_timestamp(der, data + b"!", ca_pem)


def test_vectors_fail_with_another_ca(tsa: EmbeddedTSA) -> None:
    der = (VECTORS / "openssl_resp.tsr").read_bytes()
    with pytest.raises(TimestampError, match="does not chain"):
        verify_timestamp(der, (VECTORS / "data.bin").read_bytes(), tsa.ca_pem)


def test_vector_tsa_certificate_is_the_one_in_the_token() -> None:
    der = (VECTORS / "openssl_resp.tsr").read_bytes()
    embedded = tsp.TimeStampResp.load(der)["time_stamp_token"]["content"]["certificates"]
    published = x509.load_pem_x509_certificate((VECTORS / "tsa.pem").read_bytes())
    dumps = [c.chosen.dump() for c in embedded]
    assert published.public_bytes(serialization.Encoding.DER) in dumps


# --- the remote client -----------------------------------------------------------------------


Handler = Callable[[http.server.BaseHTTPRequestHandler, bytes], None]


@pytest.fixture
def http_tsa() -> Iterator[Callable[[Handler], str]]:
    """Start a local HTTP server with a given handler; returns its URL."""
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(handle: Handler) -> str:
        class RequestHandler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers["Content-Length"]))
                handle(self, body)

            def log_message(self, *args: object) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RequestHandler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/tsa"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _reply(handler: http.server.BaseHTTPRequestHandler, body: bytes, content_type: str) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def test_remote_tsa_round_trip(tsa: EmbeddedTSA, http_tsa, tmp_path: Path) -> None:
    seen: list[str] = []

    def handle(handler: http.server.BaseHTTPRequestHandler, body: bytes) -> None:
        seen.append(handler.headers["Content-Type"])
        _reply(handler, tsa.respond(body), "application/timestamp-reply")

    remote = RemoteTSA(http_tsa(handle), tsa.ca_pem_path, timeout=10)
    token = remote.timestamp(DATA)
    assert seen == ["application/timestamp-query"]
    assert_openssl_accepts(tmp_path, token.der, DATA, tsa.ca_pem)
    verify_timestamp(token.der, DATA, tsa.ca_pem)


def test_remote_tsa_timeout(tsa: EmbeddedTSA, http_tsa) -> None:
    def handle(handler: http.server.BaseHTTPRequestHandler, body: bytes) -> None:
        time.sleep(2)

    remote = RemoteTSA(http_tsa(handle), tsa.ca_pem_path, timeout=0.3)
    started = time.monotonic()
    with pytest.raises(TimestampError, match="cannot reach"):
        remote.timestamp(DATA)
    assert time.monotonic() - started < 2


def test_remote_tsa_unreachable(tsa: EmbeddedTSA) -> None:
    with pytest.raises(TimestampError, match="cannot reach"):
        RemoteTSA("http://127.0.0.1:9/tsa", tsa.ca_pem_path, timeout=2).timestamp(DATA)


def test_remote_tsa_http_error_and_wrong_type(tsa: EmbeddedTSA, http_tsa) -> None:
    def fail(handler: http.server.BaseHTTPRequestHandler, body: bytes) -> None:
        handler.send_error(503)

    with pytest.raises(TimestampError, match="HTTP 503"):
        RemoteTSA(http_tsa(fail), tsa.ca_pem_path, timeout=5).timestamp(DATA)

    def html(handler: http.server.BaseHTTPRequestHandler, body: bytes) -> None:
        _reply(handler, b"<html></html>", "text/html")

    with pytest.raises(TimestampError, match="text/html"):
        RemoteTSA(http_tsa(html), tsa.ca_pem_path, timeout=5).timestamp(DATA)


def test_remote_tsa_replayed_response_fails(tsa: EmbeddedTSA, http_tsa) -> None:
    """A response to another request (same data, other nonce) is refused."""
    old = tsa.timestamp(DATA).der

    def replay(handler: http.server.BaseHTTPRequestHandler, body: bytes) -> None:
        _reply(handler, old, "application/timestamp-reply")

    with pytest.raises(TimestampError, match="nonce"):
        RemoteTSA(http_tsa(replay), tsa.ca_pem_path, timeout=5).timestamp(DATA)


def test_remote_tsa_untrusted_ca_fails(tsa: EmbeddedTSA, other_tsa: EmbeddedTSA, http_tsa) -> None:
    def handle(handler: http.server.BaseHTTPRequestHandler, body: bytes) -> None:
        _reply(handler, tsa.respond(body), "application/timestamp-reply")

    with pytest.raises(TimestampError, match="does not chain"):
        RemoteTSA(http_tsa(handle), other_tsa.ca_pem_path, timeout=5).timestamp(DATA)
