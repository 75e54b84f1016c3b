"""Known-answer vectors for the anchoring tests, kept in the repository.

The vector files in ``vectors/`` are copied verbatim from the project's shared research
folder (see ``vectors/README.md`` for provenance); tests must not depend on ``../shared``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

VECTORS = Path(__file__).resolve().parent / "vectors"


def load_vector(name: str) -> Any:
    """The parsed JSON of ``vectors/<name>``."""
    return json.loads((VECTORS / name).read_text(encoding="utf-8"))


def unhex(values: list[str] | None) -> list[bytes]:
    """A list of hex strings (JSON ``null`` meaning an empty list) as bytes."""
    return [bytes.fromhex(v) for v in values or []]
