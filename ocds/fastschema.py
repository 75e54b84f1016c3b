"""jsonschema-rs verdicts that agree with jsonschema: the fast path of :mod:`ocds.validate`.

jsonschema is the reference; jsonschema-rs is about 60 times faster on releases. Where the two
would judge differently, the schema given to jsonschema-rs is rewritten, or the instance is left
to jsonschema (the reasons are in :mod:`ocds.validate`'s docstring):

* :data:`FORMAT_CHECKER` is the one format table; :func:`fast_formats` hands jsonschema-rs the
  very same Python functions;
* :func:`rust_regex` rewrites a Python regex into one jsonschema-rs matches on exactly the same
  strings, or raises :class:`UntranslatablePattern`; :func:`for_rust` does it to a whole schema;
* :func:`compile_fast` builds the jsonschema-rs verdict function of a schema;
* :data:`UNTYPED_INSIDE` finds the values a JSON document cannot hold (NaN, infinities), which
  jsonschema-rs sees as of no type.

Public so that each can be tested against jsonschema on its own
(``tests/ocds/test_validate_fast_path.py``); callers want :class:`ocds.validate.SchemaChecker`.
"""

from __future__ import annotations

import functools
import re
import re._constants as sre
import re._parser as sre_parse
from collections.abc import Callable, Iterable
from typing import Any, Literal

import jsonschema_rs
from jsonschema import Draft4Validator, FormatChecker

__all__ = [
    "FORMAT_CHECKER",
    "UNTYPED_INSIDE",
    "Draft",
    "UntranslatablePattern",
    "compile_fast",
    "fast_formats",
    "for_rust",
    "format_patterns",
    "rust_regex",
]

# RFC 3986 section 3.1: scheme ":" then something. No whitespace anywhere: a URL with a space in
# it is what breaks a citizen's link.
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:\S+\Z")


def _is_uri(instance: object) -> bool:
    """Whether a string is an absolute URI (lenient: scheme, colon, no whitespace)."""
    return not isinstance(instance, str) or _URI.match(instance) is not None


def _format_checker() -> FormatChecker:
    # Start from jsonschema's draft 4 checker (date-time via rfc3339-validator, email, ipv4...)
    # and add "uri", which jsonschema only checks when the optional rfc3987 package is present.
    checker = FormatChecker(formats=())
    checker.checkers = dict(Draft4Validator.FORMAT_CHECKER.checkers)
    checker.checks("uri")(_is_uri)
    if "date-time" not in checker.checkers:  # pragma: no cover - guards a broken install
        raise ImportError("rfc3339-validator is required so that date-time formats are checked")
    return checker


#: The one format table both validators use.
FORMAT_CHECKER: FormatChecker = _format_checker()


def fast_formats(names: Iterable[str]) -> dict[str, Callable[[str], bool]]:
    """jsonschema-rs formats: each of ``names`` (and of FORMAT_CHECKER's) checked exactly as
    FORMAT_CHECKER does, or not at all, so that no built-in jsonschema-rs format check applies."""
    formats: dict[str, Callable[[str], bool]] = {}
    for name in sorted({*names, *FORMAT_CHECKER.checkers}):
        if name not in FORMAT_CHECKER.checkers:
            formats[name] = _always  # jsonschema does not check it: neither may jsonschema-rs
            continue
        func, raises = FORMAT_CHECKER.checkers[name]
        # Calling the checker function directly is ~1.5x faster than FormatChecker.conforms;
        # the few checkers that signal failure by raising keep the conforms wrapper.
        if raises:
            func = functools.partial(FORMAT_CHECKER.conforms, format=name)
        if name == "date-time":  # the same few dates recur across a release's many objects
            func = functools.lru_cache(maxsize=65536)(func)
        formats[name] = func
    return formats


def _always(instance: object) -> bool:
    return True


