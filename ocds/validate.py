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
  installed. So both use one format table, :data:`FORMAT_CHECKER`. jsonschema-rs checks
  ``date-time`` and ``uri`` by patterns of its own that accept exactly the strings the table's
  functions accept (:func:`ocds.fastschema.format_patterns`: a call back into Python cost about
  2 µs a date, and a release has about ten); for any other format the schema names it is given
  the very same Python functions; a format the table does not check is accepted by both.
* Regular expressions (``pattern``, ``patternProperties``). jsonschema runs them with Python's
  ``re`` (``$`` also matches before a final newline, ``\\d`` is any Unicode decimal digit);
  jsonschema-rs with ECMA 262 rules (``\\d`` is ``[0-9]``, ``$`` is the end). Each pattern is
  rewritten, for the fast path only, into an equivalent expression with no such ambiguity
  (:func:`ocds.fastschema.rust_regex`), or the schema is refused.
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
from collections.abc import Callable, Iterable
from typing import Any, Literal

from jsonschema import Draft4Validator, Draft7Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from ocds import schema as ocds_schema
from ocds.errors import InputError, Problem, ValidationFailed
from ocds.fastschema import FORMAT_CHECKER, UNTYPED_INSIDE, Draft, compile_fast

__all__ = [
    "FORMAT_CHECKER",
    "ReleaseValidator",
    "SchemaChecker",
    "package_checker",
    "package_problems",
    "release_checker",
    "release_problems",
    "validate_release",
]


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
    default), or, as a jsonschema validator given no format checker does, not at all. ``fast``
    replaces jsonschema-rs's verdict function (to see how a checker copes with a wrong one).
    """

    def __init__(
        self,
        schema: dict[str, Any],
        registry: Registry | None = None,
        *,
        draft: Draft = 4,
        check_formats: bool = True,
        fast: Callable[[Any], bool] | None = None,
    ) -> None:
        self._fast = fast or compile_fast(schema, draft=draft, check_formats=check_formats)
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
            if not UNTYPED_INSIDE.is_valid(instance):
                return False
        except Exception:  # e.g. a lone surrogate: not representable in Rust
            pass
        return self._slow.is_valid(instance)

    def fast_is_valid(self, instance: Any) -> bool:
        """jsonschema-rs's verdict alone (it raises for values it cannot take, such as strings
        with lone surrogates): for checking that it agrees with :meth:`reference_is_valid`."""
        return self._fast(instance)

    def reference_is_valid(self, instance: Any) -> bool:
        """jsonschema's verdict alone, the reference."""
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


@functools.lru_cache(maxsize=32)
def release_checker(extensions: tuple[str, ...] | None = None) -> SchemaChecker:
    """The checker of releases against the release schema patched with ``extensions`` (vendored
    extension names; default: the ones Veraz declares), compiled once per process and set of
    extensions (each worker compiles its own on first use)."""
    return SchemaChecker(ocds_schema.release_schema(extensions))


class ReleaseValidator:
    """Validates releases against the OCDS release schema patched with a set of extensions.

    ``extensions``: vendored extension names (see :func:`ocds.schema.declared_extensions` for a
    third party's package); default: the ones Veraz declares. Cheap to construct and
    picklable: the compiled validators live in a per-process cache and are built on first use.
    """

    def __init__(self, extensions: tuple[str, ...] | None = None) -> None:
        self.extensions = extensions

    def is_valid(self, release: Any) -> bool:
        """Whether the release is valid (fast path only)."""
        return release_checker(self.extensions).is_valid(release)

    def problems(self, release: Any) -> list[Problem]:
        """Every problem with the release; an empty list means it is valid."""
        if not isinstance(release, dict):
            return [Problem("", "a release must be a JSON object")]
        return release_checker(self.extensions).problems(release)


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
def package_checker(kind: str, paginated: bool, validity: bool = False) -> SchemaChecker:
    """The checker of ``kind`` ("release" or "record") package metadata, with the pagination
    extension when ``paginated``; compiled once per process."""
    schema = _shallow(ocds_schema.package_schema(kind, paginated=paginated, validity=validity))
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

    A package with ``links`` is checked against the schema patched with the pagination extension,
    one with ``invalidReleases`` against the schema patched with the local validity extension.
    Raises :class:`~ocds.errors.InputError` if ``kind`` is neither ``release`` nor ``record``.
    """
    if kind not in ("release", "record"):
        raise InputError([Problem("", f"kind must be 'release' or 'record', not {kind!r}")])
    if not isinstance(package, dict):
        return [Problem("", "a package must be a JSON object")]
    # A page of a paginated response declares the pagination extension: the last page of a
    # feed has no links, and a filtered feed's page may hold nothing at all.
    extensions = package.get("extensions")
    paginated = "links" in package or (
        isinstance(extensions, list) and ocds_schema.EXTENSION_URLS["pagination"] in extensions
    )
    problems = package_checker(kind, paginated, "invalidReleases" in package).problems(package)
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
