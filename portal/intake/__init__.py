"""The intake API: catalogue systems post supplier quotes and orders as they happen.

``tokens``: bearer tokens (``veraz tokens``), stored as SHA-256 hashes, scoped to quotes or
orders. ``body``: a request body (JSON object, JSON array or JSON Lines) read into numbered
records. ``quotes``: each quote checked against the source format, logged in the evidence log
and stored in the same transaction (immutable from its arrival). ``orders``: orders published
by the publishing pipeline that ``veraz import-orders`` uses (``portal.publishing.orders``),
all or nothing per request. The routes are ``portal.views.intake``; docs/intake.md says what a
client sends and receives.
"""
