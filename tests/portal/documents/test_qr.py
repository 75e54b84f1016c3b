"""The order PDF's QR encoder against the ``qrcode`` library it replaces: the same matrix.

``qrcode`` is asked for exactly what ``portal.documents.qr`` promises (the data as one byte-mode
segment, level M, mask pattern 0, the smallest version), so any difference in padding,
Reed-Solomon blocks, interleaving, placement, format or version bits shows as a module.
"""

from __future__ import annotations

from functools import reduce
from operator import getitem, xor

import pytest
import qrcode
from hypothesis import given, settings
from hypothesis import strategies as st
from qrcode.constants import ERROR_CORRECT_M
from qrcode.util import MODE_8BIT_BYTE, QRData

from portal.documents.qr import (
    TABLE_VERSIONS,
    QRCapacityError,
    _byte_tables,
    _interleaved,
    _packed_value,
    _payload,
    _plan,
    qr_packed,
    qr_rows,
)

#: Bytes a version holds at level M in byte mode (ISO/IEC 18004, table 7), for versions 1-40.
CAPACITY_M = (
    14,
    26,
    42,
    62,
    84,
    106,
    122,
    152,
    180,
    213,
    251,
    287,
    331,
    362,
    412,
    450,
    504,
    560,
    624,
    666,
    711,
    779,
    857,
    911,
    997,
    1059,
    1125,
    1190,
    1264,
    1370,
    1452,
    1538,
    1628,
    1722,
    1809,
    1911,
    1989,
    2099,
    2213,
    2331,
)


def _qrcode_rows(data: str) -> list[str]:
    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=0, mask_pattern=0)
    qr.add_data(QRData(data.encode("utf-8"), mode=MODE_8BIT_BYTE))
    qr.make(fit=True)
    return ["".join("1" if dark else "0" for dark in row) for row in qr.get_matrix()]


@pytest.mark.parametrize("version", range(1, 41))
def test_every_version_full_and_one_byte_into_it(version):
    # The longest data of a version, and the shortest that no longer fits the version before.
    low = CAPACITY_M[version - 2] + 1 if version > 1 else 1
    for length in sorted({low, CAPACITY_M[version - 1]}):
        data = ("https://veraz.example/verify/ocds-abc123-OC-2024-" * 50)[:length]
        rows = qr_rows(data)
        assert len(rows) == 17 + 4 * version
        assert rows == _qrcode_rows(data)
        assert _unpacked(*qr_packed(data)) == rows


def _unpacked(size: int, chunks: int, packed: bytes) -> list[str]:
    """The rows of a packed grid, its padding checked light and cut off."""
    assert len(packed) == size * chunks and chunks * 8 > size
    rows = [
        format(int.from_bytes(packed[i : i + chunks], "big"), f"0{chunks * 8}b")
        for i in range(0, len(packed), chunks)
    ]
    assert all(set(row[size:]) == {"0"} for row in rows)
    return [row[:size] for row in rows]


def test_too_long_for_version_40():
    with pytest.raises(QRCapacityError):
        qr_rows("x" * (CAPACITY_M[-1] + 1))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_any_text_draws_the_matrix_qrcode_draws(data):
    rows = qr_rows(data)
    assert rows == _qrcode_rows(data)
    # The order PDF draws the packed form (an image mask's rows): the same modules.
    assert _unpacked(*qr_packed(data)) == rows


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=1, max_value=TABLE_VERSIONS), st.binary(min_size=1, max_size=124))
def test_tables_give_the_codes_that_placing_each_module_gives(version, data):
    # qr_packed takes the tables up to TABLE_VERSIONS; the direct path (Reed-Solomon, then every
    # module placed) is what they are built from and what qr_rows still draws.
    plan = _plan(version)
    data = data[: plan.capacity - 2]  # byte mode, 8-bit count: 2 bytes of header below version 10
    payload = _payload(data, plan)
    zero, tables = _byte_tables(version)
    from_tables = reduce(xor, map(getitem, tables, payload), zero)
    assert from_tables == _packed_value(_interleaved(payload, plan), plan)
