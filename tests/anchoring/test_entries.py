"""anchoring.entries: exact entry bytes, strict decoding, the proformas hash link."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import ROOT

from anchoring import entries
from anchoring.canonical import canonical_json, canonical_sha256
from anchoring.entries import (
    BulkFileEntry,
    ProformaEntry,
    ReleaseEntry,
    check_entry,
    decode_entry,
    encode_entry,
    entry_kinds,
    entry_leaf_hash,
    proformas_hash_link,
)
from anchoring.errors import EntryError
from anchoring.merkle import EMPTY_ROOT, leaf_hash, node_hash

DOC = Path(__file__).resolve().parents[2] / "docs" / "proof-format.md"

# The worked example of docs/proof-format.md.
RELEASE = {
    "ocid": "ocds-veraz-000042",
    "id": "ocds-veraz-000042-01",
    "date": "2026-03-02T15:04:05Z",
    "tag": ["award"],
    "awards": [{"id": "1", "value": {"amount": 1250.5, "currency": "PEN"}}],
}
PF1 = {"id": "PF-1", "ocid": "ocds-veraz-000042", "supplier": "Proveedor Uno", "total": 1250.5}
PF2 = {"id": "PF-2", "ocid": "ocds-veraz-000042", "supplier": "Proveedor Dos", "total": 1399.0}
DOCUMENT = b"%PDF-1.7 example order document\n"

RELEASE_ENTRY_TEXT = (
    '{"dataHash":"004e85163d60532cae02adcb7faf0af68d81379439788c0d660ab5b710ae22ec",'
    '"documentHash":"0c889fddb2efa33b6a727795df4338ca8ad8edfba71352de9907baefb9d398d7",'
    '"kind":"release","ocid":"ocds-veraz-000042",'
    '"proformasHash":"fca22267fe5dea7f389473dc3972a7a3064c6793cfbfa08f6550a9eb3e9f3760",'
    '"releaseId":"ocds-veraz-000042-01","v":1}'
)
PROFORMA_ENTRY_TEXT = (
    '{"kind":"proforma","ocid":"ocds-veraz-000042",'
    '"proformaHash":"566bd34d8a8ca7b358ef56ee3c6bc0d2124ce18404b4debda52306d44d8b7df3",'
    '"proformaId":"PF-1","v":1}'
)


def example_release_entry() -> ReleaseEntry:
    return ReleaseEntry(
        ocid="ocds-veraz-000042",
        release_id="ocds-veraz-000042-01",
        data_hash=canonical_sha256(RELEASE),
        proformas_hash=proformas_hash_link([canonical_sha256(PF1), canonical_sha256(PF2)]),
        document_hash=hashlib.sha256(DOCUMENT).digest(),
    )


def test_worked_example_release():
    entry = example_release_entry()
    data = encode_entry(entry)
    assert data == RELEASE_ENTRY_TEXT.encode()
    assert len(data) == 329
    assert leaf_hash(data).hex() == ("d72610f1fdbc49fee69fd76e4a463c9757c3018faf6ce4a4e5f16f69b6f93b99")
    assert entry_leaf_hash(entry) == leaf_hash(data)
    assert decode_entry(data) == entry


def test_worked_example_proforma():
    entry = ProformaEntry("ocds-veraz-000042", "PF-1", canonical_sha256(PF1))
    data = encode_entry(entry)
    assert data == PROFORMA_ENTRY_TEXT.encode()
    assert leaf_hash(data).hex() == ("a7e61798f1a651a17ddae40886fcb1c0e13c10e6db2633f49cf269b8257b4336")
    assert decode_entry(data) == entry


def test_worked_example_is_in_the_docs():
    text = DOC.read_text(encoding="utf-8")
    for value in (
        RELEASE_ENTRY_TEXT,
        PROFORMA_ENTRY_TEXT,
        canonical_json(RELEASE).decode(),
        "d72610f1fdbc49fee69fd76e4a463c9757c3018faf6ce4a4e5f16f69b6f93b99",
        "a7e61798f1a651a17ddae40886fcb1c0e13c10e6db2633f49cf269b8257b4336",
        "fca22267fe5dea7f389473dc3972a7a3064c6793cfbfa08f6550a9eb3e9f3760",
    ):
        assert value in text
    assert "TODO" not in text
    assert re.search(r"^## Proof bundle$", text, re.M)


def test_proformas_hash_link():
    h1, h2 = canonical_sha256(PF1), canonical_sha256(PF2)
    assert proformas_hash_link([]) == EMPTY_ROOT
    assert proformas_hash_link([h1]) == leaf_hash(h1)
    expected = node_hash(leaf_hash(min(h1, h2)), leaf_hash(max(h1, h2)))
    assert proformas_hash_link([h1, h2]) == proformas_hash_link([h2, h1]) == expected
    with pytest.raises(EntryError):
        proformas_hash_link([h1, h1])
    with pytest.raises(EntryError):
        proformas_hash_link([b"short"])


def test_document_hash_absent_when_none():
    entry = ReleaseEntry("o", "r", bytes(32), EMPTY_ROOT)
    assert b"documentHash" not in encode_entry(entry)
    assert decode_entry(encode_entry(entry)) == entry


def test_bulk_file_entry_known_answer():
    """A bulk file: numbers as decimal text (one encoding each), members in RFC 8785 order."""
    entry = BulkFileEntry("2024.jsonl.gz", bytes([0xCD]) * 32, "1048576", "250000", "0")
    expected = (
        '{"fileHash":"' + "cd" * 32 + '","kind":"bulk","logSize":"0","name":"2024.jsonl.gz",'
        '"releases":"250000","size":"1048576","v":1}'
    ).encode()
    assert encode_entry(entry) == expected
    assert decode_entry(expected) == entry and check_entry(expected) == "bulk"


@pytest.mark.parametrize("size", ["", "01", "-1", "+1", "1.0", "1e3", " 1", "\u0661"])
def test_a_bulk_entry_number_has_one_text(size):
    with pytest.raises(EntryError):
        BulkFileEntry("f", bytes(32), size, "1", "1")
    good = encode_entry(BulkFileEntry("f", bytes(32), "7", "1", "1"))
    bad = good.replace(b'"size":"7"', b'"size":' + orjson.dumps(size))
    for check in (decode_entry, check_entry):
        with pytest.raises(EntryError):
            check(bad)


def test_package_hash_member_known_answer():
    """An imported release's entry: ``packageHash`` sorts between ``ocid`` and
    ``proformasHash`` (RFC 8785 member order), written like every hash; absent otherwise."""
    entry = ReleaseEntry("o", "r", bytes(32), bytes([1]) * 32, package_hash=bytes([0xAB]) * 32)
    expected = (
        '{"dataHash":"'
        + "00" * 32
        + '","kind":"release","ocid":"o","packageHash":"'
        + "ab" * 32
        + '","proformasHash":"'
        + "01" * 32
        + '","releaseId":"r","v":1}'
    ).encode()
    assert encode_entry(entry) == expected
    assert decode_entry(expected) == entry
    assert b"packageHash" not in encode_entry(ReleaseEntry("o", "r", bytes(32), EMPTY_ROOT))
    with pytest.raises(EntryError):  # upper-case hex is not the canonical form
        decode_entry(expected.replace(b"ab" * 32, b"AB" * 32))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"ocid": "", "release_id": "r", "data_hash": bytes(32), "proformas_hash": bytes(32)},
        {"ocid": "o", "release_id": 5, "data_hash": bytes(32), "proformas_hash": bytes(32)},
        {"ocid": "o", "release_id": "r", "data_hash": bytes(31), "proformas_hash": bytes(32)},
        {"ocid": "o", "release_id": "r", "data_hash": bytes(32), "proformas_hash": "00" * 32},
        {
            "ocid": "o",
            "release_id": "r",
            "data_hash": bytes(32),
            "proformas_hash": bytes(32),
            "document_hash": b"",
        },
        {"ocid": "\ud800", "release_id": "r", "data_hash": bytes(32), "proformas_hash": bytes(32)},
    ],
)
def test_invalid_fields_refused(kwargs):
    with pytest.raises(EntryError):
        ReleaseEntry(**kwargs)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"[]",
        b"not json",
        PROFORMA_ENTRY_TEXT.replace('"v":1', '"v":2').encode(),
        PROFORMA_ENTRY_TEXT.replace('"v":1', '"v":1.0').encode(),
        PROFORMA_ENTRY_TEXT.replace('"v":1', '"v":true').encode(),
        PROFORMA_ENTRY_TEXT.replace('"proforma"', '"bulkx"').encode(),
        PROFORMA_ENTRY_TEXT.replace("566b", "566B").encode(),
        PROFORMA_ENTRY_TEXT.replace("566b", "566").encode(),
        PROFORMA_ENTRY_TEXT.replace(',"v":1}', ',"v":1,"extra":"x"}').encode(),
        PROFORMA_ENTRY_TEXT.replace('"proformaId":"PF-1",', "").encode(),
        PROFORMA_ENTRY_TEXT.replace('"proformaId":"PF-1"', '"proformaId":""').encode(),
        PROFORMA_ENTRY_TEXT.replace(",", ", ").encode(),
        (PROFORMA_ENTRY_TEXT + "\n").encode(),
        ("\ufeff" + PROFORMA_ENTRY_TEXT).encode(),
        PROFORMA_ENTRY_TEXT.replace('{"kind"', '{"v":1,"kind"').encode(),
        PROFORMA_ENTRY_TEXT.replace('"PF-1"', '"PF\\u002d1"').encode(),
        RELEASE_ENTRY_TEXT.replace('"documentHash":"0c88', '"documentHash":null,"x":"0c88').encode(),
    ],
)
def test_non_canonical_or_invalid_bytes_refused(data):
    with pytest.raises(EntryError):
        decode_entry(data)
    with pytest.raises(EntryError):
        check_entry(data)


_HOSTILE_TEXT = [
    "PF\\u0008",  # \b has a short form: \u0008 is not canonical
    "PF\\u001F",  # uppercase hex
    "PF\\/1",  # JCS does not escape '/'
    "PF\\u00e9",  # JCS writes non-ASCII raw
    "PF\\x",  # not a JSON escape
    "PF\\",  # dangling backslash
    "PF\t1",  # raw control character
    'PF"1',
]
_HOSTILE_BYTES = [b"PF\xff", b"PF\xc3", b"PF\xed\xa0\x80", b"PF\xc0\xaf", b"PF\xf4\x90\x80\x80"]


@pytest.mark.parametrize(
    "data",
    [PROFORMA_ENTRY_TEXT.replace("PF-1", t).encode() for t in _HOSTILE_TEXT]
    + [PROFORMA_ENTRY_TEXT.encode().replace(b"PF-1", b) for b in _HOSTILE_BYTES],
)
def test_fast_check_refuses_what_decoding_refuses(data):
    with pytest.raises(EntryError):
        decode_entry(data)
    with pytest.raises(EntryError):
        check_entry(data)


@pytest.mark.parametrize(
    "text", ["PF\x08", "PF\x0b", "PF\x1f", "PF\x00", "PF\x7f", "PF/1", "é\u2028", '"', "\\", "𝄞"]
)
def test_fast_paths_on_escaped_and_non_ascii_text(text):
    entry = ProformaEntry("ocds-x", text, bytes(32))
    data = encode_entry(entry)
    assert data == entries.encode_entry_reference(entry) == canonical_json(entry.to_json())
    assert check_entry(data) == "proforma"
    assert decode_entry(data) == entry


# A new entry kind, declared only with the public API. It runs in a child process: a kind
# registered here would stay registered for every later test of the session.
_NEW_KIND = """
from dataclasses import dataclass
from typing import ClassVar

