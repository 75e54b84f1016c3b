"""Validate releases and packages against the Veraz OCDS schema (1.1.5 plus declared extensions).

Two validators are built from the same schema and must always reach the same verdict:

* a jsonschema-rs ``Draft4Validator``, the *verdict* fast path (on the releases of ``bench/``
  about 60x faster than jsonschema, 10x faster than the fastjsonschema function it replaced),
  which stops at the first error and says only "valid" or "invalid";
* a jsonschema ``Draft4Validator``, run only when the fast path says "invalid", which lists every
  error with its path, so a publisher sees all of them at once.

jsonschema is the reference: wherever jsonschema-rs would judge differently, the fast path is
made to agree with it (``tests/ocds/test_validate_differential.py`` checks the verdicts on every
real release, on one must-agree case per difference and on mutated releases):

* Formats. jsonschema-rs checks every format it knows (``uri``, ``email``, even ``date``) under
  Draft 4, with its own rules; jsonschema does not check ``uri`` at all unless ``rfc3987`` is
  installed. So both use one format table, :data:`FORMAT_CHECKER`, and jsonschema-rs is given
  the very same Python functions for every format the schema names (and every format the table
  knows); a format the table does not check is accepted by both.
* Regular expressions (``pattern``, ``patternProperties``). jsonschema runs them with Python's
  ``re`` (``$`` also matches before a final newline, ``\\d`` is any Unicode decimal digit);
  jsonschema-rs with ECMA 262 rules (``\\d`` is ``[0-9]``, ``$`` is the end). Each pattern is
  rewritten, for the fast path only, into an equivalent expression with no such ambiguity
  (:func:`_rust_regex`), or the schema is refused.
* Values a JSON document cannot hold: non-finite floats (``json.loads`` accepts ``NaN``) are of
  no type for jsonschema-rs, and strings with lone surrogates cannot be passed to it at all. In
  both cases jsonschema gives the verdict. (Inputs are parsed JSON: dict, list, str, int, float,
  bool, None; ``1.0`` is not an ``integer`` for either library under Draft 4, ``True`` is never
  ``1``, and ``$ref``s resolve within the schema, never over the network.)

The same machinery (:class:`SchemaChecker`, draft 7, no formats) gives the verdict on source
orders (:mod:`ocds.catalogue.source`), there equal to jsonschema's ``Draft7Validator``'s.

Compiled validators are cached per process (:func:`functools.cache`): a :class:`ReleaseValidator`
holds no state, so it pickles to nothing and a worker process (fork or spawn) compiles its own
copy on first use.
"""

from __future__ import annotations

import copy
import functools
import re
import re._constants as sre
import re._parser as sre_parse
from collections.abc import Callable, Iterable
from typing import Any, Literal

import jsonschema_rs
from jsonschema import Draft4Validator, Draft7Validator, FormatChecker
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from ocds import schema as ocds_schema
from ocds.errors import InputError, Problem, ValidationFailed