# Formats whose check jsonschema-rs runs as a ``pattern`` of its own rather than by calling back
# into Python: a callback costs about 2 µs (a string converted, a call, a cache lookup), and a
# release has about ten dates, half its validation time. Each pattern accepts exactly the strings
# the FORMAT_CHECKER function accepts (``tests/ocds/test_validate_fast_path.py`` proves it
# on every calendar day of several years and on generated and mutated strings).
#
# date-time: jsonschema checks ``rfc3339_validator.validate_rfc3339(text.upper())``: its regex
# (ASCII digits; Python's ``$`` also before a final newline; ``T`` and ``Z`` in either case, as
# upper() makes them; no other character uppercases into the regex's alphabet), then a year other
# than 0 and a day that exists in its month (Gregorian leap years). Both conditions are written
# into the pattern: the months of 31, of 30 and February to the 28th in any year from 0001, and
# the 29th of February in years divisible by 4 but not by 100 (a nonzero last pair of digits
# divisible by 4) or divisible by 400 (a first pair divisible by 4, other than 00).
_YEAR = "(?:000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})"
_BY_FOUR = "(?:0[48]|[2468][048]|[13579][26])"  # 04, 08, ..., 96: nonzero multiples of 4
_DAY = (
    f"(?:{_YEAR}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
    "|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)"
    "|02-(?:0[1-9]|1[0-9]|2[0-8]))"
    f"|(?:[0-9]{{2}}{_BY_FOUR}|{_BY_FOUR}00)-02-29)"
)
_TIME = (
    "[Tt](?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\\.[0-9]+)?(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
)
DATE_TIME_PATTERN = f"^{_DAY}{_TIME}\\n?$"


@functools.cache
def format_patterns() -> dict[str, str]:
    """jsonschema-rs patterns (ECMA 262, no lookaround) for formats of FORMAT_CHECKER: each
    accepts a string exactly when FORMAT_CHECKER's function does (non-strings pass both)."""
    return {
        "date-time": DATE_TIME_PATTERN,
        # _is_uri is ``_URI.match``: the same regex, anchored at the start, translated.
        "uri": rust_regex("^(?:" + _URI.pattern + ")"),
    }


class UntranslatablePattern(ValueError):
    """A schema regex the fast path cannot reproduce exactly (see :func:`rust_regex`)."""


_MAX_CHAR = 0x10FFFF
_SURROGATES = (0xD800, 0xDFFF)
_CATEGORIES = {
    sre.CATEGORY_DIGIT: r"\d",
    sre.CATEGORY_NOT_DIGIT: r"\D",
    sre.CATEGORY_SPACE: r"\s",
    sre.CATEGORY_NOT_SPACE: r"\S",
    sre.CATEGORY_WORD: r"\w",
    sre.CATEGORY_NOT_WORD: r"\W",
}

_Spans = list[tuple[int, int]]


def _union(spans: Iterable[tuple[int, int]]) -> _Spans:
    merged: _Spans = []
    for low, high in sorted(spans):
        if merged and low <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return merged


def _complement(spans: _Spans) -> _Spans:
    result, start = [], 0
    for low, high in spans:
        if low > start:
            result.append((start, low - 1))
        start = high + 1
    if start <= _MAX_CHAR:
        result.append((start, _MAX_CHAR))
    return result


@functools.cache
def _category(category: Any) -> tuple[tuple[int, int], ...]:
    """The characters Python's ``re`` puts in a category (``\\d``, ``\\W``...), as spans."""
    every_char = "".join(map(chr, range(_MAX_CHAR + 1)))  # index == code point
    found = re.finditer(_CATEGORIES[category] + "+", every_char)
    return tuple((match.start(), match.end() - 1) for match in found)


def _char_class(spans: _Spans) -> str:
    """An ECMA 262 class of ``spans``, without surrogates (no str jsonschema-rs sees has one)."""
    items = []
    for low, high in _union([*spans, _SURROGATES]):
        pieces = [(low, min(high, _SURROGATES[0] - 1)), (max(low, _SURROGATES[1] + 1), high)]
        for a, b in pieces:
            if a < b:
                items.append(f"\\u{{{a:X}}}-\\u{{{b:X}}}")
            elif a == b:
                items.append(f"\\u{{{a:X}}}")
    if not items:
        raise UntranslatablePattern("a class that matches nothing")
    return "[" + "".join(items) + "]"


