"""The red flags' derived tables (migration ``0015``), rebuilt by ``veraz flags refresh``.

``flag_facts``: per process, what the read model does not hold and some flags need (number of
quotes, the value first published, deliveries met late or not met), read once from its
releases. ``flag_prices``: every item line's unit price under a product key, indexed so that a
product's quartiles are found without reading its lines. ``flag_hits``: the flags raised, one
row per flagged order, buyer, supplier, buyer-supplier pair or catalogue. ``flag_state``: the
last release the tables were refreshed to, the last a full refresh included, the thresholds,
and the statistics a partial refresh reuses (``veraz audit`` checks them: ``portal.flags.audit``).
All are derived from the releases: dropping their rows and running ``veraz flags refresh
--full`` gives them back.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, Index, Integer, MetaData, Numeric, String, Table, Text, text

from portal.models import BigId

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)

flag_facts = Table(
    "flag_facts",
    metadata,
    Column("ocid", String(255), primary_key=True),
    # records.last_release when these facts were read: a record whose last release differs
    # has changed since.
    Column("last_release", BigId, nullable=False),
    # Copied from records (the browse columns), so that the flags' groupings read one narrow
    # table through covering indexes instead of the wide records rows.
    Column("live", Boolean, nullable=False),  # a process the flags read: not a framework agreement
    Column("cancelled", Boolean, nullable=False),  # records.status "cancelled"
    Column("buyer_id", String(255)),
    Column("supplier_id", String(255)),
    Column("agreement_ocid", String(255)),
    Column("amount", Numeric(20, 2)),
    Column("currency", String(3)),
    Column("date", String(10)),  # YYYY-MM-DD of records.date when it is one, else None
    Column("month", String(7)),
    # From the releases (what the read model does not hold).
    Column("quotes", Integer),  # bids published (None: the process publishes none)
    Column("first_amount", Numeric(20, 2)),  # the value of the process's first release
    Column("first_currency", String(3)),
    Column("deliveries", Integer, nullable=False),  # delivery milestones
    Column("deliveries_met", Integer, nullable=False),
    Column("deliveries_late", Integer, nullable=False),  # met after their due date
    Column("deliveries_not_met", Integer, nullable=False),  # status notMet
    Column("days_late", Integer),  # most days a delivery was met after its due date
    # Covering indexes of the sums per buyer, supplier and agreement (flags.compute).
    # (Named: the generated names pass PostgreSQL's 63 characters.)
    Index(
        "ix_flag_facts_buyer", "buyer_id", "live", "cancelled", "supplier_id", "currency", "amount", "date"
    ),
    Index("ix_flag_facts_supplier", "supplier_id", "live", "cancelled", "date", "currency", "amount"),
    Index(
        "ix_flag_facts_agreement", "agreement_ocid", "live", "cancelled", "currency", "supplier_id", "amount"
    ),
)

flag_prices = Table(
    "flag_prices",
    metadata,
    Column("ocid", String(255), primary_key=True),
    Column("position", Integer, primary_key=True),
    # "<agreement ocid>|<scheme>|<code>|<unit>|<description>": the same catalogue product (a
    # call-off's agreement names its catalogue and edition) in the same unit; outside an
    # agreement "|<scheme>|<code>|<unit>". At most 600 characters.
    Column("product", String(600), nullable=False),
    Column("currency", String(3)),
    Column("unit_price", Numeric(20, 2)),
    Column("supplier_id", String(255)),
    Column("segment", String(2)),  # UNSPSC segment (item_lines.segment)
    Index(None, "product", "currency", "unit_price"),
    Index(None, "supplier_id", "segment"),
)

flag_hits = Table(
    "flag_hits",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("flag", String(32), nullable=False),
    # order | buyer | supplier | pair (buyer and supplier) | agreement
    Column("subject", String(16), nullable=False),
    # The group the flag was computed in (a buyer id, a product key...): a partial refresh
    # replaces the rows of the groups its new orders touch.
    Column("scope", String(600), nullable=False),
    Column("ocid", String(255)),
    Column("buyer_id", String(255)),
    Column("supplier_id", String(255)),
    Column("agreement_ocid", String(255)),
    Column("month", String(7)),
    Column("amount", Numeric(20, 2)),
    Column("currency", String(3)),
    Column("orders", Integer),  # orders behind the flag
    Column("value", Float),  # the measure compared with the threshold
    Column("threshold", Float),
    Column("detail", Text),  # JSON object: the figures behind the measure
    Index(None, "flag", "scope"),
    Index(None, "ocid"),
    # A flag's hits by month, with their ocids (migration 0025 added ocid): the page's counts of
    # an order flag per month read it alone.
    Index(None, "flag", "month", "ocid"),
    Index(None, "flag", "value", "id"),  # a flag's list, furthest past its threshold first
    # A flag's hits of one buyer, supplier or agreement, by month, holding what the filtered
    # views count (migration 0025): ``summary`` and an order flag's ``counts_by_month`` under
    # that filter read one index range and never the table (SQLite otherwise walked the
    # supplier's orders and, for each, every hit of its buyer). They also serve what a plain
    # index of buyer_id or supplier_id served (``flags_of_order``).
    # (Named: the generated names pass PostgreSQL's 63 characters.)
    Index("ix_flag_hits_buyer", "buyer_id", "flag", "month", "ocid", "supplier_id"),
    Index("ix_flag_hits_supplier", "supplier_id", "flag", "month", "ocid", "buyer_id"),
    Index("ix_flag_hits_agreement", "agreement_ocid", "flag", "month", "ocid", "buyer_id", "supplier_id"),
    # The hits without a month (the entity flags', and undated orders'), a few hundred: the
    # refresh reads each one's months from its orders (``queries._month_firsts``) without a
    # walk of every hit per subject and measure (PostgreSQL's plan without it).
    Index(
        "ix_flag_hits_without_month",
        "subject",
        postgresql_where=text("month IS NULL"),
        sqlite_where=text("month IS NULL"),
    ),
)

flag_state = Table(
    "flag_state",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

# Per buyer, the sums the per-buyer flags read (``portal.flags.sums``), kept by each refresh from
# the facts that changed, so that a partial refresh does not re-add every order of every buyer
# its new orders touch. Amounts are exact decimals written as text (SQLite sums floats).
# A NULL currency is kept as "".
flag_buyer_pairs = Table(
    "flag_buyer_pairs",
    metadata,
    Column("buyer_id", String(255), primary_key=True),
    Column("supplier_id", String(255), primary_key=True),
    Column("currency", String(3), primary_key=True),
    Column("orders", Integer, nullable=False),  # live orders not cancelled
    Column("priced", Integer, nullable=False),  # of which with an amount
    Column("amount", Text, nullable=False),  # their amounts' sum
)

flag_buyer_years = Table(
    "flag_buyer_years",
    metadata,
    Column("buyer_id", String(255), primary_key=True),
    Column("year", String(4), primary_key=True),  # the order date's first four characters
    Column("currency", String(3), primary_key=True),
    Column("orders", Integer, nullable=False),  # live, not cancelled, dated, priced orders
    Column("amount", Text, nullable=False),
    Column("late_orders", Integer, nullable=False),  # of which in the year's last FLAG_YEAR_END_DAYS
    Column("late_amount", Text, nullable=False),
)

# What the flags page shows unfiltered (``portal.flags.queries``), written by every refresh in
# its transaction with the same queries the filtered views run, so that no chart of the page
# waits on a join of every hit with its orders (0.1-0.3 s per flag at a million orders).
# Migration ``0025``. Per flag and month (``flag_facts.month``): the distinct orders behind the
# flag's hits (``counts_by_month``).
flag_counts = Table(
    "flag_counts",
    metadata,
    Column("flag", String(32), primary_key=True),
    Column("month", String(7), primary_key=True),
    Column("orders", Integer, nullable=False),
)

# Per flag (one row for each flag the refresh computed, zeros included): what ``summary``
# counts over its hits: the hits, and the distinct orders, buyers and suppliers they name.
flag_totals = Table(
    "flag_totals",
    metadata,
    Column("flag", String(32), primary_key=True),
    Column("hits", Integer, nullable=False),
    Column("orders", Integer, nullable=False),
    Column("buyers", Integer, nullable=False),
    Column("suppliers", Integer, nullable=False),
)


# What ``summary`` counts under a range of months alone, for every range, in a few rows per flag
# (migration ``0025``). Distinct counts do not add up across months (a buyer flagged in two
# months of the range is one buyer), so what is stored is, per flag and ``measure`` (``hits``:
# the hits' ids; ``orders``, ``buyers``, ``suppliers``: the hits' ocid, buyer_id, supplier_id),
# the number of distinct things (``n``) that are in ``month`` and were last before it in
# ``previous`` ("" when never). A hit is in its month; one without a month (an entity flag) in
# each month of the orders behind it (those ``summary`` reads for the range). A thing is in a
# range [F, T] when one of its months is, and it is then counted once, at its first month in the
# range: the only one whose previous month is before F (or none). So the range's count is the sum
# of ``n`` over F <= month <= T and (previous = "" or previous < F); with no F, previous = "".
flag_month_firsts = Table(
    "flag_month_firsts",
    metadata,
    Column("flag", String(32), primary_key=True),
    Column("measure", String(16), primary_key=True),
    Column("month", String(7), primary_key=True),
    Column("previous", String(7), primary_key=True),
    Column("n", Integer, nullable=False),
)
