"""Regions: spending and orders per delivery region, as ranked bars.

A map of Peru would need a boundary file with an open licence shipped in the project; none was
found in a registry package (docs/dashboards.md says what was looked at), so regions are ranked.
"""

from flask_babel import lazy_gettext as _l

PATH = "regions"
TITLE = _l("Regions")
INTRO = _l(
    "Where the orders are delivered: the region of each order's first delivery address, or of "
    "the agency when the order names none."
)
CHARTS = ("top-regions", "regions-by-orders")