def _in(members: list[tuple[Any, Any]]) -> _Spans:
    negate = bool(members) and members[0][0] is sre.NEGATE
    spans: _Spans = []
    for op, av in members[1:] if negate else members:
        if op is sre.LITERAL:
            spans.append((av, av))
        elif op is sre.RANGE:
            spans.append(av)
        elif op is sre.CATEGORY and av in _CATEGORIES:
            spans.extend(_category(av))
        else:
            raise UntranslatablePattern(f"character class member {op} {av}")
    spans = _union(spans)
    return _complement(spans) if negate else spans


def _sequence(items: Iterable[tuple[Any, Any]], tail: bool) -> str:
    items = list(items)
    return "".join(_node(op, av, tail and i == len(items) - 1) for i, (op, av) in enumerate(items))


def _node(op: Any, av: Any, tail: bool) -> str:
    """One parsed ``re`` node as ECMA 262 (u); ``tail``: nothing can follow it in the pattern."""
    if op is sre.LITERAL:
        char = chr(av)
        if char.isascii() and (char.isalnum() or char == "_"):
            return char
        if _SURROGATES[0] <= av <= _SURROGATES[1]:
            raise UntranslatablePattern("a lone surrogate never reaches jsonschema-rs")
        return f"\\u{{{av:X}}}"
    if op is sre.NOT_LITERAL:
        return _char_class(_complement([(av, av)]))
    if op is sre.ANY:  # no DOTALL: anything but a newline
        return _char_class(_complement([(10, 10)]))
    if op is sre.IN:
        return _char_class(_in(av))
    if op is sre.AT:
        if av in (sre.AT_BEGINNING, sre.AT_BEGINNING_STRING):
            return "^"
        if av is sre.AT_END_STRING:
            return "$"
        if av is sre.AT_END and tail:
            # Python's "$": the end, or just before a newline that ends the string. As the last
            # thing in the pattern, consuming that newline changes nothing.
            return r"\n?$"
        raise UntranslatablePattern(f"{av} not at the end of the pattern")
    if op is sre.SUBPATTERN:
        _group, add_flags, del_flags, pattern = av
        if add_flags or del_flags:
            raise UntranslatablePattern("inline flags")
        return f"(?:{_sequence(pattern, tail)})"
    if op is sre.BRANCH:
        return "(?:" + "|".join(_sequence(branch, tail) for branch in av[1]) + ")"
    if op in (sre.MAX_REPEAT, sre.MIN_REPEAT):
        low, high, pattern = av
        bounds = f"{{{low},}}" if high is sre.MAXREPEAT else f"{{{low},{high}}}"
        lazy = "?" if op is sre.MIN_REPEAT else ""
        return f"(?:{_sequence(pattern, False)}){bounds}{lazy}"
    raise UntranslatablePattern(f"{op}")  # lookarounds, backreferences, \b, atomic groups...


@functools.cache
def rust_regex(pattern: str) -> str:
    """A regex that jsonschema-rs matches on exactly the strings ``re.search(pattern, s)`` does.

    Written from Python's own parse of the pattern, in the part of ECMA 262 that jsonschema-rs
    and Rust read alike: every character other than ASCII letters, digits and ``_`` as a
    ``\\u{..}`` escape; every class (``[...]``, ``\\d``, ``.``) as the explicit list of the code
    points Python's ``re`` puts in it; ``^`` as is, a final ``$`` as ``\\n?$``; groups that do not
    capture. Anything else raises :class:`UntranslatablePattern`.
    """
    try:
        parsed = sre_parse.parse(pattern)
    except re.error as error:
        raise UntranslatablePattern(f"{pattern!r}: {error}") from error
    if parsed.state.flags & ~(re.UNICODE | re.VERBOSE):
        raise UntranslatablePattern(f"{pattern!r}: flags")
    try:
        return _sequence(parsed, tail=True)
    except UntranslatablePattern as error:
        raise UntranslatablePattern(f"{pattern!r}: {error}") from None


#: The JSON Schema drafts the fast path is built for: 4 (OCDS) and 7 (source orders).
Draft = Literal[4, 7]