__all__ = [
    "FORMAT_CHECKER",
    "ReleaseValidator",
    "SchemaChecker",
    "package_problems",
    "release_problems",
    "validate_release",
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


def _fast_formats(names: Iterable[str]) -> dict[str, Callable[[str], bool]]:
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


class UntranslatablePattern(ValueError):
    """A schema regex the fast path cannot reproduce exactly (see :func:`_rust_regex`)."""


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
def _rust_regex(pattern: str) -> str:
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


def _for_rust(node: Any, formats: set[str], draft: Draft = 4) -> Any:
    """A ``draft`` schema with its regexes rewritten by :func:`_rust_regex`; ``formats`` collects
    the formats it names. Walks only subschemas: a property called ``pattern`` stays one."""
    if not isinstance(node, dict):
        return node
    schema_items = _DRAFT_SCHEMA_ITEMS[draft]
    result: dict[str, Any] = {}
    for key, value in node.items():
        if key == "pattern" and isinstance(value, str):
            value = _rust_regex(value)
        elif key == "format" and isinstance(value, str):
            formats.add(value)
        elif key == "patternProperties" and isinstance(value, dict):
            value = {_rust_regex(k): _for_rust(v, formats, draft) for k, v in value.items()}
            if len(value) < len(node[key]):  # pragma: no cover - two spellings of one regex
                raise UntranslatablePattern(f"patternProperties collide: {list(node[key])}")
        elif key in _SCHEMA_MAPS and isinstance(value, dict):
            value = {k: _for_rust(v, formats, draft) for k, v in value.items()}
        elif key in schema_items and isinstance(value, list):
            value = [_for_rust(v, formats, draft) for v in value]
        elif key in schema_items:
            value = _for_rust(value, formats, draft)
        result[key] = value
    return result


def _compile_fast(
    schema: dict[str, Any], *, draft: Draft = 4, check_formats: bool = True
) -> Callable[[Any], bool]:
    """jsonschema-rs's verdict for ``schema``, with jsonschema's formats and regex semantics.

    ``check_formats=False`` checks no format at all, as jsonschema does without a format checker.
    """
    formats: set[str] = set()
    rust_schema = _for_rust(schema, formats, draft)
    rust_validator = jsonschema_rs.Draft4Validator if draft == 4 else jsonschema_rs.Draft7Validator
    if check_formats:
        validator = rust_validator(
            rust_schema,
            formats=_fast_formats(formats),
            validate_formats=True,
            ignore_unknown_formats=True,
            offline=True,  # every $ref is within the schema: never the network, never a file
        )
    else:
        validator = rust_validator(rust_schema, validate_formats=False, offline=True)
    return validator.is_valid


# Matches a document holding, anywhere, a value of no JSON type for jsonschema-rs: what NaN and
# +-Infinity (which json.loads reads, orjson does not) become in Rust. jsonschema sees numbers.
_UNTYPED_INSIDE = jsonschema_rs.Draft7Validator(
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


def _registry(extra: Iterable[dict[str, Any]] = ()) -> Registry:
    """A referencing registry holding the patched release schema (and ``extra``) by their ids."""
    schemas = [ocds_schema.release_schema(), *extra]
    return Registry().with_resources(
        (s["id"], Resource.from_contents(s, default_specification=DRAFT4)) for s in schemas
    )


class SchemaChecker:
    """A fast verdict function and a slow explaining validator built from one schema.

    ``draft`` 4 (the default) is for OCDS schemas: ``registry`` defaults to one holding the
    release schema. ``draft`` 7 is for schemas that only refer within themselves (the source-order
    schema). ``check_formats``: check formats with :data:`FORMAT_CHECKER` in both validators (the
    default), or, as a jsonschema validator given no format checker does, not at all.
    """

    def __init__(
        self,
        schema: dict[str, Any],
        registry: Registry | None = None,
        *,
        draft: Draft = 4,
        check_formats: bool = True,
    ) -> None:
        self._fast = _compile_fast(schema, draft=draft, check_formats=check_formats)
        format_checker = FORMAT_CHECKER if check_formats else None
        self._slow: Draft4Validator | Draft7Validator
        if draft == 4:
            self._slow = Draft4Validator(
                schema, registry=registry or _registry(), format_checker=format_checker
            )
        elif registry is not None:
            self._slow = Draft7Validator(schema, registry=registry, format_checker=format_checker)
        else:
            self._slow = Draft7Validator(schema, format_checker=format_checker)

    def is_valid(self, instance: Any) -> bool:
        """The verdict: jsonschema-rs's, or jsonschema's where jsonschema-rs cannot judge."""
        try:
            if self._fast(instance):
                return True
            # Invalid for jsonschema-rs. Only a value JSON cannot hold (NaN) makes it stricter.
            if not _UNTYPED_INSIDE.is_valid(instance):
                return False
        except Exception:  # e.g. a lone surrogate: not representable in Rust
            pass
        return self._slow.is_valid(instance)

    def explain(self, instance: Any) -> list[Problem]:
        """Every error jsonschema finds, as problems sorted by field."""
        problems = {_problem(error) for error in self._slow.iter_errors(instance)}
        return sorted(problems, key=lambda p: (p.field, p.reason))

    def problems(self, instance: Any) -> list[Problem]:
        """No problems when the fast path says valid, else the full explanation."""
        try:
            if self._fast(instance):
                return []
        except Exception:  # not representable in Rust: jsonschema judges alone
            pass
        problems = self.explain(instance)
        if problems or self.is_valid(instance):  # valid after all: NaN, a lone surrogate
            return problems
        # The validators disagree on plain JSON: a bug, never silently "valid".
        return [Problem("", "rejected by the fast validator but not explained (bug)")]


#: The former private name, which tests/ocds/test_validate_*.py use.
_Checker = SchemaChecker

_REASON_LIMIT = 300


def _problem(error: ValidationError) -> Problem:
    """One jsonschema error as a Problem whose field is the path of the offending value."""
    path = [str(part) for part in error.absolute_path]
    reason = error.message
    if error.validator == "required":
        # Point at the missing field itself, the way a publisher thinks of it.
        missing = re.match(r"^'(.*)' is a required property$", error.message)
        if missing:
            path.append(missing.group(1))
            reason = "is required but missing"
    if len(reason) > _REASON_LIMIT:
        reason = reason[: _REASON_LIMIT - 1] + "…"
    return Problem("/".join(path), reason)


@functools.cache
def _release_checker() -> SchemaChecker:
    # Cached per process; each worker compiles its own on first use.
    return SchemaChecker(ocds_schema.release_schema())


class ReleaseValidator:
    """Validates releases against the patched OCDS release schema.

    Cheap to construct and picklable: the compiled validators live in a per-process cache and
    are built on first use.
    """

    def is_valid(self, release: Any) -> bool:
        """Whether the release is valid (fast path only)."""
        return _release_checker().is_valid(release)

    def problems(self, release: Any) -> list[Problem]:
        """Every problem with the release; an empty list means it is valid."""
        if not isinstance(release, dict):
            return [Problem("", "a release must be a JSON object")]
        return _release_checker().problems(release)


def release_problems(release: Any) -> list[Problem]:
    """Every problem with one release (see :meth:`ReleaseValidator.problems`)."""
    return ReleaseValidator().problems(release)


def validate_release(release: Any) -> None:
    """Raise :class:`~ocds.errors.ValidationFailed` unless the release is valid."""
    problems = release_problems(release)
    if problems:
        raise ValidationFailed(problems)


_RELEASE_REF = ocds_schema.SCHEMA_BASE + "release-schema.json"
_VERSIONED_REF = ocds_schema.SCHEMA_BASE + "versioned-release-validation-schema.json"


def _shallow(node: Any) -> Any:
    """Replace references to (versioned) release schemas by a shallow object check.

    A release keeps its ``required`` fields: that is what tells an embedded release from a
    linked one (``{url, date, tag}``) in the record schema's ``oneOf``.
    """
    if isinstance(node, dict):
        if node.get("$ref") == _RELEASE_REF:
            return {"type": "object", "required": ocds_schema.release_schema()["required"]}
        if node.get("$ref") == _VERSIONED_REF:
            return {"type": "object"}
        return {key: _shallow(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_shallow(value) for value in node]
    return node


@functools.cache
def _package_checker(kind: str, paginated: bool) -> SchemaChecker:
    schema = _shallow(ocds_schema.package_schema(kind, paginated=paginated))
    return SchemaChecker(schema, _registry([copy.deepcopy(schema)]))


def package_problems(
    package: Any,
    kind: Literal["release", "record"],
    *,
    deep: bool = False,
) -> list[Problem]:
    """Problems with a release or record package.

    By default this checks the package *metadata* (``uri``, ``publisher``, ``version``,
    ``extensions``, linked releases of records, unique items...) and only that each release or
    compiled release is a JSON object: validating every release again is the slow part, and the
    publishing pipeline has already validated each release with :class:`ReleaseValidator`.
    Pass ``deep=True`` to also validate every embedded release and compiled release; their
    problems' fields are prefixed with their place in the package
    (``records/0/compiledRelease/...``).

    A package with ``links`` is checked against the schema patched with the pagination extension.
    Raises :class:`~ocds.errors.InputError` if ``kind`` is neither ``release`` nor ``record``.
    """
    if kind not in ("release", "record"):
        raise InputError([Problem("", f"kind must be 'release' or 'record', not {kind!r}")])
    if not isinstance(package, dict):
        return [Problem("", "a package must be a JSON object")]
    problems = _package_checker(kind, "links" in package).problems(package)
    if deep:
        validator = ReleaseValidator()
        for prefix, release in _embedded_releases(package, kind):
            problems.extend(
                Problem(f"{prefix}/{p.field}" if p.field else prefix, p.reason)
                for p in validator.problems(release)
            )
    # The shallow and the deep check can both report a missing required field.
    return list(dict.fromkeys(problems))


def _embedded_releases(package: dict[str, Any], kind: str) -> Iterable[tuple[str, Any]]:
    if kind == "release":
        releases = package.get("releases")
        if isinstance(releases, list):
            yield from ((f"releases/{i}", r) for i, r in enumerate(releases))
        return
    records = package.get("records")
    if not isinstance(records, list):
        return
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            continue
        releases = record.get("releases")
        if isinstance(releases, list):
            for j, release in enumerate(releases):
                # Linked releases ({url, date, tag}) were checked by the package schema.
                if isinstance(release, dict) and "ocid" in release:
                    yield f"records/{i}/releases/{j}", release
        if "compiledRelease" in record:
            yield f"records/{i}/compiledRelease", record["compiledRelease"]