from anchoring.entries import (
    Entry, check_entry, decode_entry, encode_entry, entry_kinds, entry_member, register_entry_kind,
)
from anchoring.errors import EntryError

@register_entry_kind
@dataclass(frozen=True)
class TestBulk(Entry):
    KIND: ClassVar[str] = "test-bulk"
    count_hash: bytes = entry_member("countHash", "hash")

data = encode_entry(TestBulk(bytes(32)))
assert data == b'{"countHash":"' + b"0" * 64 + b'","kind":"test-bulk","v":1}', data
assert decode_entry(data) == TestBulk(bytes(32))
assert check_entry(data) == "test-bulk"
assert entry_kinds()["test-bulk"] is TestBulk
for again in (lambda: register_entry_kind(TestBulk), lambda: entry_member("x", "number")):
    try:
        again()
    except EntryError:
        pass
    else:
        raise AssertionError("accepted")
print("ok")
"""


def test_kinds_registry_is_extensible():
    assert set(entry_kinds()) >= {"release", "proforma"}
    done = subprocess.run(
        [sys.executable, "-c", _NEW_KIND], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "ok\n", "")
    assert "test-bulk" not in entry_kinds()


_text = st.text(st.characters(codec="utf-8"), min_size=1, max_size=30)
_hash = st.binary(min_size=32, max_size=32)
_maybe_hash = st.one_of(st.none(), _hash)
_decimal = st.integers(min_value=0, max_value=10**20).map(str)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.builds(
            ReleaseEntry, _text, _text, _hash, _hash, st.one_of(st.none(), _hash), st.one_of(st.none(), _hash)
        ),
        st.builds(ProformaEntry, _text, _text, _hash),
        st.builds(BulkFileEntry, _text, _hash, _decimal, _decimal, _decimal),
    )
)
def test_round_trip_byte_exact(entry):
    data = encode_entry(entry)
    assert decode_entry(data) == entry
    assert encode_entry(decode_entry(data)) == data
    assert data == canonical_json(entry.to_json())
    assert data == entries.encode_entry_reference(entry)
    assert check_entry(data) == entry.kind


def _verdict(fn, data: bytes) -> bool:
    try:
        fn(data)
    except EntryError:
        return False
    return True


_entries = st.one_of(
    st.builds(
        ReleaseEntry, _text, _text, _hash, _hash, st.one_of(st.none(), _hash), st.one_of(st.none(), _hash)
    ),
    st.builds(ProformaEntry, _text, _text, _hash),
    st.builds(BulkFileEntry, _text, _hash, _decimal, _decimal, _decimal),
)


@settings(max_examples=1500, deadline=None)
@given(
    _entries,
    st.lists(
        st.tuples(
            st.sampled_from(["insert", "delete", "replace"]),
            st.integers(min_value=0, max_value=400),
            st.sampled_from(list(b'"\\,:{}0aA \x00\x1f\x7f\x80\xc3\xffubfnrtv1-')),
        ),
        min_size=1,
        max_size=3,
    ),
)
def test_fast_check_agrees_with_strict_decoding_on_mutations(entry, edits):
    """check_entry (regex) and decode_entry (parse, re-encode, compare) agree on any bytes."""
    data = bytearray(encode_entry(entry))
    for op, at, byte in edits:
        at %= len(data) + (op == "insert")
        if op == "insert":
            data.insert(at, byte)
        elif op == "delete" and len(data) > 1:
            del data[at % len(data)]
        elif op == "replace":
            data[at % len(data)] = byte
    assert _verdict(check_entry, bytes(data)) == _verdict(decode_entry, bytes(data))


def test_encoder_escapes_every_character_as_rfc8785():
    """Every code point of the BMP below U+3000 and a sample above, in text members."""
    points = [*range(0, 0x3000), 0xFEFF, 0xFFFD, 0xFFFF, 0x10000, 0x1D11E, 0x10FFFF]
    for start in range(0, len(points), 64):
        text = "".join(chr(c) for c in points[start : start + 64] if not 0xD800 <= c <= 0xDFFF)
        entry = ProformaEntry("ocds-x", text, bytes(32))
        assert encode_entry(entry) == entries.encode_entry_reference(entry)
        assert check_entry(encode_entry(entry)) == "proforma"
