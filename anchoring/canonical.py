"""RFC 8785 (JSON Canonicalization Scheme, JCS) serialisation.

PROOF-CRITICAL: every data hash in the evidence log is SHA-256 over these bytes.

``canonical_json(obj)`` returns exactly ``rfc8785.dumps(obj)``, the reference this module is
tested against. It is faster because it first lets ``orjson`` (a C/Rust serialiser, about 15x
faster) write the document with sorted keys, and then accepts that output only when it can
show, by looking at the output itself, that RFC 8785 would have written the same bytes.
Otherwise it falls back to ``rfc8785.dumps``.

Why orjson's compact output equals JCS except in the cases handled below (RFC 8785 §3.2):

* Whitespace (§3.2.1): orjson writes none, like JCS.
* Literals ``true``/``false``/``null``: identical. But orjson also writes NaN and infinities
  as ``null`` where JCS rejects them. So when the output contains ``null`` it is read back
  and compared with the input: NaN and infinities never compare equal to None, so equality
  proves every ``null`` stood for None; otherwise the fallback raises as the reference does.
* Strings (§3.2.2.2): both write UTF-8, escape only ``"``, ``\\`` and U+0000..U+001F, using
  ``\\b \\t \\n \\f \\r`` where they exist and lowercase ``\\u00xx`` otherwise; neither
  escapes U+007F, U+2028, U+2029 or anything non-ASCII. Lone surrogates make orjson raise
  (fallback, where ``rfc8785`` raises too).
* Integers: both write decimal digits. JCS admits only |n| <= 2**53 - 1 (the IEEE 754 safe
  range); ``OPT_STRICT_INTEGER`` makes orjson refuse the others (fallback, which raises).
* Floats (§3.2.2.3, ECMAScript Number::toString): both use the shortest digit string that
  round-trips (orjson's writer; CPython's ``repr``, which ``rfc8785`` reformats). The
  notations differ: orjson writes ``13.0`` where JCS writes ``13`` (integral floats, the only
  difference measured on real OCDS), ``-0.0`` for ``0``, ``1e-6`` for ``0.000001`` and
  ``1e+16`` for ``10000000000000000``. So: any exponent-form token sends the document to the
  fallback; a plain-decimal token whose fraction ends in a non-zero digit (and has fewer than
  five leading zeros) is accepted as is; integral floats (fraction ``.0``) have the ``.0``
  removed, which is exactly the JCS form of an integral value below 10**21, and the result
  is then read back and compared with the input, which proves that only number tokens were
  touched (a ``.0`` removed inside a string would change that string); ``-0.0`` goes to the
  fallback.
* Object member order (§3.2.3): JCS sorts by UTF-16 code units, orjson by code points
  (``OPT_SORT_KEYS`` compares UTF-8 bytes). The two orders agree unless a member name holds
  a character outside the Basic Multilingual Plane (UTF-16 sorts its surrogates before
  U+E000..U+FFFF), so any document containing such a character anywhere goes to the fallback.

The checks are searches of the output done in C (byte and substring searches, a regular
expression for fractions), measured cheaper than first rewriting the output with a table:

* a character outside the BMP is written in UTF-8 with a lead byte F0..F4 (F5..FF never
  occur): five searches for one byte;
* every exponent token orjson writes holds a digit, ``e``, a sign and digits (``1e-7``,
  ``1.5e+16``; pinned by the tests): each ``e-``, and each ``e+`` (looked for only when the
  output holds a ``+``), with a digit before it and digits then ``,``, ``}`` or ``]`` after it
  sends the document to the fallback;
* every plain-decimal token is a ``.``, digits and then ``,``, ``}`` or ``]`` (in compact JSON
  every number ends right before one of them): the regular expression finds each fraction.

Text inside strings can look like a token (``"3e-"``, ``"v1.50]"``); such false alarms only
cost speed. A real token cannot be missed: its bytes are contiguous and always match.

Input must be JSON data: ``dict`` (``str`` keys), ``list``/``tuple``, ``str``, ``int``,
``float``, ``bool``, ``None``. Datetimes, dataclasses and subclasses of the builtins are
routed to ``rfc8785``, which rejects or handles them as the reference does. ``uuid.UUID`` and
``enum.Enum`` values are not JSON data either: orjson would write them, so callers must not
pass them (the portal hands this function parsed JSON only).

Residual trust: for non-integral floats in plain notation the fast path relies on orjson and
CPython choosing the same shortest round-trip digits (both pick, among the shortest strings
that round-trip, the one closest to the binary value). The tests check this on every real
release, on a sweep of powers of ten, on tens of thousands of random doubles and on
hypothesis-generated documents.
"""

import hashlib
import re
from typing import Any

import orjson
import rfc8785

from anchoring.errors import CanonicalError

__all__ = ["canonical_json", "canonical_sha256", "takes_fast_path"]

_ORJSON_OPTIONS = (
    orjson.OPT_SORT_KEYS
    # Integers beyond +-(2**53 - 1) raise, as in rfc8785; the fallback then raises its error.
    | orjson.OPT_STRICT_INTEGER
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)

# The fractional part of every plain-decimal number token. In compact JSON a number is
# followed by ',', '}' or ']'. Text inside strings can match too ("v1.5]"); see module doc.
_FRACTION = re.compile(rb"\.([0-9]+)(?=[,}\]])")

