"""The facet counts and totals of recent queries, kept while no release is published.

Counting every facet of a query over a million processes costs far more than finding its page
of rows, and people page through the same query and come back to the same filters. The read
model changes only when a release is published (``portal.queries.last_release_id`` changes
with it), so counts computed for that release are exact until the next one: one primary-key
lookup per request decides whether they still are. One cache per app; least recently used
queries are dropped beyond ``capacity``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

#: Queries whose counts one app keeps (each a few KB).
CAPACITY = 512


class FacetCache:
    """Values computed for (published state, query) keys, least recently used dropped first."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        self.capacity = capacity
        self._values: OrderedDict[Hashable, Any] = OrderedDict()
        self._version: int | None = None
        self._lock = threading.Lock()

    def get(self, version: int, key: Hashable, compute: Callable[[], Any]) -> Any:
        """The value of ``key`` computed at published state ``version`` (``compute()`` when not
        kept; everything kept is dropped when the version changes)."""
        with self._lock:
            if version != self._version:
                self._values.clear()
                self._version = version
            if key in self._values:
                self._values.move_to_end(key)
                return self._values[key]
        value = compute()
        with self._lock:
            if version == self._version:
                self._values[key] = value
                while len(self._values) > self.capacity:
                    self._values.popitem(last=False)
        return value
