"""Translatable names of OCDS codes and HTTP errors shown in the interface.

Data stays as published; only the interface's words for codes are translated. Listing them here
lets ``pybabel extract`` find them.
"""

from flask_babel import lazy_gettext as _l

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