# The tail of an exponent token from its last mantissa digit ("5e-7,", "1e+16]").
_EXPONENT_TOKEN = re.compile(rb"[0-9]e[-+][0-9]+[,}\]]")

# The ".0" of an integral float as orjson writes it below 10**16 ("13.0"), which JCS omits:
# a literal first (fast to search), then a digit before it and a value end after it.
_INTEGRAL_FRACTION = re.compile(rb"\.0(?=[,}\]])(?<=[0-9]\.0)")

# Negative zero, which JCS writes as "0" (§3.2.2.3), and orjson as "-0.0".
_NEGATIVE_ZERO = re.compile(rb"-0\.0(?=[,}\]])")

# Outcomes of _check.
_EXACT, _NEEDS_READ_BACK, _INTEGRAL_FLOATS, _UNPROVEN = range(4)


def _refuse(obj: Any) -> Any:
    """orjson ``default`` hook: refuse every non-JSON type so the reference decides."""
    raise TypeError(f"not JSON data: {type(obj).__name__}")


def _check(out: bytes) -> int:
    """Classify orjson's output ``out``: provably JCS, or what stands in the way."""
    if 0xF0 in out or 0xF1 in out or 0xF2 in out or 0xF3 in out or 0xF4 in out:
        return _UNPROVEN  # a non-BMP character: member order might differ (§3.2.3)
    if _exponent(out, b"e-") or (0x2B in out and _exponent(out, b"e+")):
        return _UNPROVEN  # exponent notation: JCS thresholds differ (1e-6 vs 0.000001)
    integral_floats = False
    for fraction in _FRACTION.findall(out):  # each plain-decimal number token (or look-alike text)
        if fraction == b"0":
            integral_floats = True  # orjson "13.0", JCS "13"
        elif fraction[-1:] == b"0" or fraction.startswith(b"00000"):
            return _UNPROVEN  # not a shape orjson writes for a shortest round-trip float
    if integral_floats:
        return _INTEGRAL_FLOATS
    return _NEEDS_READ_BACK if out.find(b"null") >= 0 else _EXACT


def _exponent(out: bytes, mark: bytes) -> bool:
    """Whether an exponent token with ``mark`` (``e-`` or ``e+``) may be in ``out``: each
    occurrence of the mark is checked for a digit before it and digits then a value end after
    it (ids such as UUIDs hold "8e-9833-" in text)."""
    at = out.find(mark)
    while at >= 0:
        if _EXPONENT_TOKEN.match(out, at - 1):  # at >= 1: out starts with "{" or "["
            return True
        at = out.find(mark, at + 2)
    return False


def _fast(obj: Any) -> bytes | None:
    """orjson's serialisation of ``obj``, adjusted, if provably equal to RFC 8785; else None."""
    try:
        out = orjson.dumps(obj, default=_refuse, option=_ORJSON_OPTIONS)
    except (orjson.JSONEncodeError, TypeError):
        return None
    verdict = _check(out)
    if verdict == _EXACT:
        return out
    if verdict == _UNPROVEN:
        return None
    if verdict == _INTEGRAL_FLOATS:
        if _NEGATIVE_ZERO.search(out) is not None:
            return None
        # Integral values below 10**21 are written by JCS as plain integer digits, so
        # dropping orjson's ".0" gives the JCS form. Every integral float token loses its
        # ".0" here, so none is left for the read-back comparison below to miss.
        out = _INTEGRAL_FRACTION.sub(b"", out)
    # Read back and compare. Equality proves that (a) every null stood for None, not for a
    # NaN or infinity orjson replaced (they never compare equal to None), and (b) the
    # rewrite above touched number tokens only: a rewrite inside a string would change that
    # string. 13 == 13.0 in Python, so rewritten integers compare equal to their floats.
    return out if orjson.loads(out) == obj else None


def canonical_json(obj: Any) -> bytes:
    """Serialise JSON data ``obj`` to its RFC 8785 canonical bytes.

    Byte-identical to ``rfc8785.dumps(obj)``. Raises :class:`~anchoring.errors.CanonicalError`
    where that raises (``rfc8785.CanonicalizationError``, kept as the cause) for values JCS cannot
    represent (NaN, infinities, integers beyond 2**53 - 1, non-string keys, lone surrogates,
    types JSON does not have).
    """
    if type(obj) is dict or type(obj) is list:
        out = _fast(obj)
        if out is not None:
            # orjson returns its whole output buffer (at least about 4 KB) with a shortened
            # length; copy, or every small result kept in memory (log entries) costs 4 KB.
            return bytes(memoryview(out))
    try:
        return rfc8785.dumps(obj)
    except (rfc8785.CanonicalizationError, UnicodeEncodeError) as error:  # a lone surrogate in a key
        raise CanonicalError(str(error)) from error


def takes_fast_path(obj: Any) -> bool:
    """True if :func:`canonical_json` serialises ``obj`` by its fast path (orjson, proven equal)
    rather than by the ``rfc8785`` reference: what the speed claim rests on."""
    return (type(obj) is dict or type(obj) is list) and _fast(obj) is not None


def canonical_sha256(obj: Any) -> bytes:
    """SHA-256 of the RFC 8785 canonical bytes of ``obj`` (32 bytes)."""
    return hashlib.sha256(canonical_json(obj)).digest()
