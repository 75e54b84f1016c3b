"""QR codes for order PDFs: byte mode, error correction level M, mask pattern 0 (ISO/IEC 18004).

One order PDF is rendered per published order, and the ``qrcode`` library spent about 0.7 ms on
each code (bit-by-bit buffers, a Python loop per module), a third of the PDF's time. This
encoder does the same work on whole integers and strings: the data and padding codewords as one
integer, Reed-Solomon by a table of the generator polynomial's multiples (one XOR per data
codeword), and the modules gathered into place by an index plan made once per version. About
15 times faster; ``tests/portal/documents/test_qr.py`` checks that it draws exactly the matrix
``qrcode`` draws for the same bytes in byte mode, at level M with mask pattern 0, in every
version.

Up to version 7 (``TABLE_VERSIONS``; an order's URL takes version 4 or 5) a code is made from
per-codeword tables instead (:func:`_byte_tables`, built once per version and process from the
direct path, about 30 ms and 3.5 MB at version 4): a code is affine in its data codewords, so
it is the code of all-zero data XOR one table entry per codeword, about 6 us where the direct
path took 45 us. ``qr_rows`` keeps the direct path, and the tests check both against each other
and against ``qrcode``.

The mask pattern is fixed rather than chosen by penalty scoring: every mask is a valid QR code,
and a fixed one keeps the PDF bytes independent of any scoring implementation.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, lru_cache, reduce
from operator import getitem, itemgetter, xor

#: Error-correction codewords per block and number of blocks at level M, by version (1-40).
_EC_PER_BLOCK = (
    10,
    16,
    26,
    18,
    24,
    16,
    18,
    22,
    22,
    26,
    30,
    22,
    22,
    24,
    24,
    28,
    28,
    26,
    26,
    26,
    26,
    28,
    28,
    28,
    28,
    28,
    28,
    28,
    28,
    28,
    28,
    28,
    28,
    28,
    28,
    28,
    28,
    28,
    28,
    28,
)
_BLOCKS = (
    1,
    1,
    1,
    2,
    2,
    4,
    4,
    4,
    5,
    5,
    5,
    8,
    9,
    9,
    10,
    10,
    11,
    13,
    14,
    16,
    17,
    17,
    18,
    20,
    21,
    23,
    25,
    26,
    28,
    29,
    31,
    33,
    35,
    37,
    38,
    40,
    43,
    45,
    47,
    49,
)
_FORMAT_M_MASK0 = 0b101010000010010  # BCH(15,5) of level M (00) and mask 0, XOR 0x5412


class QRCapacityError(ValueError):
    """The data does not fit in a version 40 QR code at level M."""


def _raw_modules(version: int) -> int:
    """Modules left for codewords once the function patterns are drawn."""
    result = (16 * version + 128) * version + 64
    if version >= 2:
        count = version // 7 + 2
        result -= (25 * count - 10) * count - 55
        if version >= 7:
            result -= 36
    return result


def _data_codewords(version: int) -> int:
    return _raw_modules(version) // 8 - _BLOCKS[version - 1] * _EC_PER_BLOCK[version - 1]


def _alignment_positions(version: int) -> list[int]:
    if version == 1:
        return []
    count = version // 7 + 2
    step = (version * 8 + count * 3 + 5) // (count * 4 - 4) * 2
    size = version * 4 + 17
    return [6, *reversed([size - 7 - i * step for i in range(count - 1)])]


def _gf_tables() -> tuple[list[int], list[int]]:
    exp, log = [0] * 512, [0] * 256
    value = 1
    for i in range(255):
        exp[i] = value
        log[value] = i
        value <<= 1
        if value & 0x100:
            value ^= 0x11D
    for i in range(255, 512):
        exp[i] = exp[i - 255]
    return exp, log


_EXP, _LOG = _gf_tables()


@cache
def _generator_multiples(degree: int) -> tuple[int, ...]:
    """``f * g(x)`` for every byte ``f``, as ``degree``-byte integers (g's leading 1 dropped)."""
    poly = [1]
    for i in range(degree):  # multiply by (x - a^i)
        nxt = [0] * (len(poly) + 1)
        for j, coef in enumerate(poly):
            nxt[j] ^= coef
            if coef:
                nxt[j + 1] ^= _EXP[_LOG[coef] + i]
        poly = nxt
    tail = poly[1:]
    multiples = [0]
    for factor in range(1, 256):
        value = 0
        for coef in tail:
            value = (value << 8) | (_EXP[_LOG[coef] + _LOG[factor]] if coef else 0)
        multiples.append(value)
    return tuple(multiples)


# The first block of an order URL's code (mode, length and the start of the URL: the site and
# the ocid prefix) is the same for every order of an import: its remainder is computed once.
@lru_cache(maxsize=64)
def _ec_codewords(data: bytes, degree: int) -> bytes:
    """The Reed-Solomon remainder of ``data`` (polynomial division, one table XOR per byte)."""
    multiples = _generator_multiples(degree)
    shift = 8 * (degree - 1)
    mask = (1 << shift) - 1
    remainder = 0
    for byte in data:
        remainder = ((remainder & mask) << 8) ^ multiples[(remainder >> shift) ^ byte]
    return remainder.to_bytes(degree, "big")


@dataclass(frozen=True)
class _Plan:
    """Everything about one version that does not depend on the data."""

    version: int
    size: int
    capacity: int  # data codewords
    blocks: int
    short_blocks: int
    short_data: int  # data codewords in a short block (long blocks hold one more)
    ec: int  # EC codewords per block
    remainder: int  # bits after the last codeword
    mask: int  # mask pattern 0 over the codeword bits, in placement order
    row_bits: int  # a row's modules padded with light ones to whole bytes (at least one)
    gather: itemgetter  # picks each row's modules and its light padding from the bit string


@cache
def _plan(version: int) -> _Plan:
    size = version * 4 + 17
    grid: list[list[int | None]] = [[None] * size for _ in range(size)]

    def put(row: int, col: int, dark: bool | int) -> None:
        grid[row][col] = 1 if dark else 0

    for top, left in ((0, 0), (0, size - 7), (size - 7, 0)):  # finders and their separators
        for r in range(-1, 8):
            for c in range(-1, 8):
                if 0 <= top + r < size and 0 <= left + c < size:
                    ring = max(abs(r - 3), abs(c - 3))
                    put(top + r, left + c, ring != 2 and ring != 4)
    for i in range(8, size - 8):  # timing patterns
        put(6, i, i % 2 == 0)
        put(i, 6, i % 2 == 0)
    positions = _alignment_positions(version)
    last = len(positions) - 1
    for a, row in enumerate(positions):
        for b, col in enumerate(positions):
            if (a, b) in ((0, 0), (0, last), (last, 0)):
                continue
            for r in range(-2, 3):
                for c in range(-2, 3):
                    put(row + r, col + c, max(abs(r), abs(c)) != 1)
    bits = _FORMAT_M_MASK0
    for i in range(15):
        dark = (bits >> i) & 1
        put(i if i < 6 else i + 1 if i < 8 else size - 15 + i, 8, dark)
        put(8, size - 1 - i if i < 8 else 7 if i == 8 else 14 - i, dark)
    put(size - 8, 8, True)
    if version >= 7:
        rem = version
        for _ in range(12):
            rem = (rem << 1) ^ ((rem >> 11) * 0x1F25)
        bits = version << 12 | rem
        for i in range(18):
            dark = (bits >> i) & 1
            put(i // 3, size - 11 + i % 3, dark)
            put(size - 11 + i % 3, i // 3, dark)

    # Codeword modules, in placement order: two-module columns from the right, zigzagging.
    order = []
    for right in range(size - 1, 0, -2):
        if right <= 6:
            right -= 1
        upward = (right + 1) & 2 == 0
        for vert in range(size):
            row = size - 1 - vert if upward else vert
            for col in (right, right - 1):
                if grid[row][col] is None:
                    order.append((row, col))
    total = len(order)
    mask = 0
    for row, col in order:
        mask = (mask << 1) | ((row + col) % 2 == 0)
    # Index ``total`` of the bit string is a light module, ``total + 1`` a dark one.
    slot = {position: index for index, position in enumerate(order)}
    # Rows padded to whole bytes, as the PDF path packs them (portal.documents.pdf_writer), and
    # at least one light module: a run never continues onto the next row.
    row_bits = (size + 8) // 8 * 8
    picks = []
    for row in range(size):
        for col in range(size):
            fixed = grid[row][col]
            picks.append(slot[(row, col)] if fixed is None else total + fixed)
        picks.extend([total] * (row_bits - size))
    raw_codewords = total // 8
    blocks = _BLOCKS[version - 1]
    ec = _EC_PER_BLOCK[version - 1]
    return _Plan(
        version=version,
        size=size,
        capacity=_data_codewords(version),
        blocks=blocks,
        short_blocks=blocks - raw_codewords % blocks,
        short_data=raw_codewords // blocks - ec,
        ec=ec,
        remainder=total % 8,
        mask=mask,
        row_bits=row_bits,
        gather=itemgetter(*picks),
    )


@cache
def _fit(length: int) -> _Plan:
    for version in range(1, 41):
        count_bits = 8 if version < 10 else 16
        if 4 + count_bits + 8 * length <= 8 * _data_codewords(version):
            return _plan(version)
    raise QRCapacityError(f"{length} bytes do not fit in a QR code at level M")


def _codewords(data: bytes, plan: _Plan) -> bytes:
    """Mode, count, data, terminator and padding, split in blocks with their EC, interleaved."""
    return _interleaved(_payload(data, plan), plan)


def _payload(data: bytes, plan: _Plan) -> bytes:
    """The data codewords: mode, count, data, terminator and padding (``plan.capacity`` bytes)."""
    count_bits = 8 if plan.version < 10 else 16
    bits = 4 + count_bits + 8 * len(data)
    value = ((0b0100 << count_bits | len(data)) << 8 * len(data)) | int.from_bytes(data, "big")
    capacity_bits = 8 * plan.capacity
    pad = min(4, capacity_bits - bits)  # terminator
    pad += -(bits + pad) % 8  # up to the byte boundary
    value <<= pad
    head = value.to_bytes((bits + pad) // 8, "big")
    return head + (b"\xec\x11" * plan.capacity)[: plan.capacity - len(head)]


def _interleaved(payload: bytes, plan: _Plan) -> bytes:
    """The data codewords split in blocks, each with its EC codewords, interleaved."""
    blocks, start = [], 0
    for index in range(plan.blocks):
        length = plan.short_data + (index >= plan.short_blocks)
        blocks.append(payload[start : start + length])
        start += length
    out = bytearray()
    for column in zip(*blocks, strict=False):  # stops at the short blocks' length
        out.extend(column)
    out.extend(block[-1] for block in blocks[plan.short_blocks :])
    ecs = [_ec_codewords(block, plan.ec) for block in blocks]
    for column in zip(*ecs, strict=True):
        out.extend(column)
    return bytes(out)


def _packed_value(codewords: bytes, plan: _Plan) -> int:
    """The packed rows of :func:`qr_packed` as one integer, from the interleaved codewords."""
    total = len(codewords) * 8 + plan.remainder
    masked = (int.from_bytes(codewords, "big") << plan.remainder) ^ plan.mask
    return int("".join(plan.gather(format(masked, f"0{total}b") + "01")), 2)


#: The largest version whose codes are made from per-byte tables (:func:`_byte_tables`): about
#: 10 MB of tables at version 7 (124 data codewords), 3.3 MB at version 4 (an order's URL).
TABLE_VERSIONS = 7


# A QR code is affine in its data codewords over GF(2): Reed-Solomon is linear (addition in
# GF(256) is XOR, and multiplying by a constant is linear in the bits), interleaving and
# placement move bits, and the mask, function patterns and format bits are constants. So the
# packed rows are those of all-zero data codewords XOR one table entry per data codeword, the
# packed rows that codeword's value alone adds: 64 lookups and XORs of 1,320-bit integers at
# version 4, where Reed-Solomon and placing each module took three times as long.
@lru_cache(maxsize=2)
def _byte_tables(version: int) -> tuple[int, tuple[tuple[int, ...], ...]]:
    """``(zero, tables)``: the packed value of all-zero data codewords, and for each data
    codeword's position, what each of its 256 values XORs into it."""
    plan = _plan(version)

    def packed(payload: bytes) -> int:
        return _packed_value(_interleaved(payload, plan), plan)

    zero = packed(bytes(plan.capacity))
    tables = []
    for position in range(plan.capacity):
        bits = []  # what each bit of the codeword adds, most significant first
        for bit in range(8):
            payload = bytearray(plan.capacity)
            payload[position] = 0x80 >> bit
            bits.append(packed(bytes(payload)) ^ zero)
        table = [0] * 256
        for value in range(1, 256):
            lowest = value & -value
            table[value] = table[value ^ lowest] ^ bits[8 - lowest.bit_length()]
        tables.append(tuple(table))
    return zero, tuple(tables)


def _modules(data: str) -> tuple[_Plan, str]:
    """The plan of ``data``'s QR code and its modules, top row first, as ``"0"`` (light) and
    ``"1"`` (dark): each row ``plan.row_bits`` long, its modules then light padding."""
    raw = data.encode("utf-8")
    plan = _fit(len(raw))
    codewords = _codewords(raw, plan)
    total = len(codewords) * 8 + plan.remainder
    masked = (int.from_bytes(codewords, "big") << plan.remainder) ^ plan.mask
    return plan, "".join(plan.gather(format(masked, f"0{total}b") + "01"))


def qr_rows(data: str) -> list[str]:
    """The QR code of ``data`` (UTF-8, byte mode, level M, mask 0, smallest version) as rows
    of ``"0"`` (light) and ``"1"`` (dark), top row first, without the quiet zone."""
    plan, flat = _modules(data)
    size, stride = plan.size, plan.row_bits
    return [flat[i : i + size] for i in range(0, len(flat), stride)]


def qr_packed(data: str) -> tuple[int, int, bytes]:
    """``(size, bytes per row, packed rows)``: the rows of :func:`qr_rows`, each padded with
    light modules to whole bytes, most significant bit leftmost, as
    :func:`portal.documents.pdf_writer.packed_grid_path` draws them (without the strings)."""
    raw = data.encode("utf-8")
    plan = _fit(len(raw))
    payload = _payload(raw, plan)
    if plan.version <= TABLE_VERSIONS:
        zero, tables = _byte_tables(plan.version)
        value = reduce(xor, map(getitem, tables, payload), zero)
    else:
        value = _packed_value(_interleaved(payload, plan), plan)
    chunks = plan.row_bits // 8
    return plan.size, chunks, value.to_bytes(plan.size * chunks, "big")
