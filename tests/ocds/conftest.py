"""Shared helpers for the ocds tests: where the real OCDS corpus lives, and small builders."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

DATASETS = ("paraguay-dncp", "mexico-gacm", "mexico-jalisco")

# The project is not necessarily installed into the virtualenv: make ``import ocds`` work from
# a checkout (harmless when the root conftest or an editable install already does this).
_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)


def shared_dir() -> Path:
    """The shared data folder: ``$VERAZ_SHARED`` or the sibling ``shared/`` of the repository."""
    return Path(os.environ.get("VERAZ_SHARED") or Path(__file__).parents[3] / "shared")


def require_shared(*parts: str) -> Path:
    """A path under the shared folder; skip locally when it is missing, fail under ``CI``."""
    path = shared_dir().joinpath(*parts)
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{path} is missing and CI is set: the real-data tests must run")
        pytest.skip(f"{path} is missing (set VERAZ_SHARED)")
    return path


def real_releases(dataset: str) -> list[dict[str, Any]]:
    """The releases of one real dataset (``releases.jsonl``, one release per line)."""
    path = require_shared("real-ocds", dataset, "releases.jsonl")
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


@pytest.fixture
def shared() -> Callable[..., Path]:
    """``shared("real-ocds", "mexico-gacm")``: a shared path, skipped or failed when missing."""
    return require_shared


@pytest.fixture(scope="session")
def corpus() -> list[dict[str, Any]]:
    """Every release of the three real datasets."""
    return [release for dataset in DATASETS for release in real_releases(dataset)]


def make_release(**overrides: Any) -> dict[str, Any]:
    """A small valid release; ``overrides`` replace top-level fields."""
    release: dict[str, Any] = {
        "ocid": "ocds-abc123-0001",
        "id": "ocds-abc123-0001-01",
        "date": "2025-03-04T10:15:00-05:00",
        "tag": ["contract"],
        "initiationType": "tender",
        "parties": [
            {"id": "PE-RUC-20100000001", "name": "Ministerio", "roles": ["buyer"]},
            {
                "id": "PE-RUC-20500000002",
                "name": "Proveedor SAC",
                "roles": ["supplier"],
                "details": {"scale": "sme"},
            },
        ],
        "buyer": {"id": "PE-RUC-20100000001", "name": "Ministerio"},
        "contracts": [
            {
                "id": "OC-2025-000123",
                "awardID": "OC-2025-000123",
                "status": "active",
                "suppliers": [{"id": "PE-RUC-20500000002", "name": "Proveedor SAC"}],
                "items": [
                    {
                        "id": "1",
                        "description": "Papel A4",
                        "quantity": 10,
                        "unit": {"name": "caja", "value": {"amount": 25.5, "currency": "PEN"}},
                    }
                ],
            }
        ],
    }
    release.update(overrides)
    return release


@pytest.fixture(scope="session")
def release_factory() -> Callable[..., dict[str, Any]]:
    """:func:`make_release` as a fixture (test modules do not import conftest)."""
    return make_release
