"""Overview: spending and orders per year and per month."""

from flask_babel import lazy_gettext as _l

PATH = ""
TITLE = _l("Overview")
INTRO = _l(
    "What the State ordered through the electronic catalogues, year by year and month by month. "
    "Spending counts every order that was not cancelled, in soles."
)
CHARTS = ("spending-by-year", "spending-by-month", "orders-by-month")
