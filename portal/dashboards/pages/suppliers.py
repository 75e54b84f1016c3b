"""Suppliers: the companies paid the most and with the most orders."""

from flask_babel import lazy_gettext as _l

PATH = "suppliers"
TITLE = _l("Suppliers")
INTRO = _l(
    "The companies paid the most and those with the most orders. Choose an agency to see how "
    "its spending is shared among its suppliers."
)
CHARTS = ("top-suppliers", "suppliers-by-orders", "spending-by-month")
