"""Validate releases and packages against the Veraz OCDS schema (1.1.5 plus declared extensions).

Two validators are compiled from the same schema and must always reach the same verdict:

* a fastjsonschema function, the *verdict* fast path (about 6x faster than jsonschema on real
  releases, see ``bench/``), which stops at the first error and says only "valid" or "invalid";
* a jsonschema ``Draft4Validator``, run only when the fast path says "invalid", which lists every
  error with its path, so a publisher sees all of them at once.

Formats are where the two libraries differ by default (fastjsonschema checks ``uri`` and
``email`` with its own regular expressions, jsonschema does not check ``uri`` at all unless
``rfc3987`` is installed). So both are given one format table, :data:`FORMAT_CHECKER`, and
fastjsonschema calls the very same functions. The differential test in
``tests/ocds/test_validate_differential.py`` checks that the verdicts agree on every real release.

Compiled validators are cached per process (:func:`functools.cache`): a :class:`ReleaseValidator`
holds no state, so it pickles to nothing and a worker process (fork or spawn) compiles its own
copy on first use (about 0.3 s).
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Callable, Iterable
from typing import Any, Literal

import fastjsonschema
import fastjsonschema.draft04
from jsonschema import Draft4Validator, FormatChecker
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from ocds import schema as ocds_schema
from ocds.errors import Problem, ValidationFailed

__all__ = [
    "FORMAT_CHECKER",
    "ReleaseValidator",
    "package_problems",
    "release_problems",
    "validate_release",
]

# RFC 3986 section 3.1: scheme ":" then something. No whitespace anywhere: a URL with a space in
# it is what breaks a citizen's link, and is what fastjsonschema's own "uri" regex rejects too.
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


def _fast_formats() -> dict[str, Callable[[str], bool]]:
    """fastjsonschema formats: each one checked exactly as FORMAT_CHECKER does, or not at all."""
    formats: dict[str, Callable[[str], bool]] = {}
    for name in fastjsonschema.draft04.CodeGeneratorDraft04.FORMAT_REGEXS:
        formats[name] = _always  # jsonschema does not check it: neither may fastjsonschema
    for name, (func, raises) in FORMAT_CHECKER.checkers.items():
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


def _registry(extra: Iterable[dict[str, Any]] = ()) -> Registry:
    """A referencing registry holding the patched release schema (and ``extra``) by their ids."""
    schemas = [ocds_schema.release_schema(), *extra]
    return Registry().with_resources(
        (s["id"], Resource.from_contents(s, default_specification=DRAFT4)) for s in schemas
    )


_LITERAL = r"'(?:[^'\\]|\\.)*'"
# fastjsonschema 2.22 writes a string enum as a chain of ``isinstance(v, str) and v == 'A' or
# isinstance(v, str) and v == 'B' or ...``: ~300 comparisons for a currency code in every Value.
# The same test as set membership is equivalent (only str instances, compared by equality) and
# constant-time; CPython folds a literal ``{...}`` after ``in`` into a frozenset constant.
_ENUM_CHAIN = re.compile(
    r"\((?P<chain>(?:isinstance\((?P<v>\w+), str\) and (?P=v) == " + _LITERAL + r" or )+"
    r"isinstance\((?P=v), str\) and (?P=v) == " + _LITERAL + r")"
)


def _enum_as_set(match: re.Match) -> str:
    var = match.group("v")
    values = re.findall(r"== (" + _LITERAL + ")", match.group("chain"))
    return f"(isinstance({var}, str) and {var} in {{{', '.join(values)}}}"


def _compile_fast(schema: dict[str, Any]) -> Callable[[Any], Any]:
    """fastjsonschema's validator for ``schema``, with string enums tested as sets.

    Verdicts are those of ``fastjsonschema.compile`` (the differential tests against jsonschema
    on the real corpus run on this function).
    """
    formats = _fast_formats()
    resolver, generator = fastjsonschema._factory(  # noqa: SLF001 - same steps as compile()
        schema, {}, formats, False, True, False, True
    )
    code = _ENUM_CHAIN.sub(_enum_as_set, generator.func_code)
    state = generator.global_state
    exec(compile(code, "<ocds release validator>", "exec"), state)  # noqa: S102
    func = state[resolver.get_scope_name()]
    return functools.partial(func, custom_formats=formats)


class _Checker:
    """A fast verdict function and a slow explaining validator compiled from one schema."""

    def __init__(self, schema: dict[str, Any], registry: Registry | None = None) -> None:
        # use_default=False: the release schema gives ``language`` a default ("en") and
        # fastjsonschema would otherwise write it into the release it validates.
        self._fast = _compile_fast(schema)
        self._slow = Draft4Validator(
            schema, registry=registry or _registry(), format_checker=FORMAT_CHECKER
        )

    def is_valid(self, instance: Any) -> bool:
        """The fast verdict."""
        try:
            self._fast(instance)
        except fastjsonschema.JsonSchemaValueException:
            return False
        return True

    def explain(self, instance: Any) -> list[Problem]:
        """Every error jsonschema finds, as problems sorted by field."""
        problems = {_problem(error) for error in self._slow.iter_errors(instance)}
        return sorted(problems, key=lambda p: (p.field, p.reason))

    def problems(self, instance: Any) -> list[Problem]:
        """No problems when the fast path says valid, else the full explanation."""
        if self.is_valid(instance):
            return []
        problems = self.explain(instance)
        if not problems:  # the validators disagree: a bug, never silently "valid"
            problems = [Problem("", "rejected by the fast validator but not explained (bug)")]
        return problems


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
def _release_checker() -> _Checker:
    # Cached per process; each worker compiles its own on first use.
    return _Checker(ocds_schema.release_schema())


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
def _package_checker(kind: str, paginated: bool) -> _Checker:
    schema = _shallow(ocds_schema.package_schema(kind, paginated=paginated))
    return _Checker(schema, _registry([copy.deepcopy(schema)]))


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
    """
    if kind not in ("release", "record"):
        raise ValueError(f"kind must be 'release' or 'record', not {kind!r}")
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
