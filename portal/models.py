"""Database tables (SQLAlchemy Core), for SQLite and PostgreSQL alike.

Published releases are immutable: rows of ``releases`` are inserted, never updated or deleted.
``records`` is derived state (compiled from releases) plus the columns the browse pages and
dashboards filter and aggregate on, so those queries never parse JSON.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite only makes INTEGER PRIMARY KEY an alias of the rowid (autoincrementing).
BigId = BigInteger().with_variant(Integer(), "sqlite")

releases = Table(
    "releases",
    metadata,
    # Insertion order; the API's cursor. Never reused.
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("ocid", String(255), nullable=False),
    Column("release_id", String(255), nullable=False),
    Column("date", String(40), nullable=False),
    Column("tags", String(255), nullable=False),
    # The release's RFC 8785 canonical JSON: the exact bytes whose SHA-256 is ``data_hash``.
    Column("data", LargeBinary, nullable=False),
    Column("data_hash", String(64), nullable=False),
    # "catalogue" (mapped from source orders by Veraz) or "import" (existing OCDS).
    Column("origin", String(20), nullable=False),
    Column("valid", Boolean, nullable=False),
    # JSON list of schema problems for imported releases kept although invalid.
    Column("problems", Text),
    Column("published_at", DateTime(timezone=True), nullable=False),
    # Index of the release's entry in the evidence log (anchoring.log), set in the publishing
    # transaction: a proof starts here. Derived from the log; ``veraz audit`` checks it.
    Column("leaf_index", BigInteger),
    # Whether the compiled release of this release alone is its ``data`` with the top-level
    # ``id`` and ``tag`` replaced (``portal.exports.splice.splice_flag``, decided at
    # publication); NULL: not decided (then the export tests the bytes). ``veraz audit``
    # recomputes it.
    Column("splice", Boolean),
    UniqueConstraint("ocid", "release_id"),
    Index(None, "leaf_index", unique=True),
    Index(None, "release_id"),
    Index(None, "ocid", "date"),
    Index(None, "data_hash"),  # /verify?q=<hash>
    Index(None, "published_at"),  # the API's since filter: where its walk starts
    # The API's date filters: where their walk starts, and their next keys. With the key in
    # it, PostgreSQL reads the keys from the index alone (SQLite's indexes hold it anyway).
    Index(None, "date", "id"),
)

records = Table(
    "records",
    metadata,
    Column("ocid", String(255), primary_key=True),
    # The compiled release (JSON) of records with two or more releases. NULL for a record of
    # one release: it compiles to that release with a new id and tag, derived on read
    # (portal.queries.compiled_release) instead of stored twice.
    Column("compiled", LargeBinary, nullable=True),
    Column("release_count", Integer, nullable=False),
    Column("last_release", BigId, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # Browse / dashboard columns (denormalised from the compiled release).
    Column("kind", String(20), nullable=False),  # order | agreement | other
    Column("order_number", String(64)),
    Column("title", Text),
    Column("status", String(32)),
    Column("category", String(32)),  # mainProcurementCategory
    Column("classification", String(32)),  # first item's classification id (UNSPSC)
    Column("buyer_id", String(255)),
    Column("buyer_name", Text),
    Column("region", String(64)),
    Column("supplier_id", String(255)),
    Column("supplier_name", Text),
    Column("agreement_ocid", String(255)),
    Column("amount", Numeric(20, 2)),
    Column("currency", String(3)),
    Column("date", String(40)),  # date of the order (first release), ISO 8601
    # The read model's columns per process (ocds.summary.browse_columns), kept on this row
    # rather than in a table of their own: the listing filters and sorts one table, and the
    # publishing workers already derive these with the other browse columns.
    # catalogue_order | framework_agreement | tender.procurementMethod of imported OCDS
    Column("procedure", String(32)),
    Column("agreement_title", Text),  # the framework agreement's title, as the order links it
    Column("delivery_region", String(64)),  # first delivery address's region, else the buyer's
    Column("delivery_district", String(128)),
    Column("month", String(7)),  # YYYY-MM of ``date`` (its local calendar month)
    Index(None, "kind", "date"),
    Index(None, "buyer_id", "date"),
    Index(None, "supplier_id", "date"),
    Index(None, "agreement_ocid", "date"),
    Index(None, "region", "date"),
    Index(None, "category", "date"),
    Index(None, "order_number"),
    Index(None, "procedure", "date"),
    Index(None, "delivery_region", "date"),
    Index(None, "month", "date"),
    Index(None, "status", "date"),
    Index(None, "date", "ocid"),  # the listing's keyset pagination by date
    Index(None, "amount", "ocid"),  # and by amount (and any search by amount)
    Index(None, "updated_at"),  # what changed since: portal.readmodel.tally follows the read model
    # Covers the home page's totals, so they scan this index and never the compiled releases.
    Index("ix_records_totals", "kind", "status", "currency", "amount", "buyer_id", "supplier_id"),
)

# Every (order number, version) ever received from a catalogue system, with the digest of its
# content: importing it again is a no-op, a different content under the same version is refused.
source_orders = Table(
    "source_orders",
    metadata,
    Column("order_number", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("digest", String(64), nullable=False),
    Column("ocid", String(255), nullable=False),
    Column("release_pk", BigId, nullable=False),
    Column("imported_at", DateTime(timezone=True), nullable=False),
)

# Supplier quotes (proformas) as received, in canonical JSON: each is evidence on its own.
proformas = Table(
    "proformas",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("ocid", String(255), nullable=False),
    Column("proforma_id", String(128), nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("data_hash", String(64), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("leaf_index", BigInteger),  # its entry in the evidence log, as for releases
    UniqueConstraint("ocid", "proforma_id"),
    Index(None, "leaf_index", unique=True),
    Index(None, "data_hash"),  # /verify?q=<hash>
)

# --- order PDFs, stored at publication (never re-rendered) -------------------------------------
# The exact bytes whose SHA-256 the order release lists in ``contracts[0].documents[].integrity``
# (hash 2 of the evidence). Rendered once in the publishing transaction, never re-rendered, so
# the served PDF is always the published one. One per order release.
order_pdfs = Table(
    "order_pdfs",
    metadata,
    Column("ocid", String(255), primary_key=True),
    Column("release_id", String(255), primary_key=True),
    Column("sha256", String(64), nullable=False),
    Column("data", LargeBinary, nullable=False),
    Index(None, "sha256"),  # /verify?q=<hash>
)

# Where a release imported with ``veraz import-ocds`` came from: its package's metadata as
# published (who published it, under which licence and publication policy, with which
# extensions) and its place in the file. One row per imported release (releases.id); for a
# release published outside any package the package columns are NULL; catalogue releases have
# no row. All text as published, so nothing a publisher wrote is cut.
release_packages = Table(
    "release_packages",
    metadata,
    Column("release_pk", BigId, primary_key=True, autoincrement=False),
    Column("package_uri", Text),
    Column("version", Text),  # as declared; NULL: none (OCDS 1.0)
    Column("published_date", Text),
    Column("publisher_name", Text),
    Column("publisher_scheme", Text),
    Column("publisher_uid", Text),
    Column("publisher_uri", Text),
    Column("license", Text),
    Column("publication_policy", Text),
    Column("extensions", Text),  # JSON array of the declared extensions' URLs
    Column("upgraded", Boolean, nullable=False),  # published as OCDS 1.0, upgraded on import
    Column("source_file", Text, nullable=False),
    Column("source_location", Text, nullable=False),
)

# --- read model: what a process ordered and who took part (ocds.summary.read_model_rows) ----
# Derived like ``records``: written in the publishing transaction, replaced whenever a record is
# recompiled, rebuilt from the releases by ``veraz reindex``.
item_lines = Table(
    "item_lines",
    metadata,
    Column("ocid", String(255), primary_key=True),
    Column("position", Integer, primary_key=True),  # the item's place in its stage's list
    Column("scheme", String(64)),
    Column("code", String(64)),
    # UNSPSC levels (first 2, 4, 6, 8 digits) when the scheme is UNSPSC.
    Column("segment", String(2)),
    Column("family", String(4)),
    Column("class", String(6)),
    Column("commodity", String(8)),
    Column("description", Text),
    Column("quantity", Numeric(20, 2)),
    Column("unit", String(128)),
    Column("unit_price", Numeric(20, 2)),
    Column("amount", Numeric(20, 2)),
    Column("currency", String(3)),
    Index(None, "segment", "ocid"),
    Index(None, "family", "ocid"),
)

parties = Table(
    "parties",
    metadata,
    Column("ocid", String(255), primary_key=True),
    Column("position", Integer, primary_key=True),  # buyer first, then every supplier
    Column("role", String(16), nullable=False),  # buyer | supplier
    Column("party_id", String(255)),  # the party's OCDS id (records.buyer_id, supplier_id)
    Column("scheme", String(64)),
    Column("identifier", String(255)),  # identifier.id: a RUC for Veraz's parties
    Column("name", Text),
    Column("region", String(64)),
    Column("scale", String(32)),  # partyScale: micro, small, medium, large, sme
    Index(None, "role", "party_id", "ocid"),
    Index(None, "identifier", "ocid"),
)
