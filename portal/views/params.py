"""Query parameters, parsed strictly: a bad one is a 400 that names it, never a guess.

Python's ``int()`` accepts what no URL should mean as a number (``"٣"``, ``"５"``, ``"1_000"``,
``" 7"``), and a value beyond a 64-bit integer reaches the database as an error: a whole
number here is ASCII digits only, at most :data:`LARGEST` (the largest BIGINT).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from flask import abort, request
from werkzeug.exceptions import BadRequest
from werkzeug.routing import BaseConverter

#: The largest value of a signed 64-bit integer (PostgreSQL BIGINT, SQLite INTEGER).
LARGEST = 2**63 - 1

#: Parameters every route accepts: ``lang`` is read by the app for every response.
EVERYWHERE = frozenset({"lang"})

_DIGITS = re.compile(r"[0-9]{1,19}", re.ASCII)


def only_params(allowed: Iterable[str]) -> None:
    """Answer 400 naming the query parameters the route does not know (a typo such as
    ``?limt=5`` must not silently return the default)."""
    unknown = sorted(set(request.args) - set(allowed) - EVERYWHERE)
    if unknown:
        names = ", ".join(repr(name) for name in unknown)
        abort(
            400,
            description=f"Unknown query parameter(s) {names}; "
            f"this address accepts {', '.join(sorted(allowed)) or 'none'}.",
        )


def whole_number(name: str, default: int, *, minimum: int = 0, maximum: int = LARGEST) -> int:
    """The query parameter ``name`` as a whole number in ``[minimum, maximum]``, or ``default``
    when absent; anything else is a 400 naming the parameter."""
    raw = request.args.get(name)
    if raw is None:
        return default
    if _DIGITS.fullmatch(raw) is None:
        abort(
            400,
            description=f"Parameter {name!r} must be a whole number written with the "
            f"digits 0-9, not {raw[:40]!r}.",
        )
    value = int(raw)
    if not minimum <= value <= maximum:
        abort(400, description=f"Parameter {name!r} must be between {minimum} and {maximum}.")
    return value


def text(name: str) -> str | None:
    """The query parameter ``name`` as given, or None when absent or empty."""
    return request.args.get(name) or None


class WholeNumberConverter(BaseConverter):
    """``<whole:name>`` in a route: a path segment that must be a whole number written with the
    digits 0-9, at most :data:`LARGEST`. Werkzeug's ``int`` converter passes a number of any size
    to the view (and on to the database), so a huge one was a server error; here it is a 400,
    and so is a segment that is not such a number (``/evidence/٣.pdf``)."""

    regex = r"[^/]+?"

    def to_python(self, value: str) -> int:
        if _DIGITS.fullmatch(value) is None or int(value) > LARGEST:
            raise BadRequest(
                f"{value[:40]!r} in the address must be a whole number written with "
                f"the digits 0-9, at most {LARGEST}."
            )
        return int(value)

    def to_url(self, value: int) -> str:
        return str(int(value))
