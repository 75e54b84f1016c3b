"""Builders for test data: source orders from the documented examples, with overrides."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import orjson

EXAMPLES = Path(__file__).resolve().parent / "ocds" / "catalogue" / "examples"
SHAPES = ["1-single", "2-package", "3-partial", "4-multi-destination", "5-multi-destination-partial"]


def example_order(name: str = "1-single", **overrides) -> dict:
    """One documented example order (see docs/source-orders.md), with top-level overrides."""
    order = json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))
    order.update(copy.deepcopy(overrides))
    return order


def all_examples() -> list[dict]:
    return [example_order(name) for name in SHAPES]


def write_jsonl(path: Path, rows: list) -> Path:
    """Write orders (dicts) or raw lines (str/bytes) as JSON Lines."""
    with open(path, "wb") as f:
        for row in rows:
            if isinstance(row, dict):
                f.write(orjson.dumps(row) + b"\n")
            else:
                f.write((row.encode() if isinstance(row, str) else row) + b"\n")
    return path
