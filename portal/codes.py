"""Translatable names of OCDS codes and HTTP errors shown in the interface.

Data stays as published; only the interface's words for codes are translated. Listing them here
lets ``pybabel extract`` find them.

:data:`STATUS_WORDS` is the one table of the words for an order's status (and a delivery's):
the order page, the verification page, the listings and the order PDF all read it, so a citizen
holding the PDF reads the same word on the screen. The PDF is always Spanish; its words are
printed on paper already issued, so the Spanish words never change.
"""

from flask_babel import get_locale
from flask_babel import lazy_gettext as _l

#: ``{OCDS status code: {language: word}}`` for orders (contract status) and deliveries
#: (milestone status).
STATUS_WORDS: dict[str, dict[str, str]] = {
    "pending": {"es": "emitida", "en": "issued"},
    "active": {"es": "aceptada", "en": "accepted"},
    "terminated": {"es": "entregada", "en": "delivered"},
    "cancelled": {"es": "anulada", "en": "cancelled"},
    "met": {"es": "entregada", "en": "delivered"},
    "notMet": {"es": "no entregada", "en": "not delivered"},
    "scheduled": {"es": "programada", "en": "scheduled"},
}


def status_word(code, language: str | None = None) -> str:
    """The word for an order's or delivery's status in ``language`` (the reader's language
    when None); the code as published when the table has none."""
    words = STATUS_WORDS.get(code) if isinstance(code, str) else None
    if words is None:
        return code_name(code)
    lang = language or str(get_locale() or "es")[:2]
    return words.get(lang) or words["es"]


CODE_NAMES = {
    # contract / award / tender / milestone statuses
    "active": _l("active"),
    "cancelled": _l("cancelled"),
    "terminated": _l("terminated"),
    "pending": _l("pending"),
    "complete": _l("complete"),
    "met": _l("met"),
    "notMet": _l("not met"),
    "scheduled": _l("scheduled"),
    "partiallyMet": _l("partially met"),
    "unsuccessful": _l("unsuccessful"),
    "planning": _l("planning"),
    "planned": _l("planned"),
    "withdrawn": _l("withdrawn"),
    # supplier size (partyScale)
    "micro": _l("micro enterprise"),
    "sme": _l("small or medium enterprise"),
    "small": _l("small enterprise"),
    "medium": _l("medium enterprise"),
    "large": _l("large enterprise"),
    "selfEmployed": _l("self-employed"),
    # HTTP errors
    "Not Found": _l("Not Found"),
    "Bad Request": _l("Bad Request"),
    "Conflict": _l("Conflict"),
    "Internal Server Error": _l("Internal Server Error"),
    "Unauthorized": _l("Unauthorized"),
    "Forbidden": _l("Forbidden"),
}


def code_name(code) -> str:
    """The interface's word for an OCDS code, or the code itself when it has none."""
    name = CODE_NAMES.get(code)
    return str(name) if name is not None else (code or "")
