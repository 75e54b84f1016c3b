"""Names of UNSPSC segments and families in Spanish and English, for the industry facet.

``unspsc-names.csv`` (code, es, en) holds every segment and family that Veraz's catalogues
(``ocds.catalogue.generate``) publish; the real OCDS shipped for tests classifies by its own
schemes, not UNSPSC. Source: the UNSPSC code set (United Nations Standard Products and Services
Code, unspsc.org; English titles) and its Spanish edition as Colombia Compra Eficiente's
"Clasificador de Bienes y Servicios" publishes it; titles transcribed, lightly shortened. A
code without a name is shown as its digits.
"""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path

from flask_babel import get_locale

NAMES_FILE = Path(__file__).with_name("unspsc-names.csv")


@cache
def unspsc_names() -> dict[str, dict[str, str]]:
    """``{code: {"es": name, "en": name}}`` for the segments (2 digits) and families (4)."""
    with NAMES_FILE.open(encoding="utf-8", newline="") as f:
        return {row["code"]: {"es": row["es"], "en": row["en"]} for row in csv.DictReader(f)}


def industry_name(code: str | None, language: str | None = None) -> str | None:
    """The name of a segment or family in ``language`` (default: the reader's), or None."""
    if not code:
        return None
    names = unspsc_names().get(code)
    if names is None:
        return None
    language = language or str(get_locale() or "es")[:2]
    return names.get(language) or names["es"]