_SCHEMA_MAPS = ("definitions", "properties", "dependencies")
_SCHEMA_ITEMS = ("items", "additionalItems", "additionalProperties", "not", "allOf", "anyOf", "oneOf")
# Keywords whose values are subschemas, by draft: draft 6 added contains and propertyNames,
# draft 7 if/then/else.
_DRAFT_SCHEMA_ITEMS: dict[int, tuple[str, ...]] = {
    4: _SCHEMA_ITEMS,
    7: (*_SCHEMA_ITEMS, "contains", "propertyNames", "if", "then", "else"),
}


def for_rust(node: Any, formats: set[str], draft: Draft = 4, patterns: dict[str, str] | None = None) -> Any:
    """A ``draft`` schema with its regexes rewritten by :func:`rust_regex`; ``formats`` collects
    the formats it names. Walks only subschemas: a property called ``pattern`` stays one.

    ``patterns``: formats checked by a pattern instead (:func:`format_patterns`): such a
    ``format`` becomes that ``pattern`` and is not collected (unless its schema has a pattern
    of its own: then it stays a format)."""
    if not isinstance(node, dict):
        return node
    schema_items = _DRAFT_SCHEMA_ITEMS[draft]
    result: dict[str, Any] = {}
    for key, value in node.items():
        if key == "pattern" and isinstance(value, str):
            value = rust_regex(value)
        elif (
            key == "format"
            and isinstance(value, str)
            and patterns
            and value in patterns
            and "pattern" not in node
        ):
            result["pattern"] = patterns[value]
            continue
        elif key == "format" and isinstance(value, str):
            formats.add(value)
        elif key == "patternProperties" and isinstance(value, dict):
            value = {rust_regex(k): for_rust(v, formats, draft, patterns) for k, v in value.items()}
            if len(value) < len(node[key]):  # pragma: no cover - two spellings of one regex
                raise UntranslatablePattern(f"patternProperties collide: {list(node[key])}")
        elif key in _SCHEMA_MAPS and isinstance(value, dict):
            value = {k: for_rust(v, formats, draft, patterns) for k, v in value.items()}
        elif key in schema_items and isinstance(value, list):
            value = [for_rust(v, formats, draft, patterns) for v in value]
        elif key in schema_items:
            value = for_rust(value, formats, draft, patterns)
        result[key] = value
    return result


def compile_fast(
    schema: dict[str, Any], *, draft: Draft = 4, check_formats: bool = True
) -> Callable[[Any], bool]:
    """jsonschema-rs's verdict for ``schema``, with jsonschema's formats and regex semantics.

    ``check_formats=False`` checks no format at all, as jsonschema does without a format checker.
    """
    formats: set[str] = set()
    rust_schema = for_rust(schema, formats, draft, format_patterns() if check_formats else None)
    rust_validator = jsonschema_rs.Draft4Validator if draft == 4 else jsonschema_rs.Draft7Validator
    # With every format the schema names turned into a pattern, no format is left for jsonschema-rs
    # to check, built in or not: formats off. (Merely registering Python format functions, used
    # or not, costs about a quarter of a release's validation.)
    if check_formats and formats:
        validator = rust_validator(
            rust_schema,
            formats=fast_formats(formats),
            validate_formats=True,
            ignore_unknown_formats=True,
            offline=True,  # every $ref is within the schema: never the network, never a file
        )
    else:
        validator = rust_validator(rust_schema, validate_formats=False, offline=True)
    return validator.is_valid


# Matches a document holding, anywhere, a value of no JSON type for jsonschema-rs: what NaN and
# +-Infinity (which json.loads reads, orjson does not) become in Rust. jsonschema sees numbers.
UNTYPED_INSIDE = jsonschema_rs.Draft7Validator(
    {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "anyOf": [
            {"not": {"type": ["null", "boolean", "object", "array", "number", "string"]}},
            {"type": "array", "contains": {"$ref": "#"}},
            {"type": "object", "not": {"additionalProperties": {"not": {"$ref": "#"}}}},
        ],
    },
    offline=True,
)
