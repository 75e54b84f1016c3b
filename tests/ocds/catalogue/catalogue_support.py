"""Helpers shared by the catalogue tests (a uniquely named module: pytest puts this folder on
sys.path, and a bare ``conftest`` import could pick another folder's conftest)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from jsonschema import Draft4Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

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
