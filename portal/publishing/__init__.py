"""The publishing pipeline: source orders or existing OCDS in, immutable releases and records out.

For catalogue orders (:mod:`~portal.publishing.orders`): parse and check each line, map it to
OCDS, validate every release against the patched 1.1.5 schema, canonicalise it (RFC 8785) and
hash it, then store the batch in ONE transaction (releases, proformas, source-order digests,
records), so an order is never half-written. The CPU-heavy part runs in worker processes
(:mod:`~portal.publishing.pool`) over a bounded window of batches, so memory does not grow with
the input; one writer (the importing process) owns the database.

One module per job: ``orders`` (worker step and writer for catalogue orders), ``pool`` (the
worker processes), ``ocds_import`` (existing OCDS), ``records`` (compiled records and browse
columns), ``releases`` (storing releases), ``bulk`` (bulk mode: lookup indexes dropped and
rebuilt), ``prepared`` (the values workers hand to the writer), ``rejects`` (what an import
reports).
"""

from portal.publishing.bulk import bulk_mode
from portal.publishing.ocds_import import import_ocds
from portal.publishing.orders import import_orders, prepare_orders, write_orders
from portal.publishing.records import recompile
from portal.publishing.rejects import Reject, Summary, write_rejects

__all__ = [
    "Reject",
    "Summary",
    "bulk_mode",
    "import_ocds",
    "import_orders",
    "prepare_orders",
    "recompile",
    "write_orders",
    "write_rejects",
]
