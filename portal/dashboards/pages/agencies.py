"""Agencies: the buyers that spend the most and that place the most orders."""

from flask_babel import lazy_gettext as _l

PATH = "agencies"
TITLE = _l("Agencies")
INTRO = _l(
    "The public agencies that spend the most and that place the most orders. Choose an agency "
    "in the filters to see who it buys from and what."
)
CHARTS = ("top-agencies", "agencies-by-orders", "spending-by-month")
