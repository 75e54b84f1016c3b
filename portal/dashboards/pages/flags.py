"""Red flags: reasons to look closer at orders, buyers and suppliers, linked to the evidence."""

from flask_babel import lazy_gettext as _l

PATH = "flags"
TITLE = _l("Red flags")
INTRO = _l(
    "A red flag is a reason to look closer, not proof of wrongdoing: each flag says in plain "
    "words what it means, what it does not mean, and which orders raised it."
)
CHARTS = ("flags-raised",)
