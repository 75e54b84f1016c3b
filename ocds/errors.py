"""The OCDS exception family, problem values and warning classes.

Library code raises these; the CLI and the web layer turn them into a sentence a user can act on.
A :class:`Problem` is a value, not an exception: validators and readers return lists of them so
that one bad release never stops a whole import.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one release, record, package or input line.

    ``field`` is a slash path inside the object (``contracts/0/items/2/quantity``), ``""`` for
    the object as a whole. ``reason`` is a sentence a publisher can act on.
    """

    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}" if self.field else self.reason


class OCDSError(Exception):
    """Base class of every error raised by the :mod:`ocds` package."""


class _ProblemsError(OCDSError):
    """An error that carries the list of problems that caused it."""

    def __init__(self, problems: list[Problem], message: str | None = None) -> None:
        self.problems: list[Problem] = list(problems)
        if message is None:
            shown = "; ".join(str(p) for p in self.problems[:3])
            more = len(self.problems) - 3
            message = shown + (f" (and {more} more)" if more > 0 else "")
        super().__init__(message)


class InputError(_ProblemsError, ValueError):
    """The input could not be used at all (unreadable, not JSON, not OCDS, not mergeable).

    Also a :class:`ValueError`, so that callers written against plain ``ValueError`` keep
    catching it.
    """


class ValidationFailed(_ProblemsError):
    """A release or package does not validate against the Veraz OCDS schema."""


class OCDSWarning(UserWarning):
    """Base class of warnings emitted by the :mod:`ocds` package."""
