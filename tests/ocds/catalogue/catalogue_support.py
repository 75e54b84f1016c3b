"""Helpers shared by the catalogue tests (a uniquely named module: pytest puts this folder on
sys.path, and a bare ``conftest`` import could pick another folder's conftest)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import source_reference
from jsonschema import Draft4Validator, Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from ocds.catalogue.source import _checkers, check_order, source_schema
from ocds.schema import release_schema

EXAMPLES = Path(__file__).parent / "examples"
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.json"))
PREFIX = "ocds-test01"


def load_example(name: str) -> dict:
    """A fresh copy of one example order, by file stem (e.g. ``"1-single"``)."""
    return json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))


@cache
def release_validator() -> Draft4Validator:
    """Draft 4 validator for Veraz's patched OCDS 1.1.5 release schema, formats checked."""
    schema = release_schema()
    registry = Registry().with_resource(schema["id"], Resource(schema, DRAFT4))
    return Draft4Validator(schema, registry=registry, format_checker=Draft4Validator.FORMAT_CHECKER)


def release_errors(release: dict) -> list[str]:
    """Every schema error of one release, as readable strings."""
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in release_validator().iter_errors(release)
    ]


# --- the source-order verdict and problems against the reference (source_reference.py) ----------


@cache
def source_validator() -> Draft7Validator:
    """python-jsonschema's validator of the whole source-order schema: the reference verdict."""
    return Draft7Validator(source_schema())


def _plain(instance: Any) -> bool:
    """Whether JSON can hold ``instance`` as is (no NaN, no lone surrogate)."""
    try:
        json.dumps(instance, allow_nan=False, ensure_ascii=False).encode()
    except (ValueError, TypeError):
        return False
    return True


def fast_verdict(order: Any, *, rust_only: bool = False) -> bool:
    """The schema verdict check_order acts on: the outer checker's, then the agreement's.

    ``rust_only``: jsonschema-rs's own answers, without the fallbacks for NaN or lone surrogates.
    """
    outer, agreement = _checkers()
    if rust_only:
        return outer._fast(order) and agreement._fast(order["agreement"])
    return outer.is_valid(order) and agreement.is_valid(order["agreement"])


def assert_source_agrees(order: Any, *, full_schema: bool = True) -> bool:
    """Fail unless check_order judges ``order`` as the reference does; return the verdict.

    The schema verdict must be python-jsonschema's (that of the whole schema, or with
    ``full_schema=False`` that of its outer part and agreement, which is cheaper on agreements
    with many suppliers), also from jsonschema-rs alone on plain JSON; and the problems, valid
    or not, must be those of the old check_order with that verdict (source_reference.py).
    """
    if full_schema:
        expected = source_validator().is_valid(order)
    else:
        expected = source_reference.outer_valid(order) and source_reference.agreement_valid(
            order["agreement"]
        )
    if isinstance(order, dict):
        assert fast_verdict(order) == expected, "the verdict differs from jsonschema's"
        if _plain(order):
            assert fast_verdict(order, rust_only=True) == expected, "jsonschema-rs differs"
    assert check_order(order) == source_reference.check_order(order), "the problems differ"
    return expected
