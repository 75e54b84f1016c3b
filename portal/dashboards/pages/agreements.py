"""Framework agreements and catalogues: spending and orders per agreement."""

from flask_babel import lazy_gettext as _l

PATH = "agreements"
TITLE = _l("Framework agreements")
INTRO = _l(
    "Each electronic catalogue belongs to a framework agreement: how much was ordered under each "
    "one, and how many orders."
)
CHARTS = ("top-agreements", "agreements-by-orders")
