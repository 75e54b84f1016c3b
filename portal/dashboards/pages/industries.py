"""Industries: spending per UNSPSC segment of the items ordered."""

from flask_babel import lazy_gettext as _l

PATH = "industries"
TITLE = _l("Industries")
INTRO = _l(
    "What was bought, by industry: the UNSPSC segment of each item ordered. An order with items "
    "of two segments counts in both, each with its items' amount."
)
CHARTS = ("top-industries", "spending-by-year")
