"""Red flags: reasons to look at an order, a buyer, a supplier or a catalogue, never proof.

The API (for the ``/flags`` page, ``/api/flags``, ``veraz flags`` and the dashboards):

* :data:`FLAGS`: the definitions (:class:`Flag`): ``code``, ``subject`` (``order``, ``buyer``,
  ``supplier``, ``pair`` or ``agreement``), ``title_es``/``title_en``, ``means_es``/``means_en``
  and ``not_means_es``/``not_means_en`` (what it means and does not mean, in plain words),
  ``method_es``/``method_en``, ``settings`` (the names of its thresholds in
  ``portal/settings.py``) and ``source`` (Cardinal, OCP red-flags guide number, Prozorro rule);
  ``Flag.text(locale)`` gives one language, ``Flag.as_json()`` both. :data:`BY_CODE` by code.
* :func:`thresholds` (an app's config -> the flags' settings, typed).
* Reading, each given a connection and :class:`Filters` (buyer, supplier, agreement, months):
  :func:`summary` (counts per flag), :func:`flagged` (the things a flag marks, with ``links``
  to the order, buyer, supplier, agreement pages and to the listing of the orders behind an
  entity), :func:`counts_by_month` (orders behind a flag per month), :func:`flags_of_order`
  (every flag concerning one ocid), :func:`all_rows` (everything, for exports), and
  :func:`freshness` (which release the flags include, and whether they are behind).
* Computing: :func:`refresh` (``engine, thresholds, full=False``): a full computation, or a
  partial one of the groups that releases published since the last refresh touch. Run by
  ``veraz flags refresh`` (after each import) and, in the same way, by ``veraz flags``.

Tables (``portal.flags.tables``, migration ``0015``): ``flag_facts``, ``flag_prices``,
``flag_hits``, ``flag_state``. Methods and sources: ``docs/red-flags.md``.
"""

from portal.flags.definitions import BY_CODE, FLAGS, Flag, thresholds
from portal.flags.queries import (
    Filters,
    all_rows,
    counts_by_month,
    flagged,
    flags_of_order,
    freshness,
    summary,
)
from portal.flags.refresh import RefreshSummary, refresh

__all__ = [
    "BY_CODE",
    "FLAGS",
    "Filters",
    "Flag",
    "RefreshSummary",
    "all_rows",
    "counts_by_month",
    "flagged",
    "flags_of_order",
    "freshness",
    "refresh",
    "summary",
    "thresholds",
]
