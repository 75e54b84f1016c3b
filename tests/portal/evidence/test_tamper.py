"""Every column of every table that holds published data: one random edit, and the audit names it.

The tables and columns are enumerated from the SQLAlchemy metadata, so a new column is covered
as soon as it exists; what is not published data is on the commented allow-list below. For each
column, a random row gets a random value of the column's type (seeded, so a failure repeats);
for each table, a random row is deleted. ``veraz audit``'s report must then name the problem
and whom it is about: the row's ocid, or its checkpoint, tile or entry bundle.

Real SQLite files (every column); one smaller run on a real PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import random
import sqlite3
import string
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from builders import example_order
from evidence_builders import publish_examples
from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    Integer,
    LargeBinary,
    Numeric,
    String,
    create_engine,
    delete,
    make_url,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from support import fresh_postgres_db, make_app

from anchoring.log import metadata as log_metadata
from portal.cli import main
from portal.dashboards import rollup as dashboards_rollup
from portal.dashboards.tables import metadata as dashboards_metadata
from portal.db import app_engine, upgrade
from portal.evidence.audit import audit
from portal.evidence.backends import Backends
from portal.evidence.tables import metadata as evidence_metadata
from portal.exports import Publication, export
from portal.flags import refresh as flags_refresh
from portal.flags import thresholds as flag_thresholds
from portal.flags.tables import metadata as flags_metadata
from portal.intake.tables import metadata as intake_metadata
from portal.models import metadata as portal_metadata
from portal.models import releases
from portal.publishing import import_ocds
from portal.search.tables import metadata as search_metadata
from portal.tokens.tables import metadata as tokens_metadata
from portal.tokens.tables import order_tokens

SEED = 20261204

# Columns that are not published data: when a row was stored or an attempt made. Each is
# either shown nowhere or shown as the portal's own clock, which no log entry can prove.
NOT_PUBLISHED = {
    ("releases", "published_at"): "when the row was stored (the API's package publishedDate)",
    ("releases", "origin"): "which command stored the release; shown nowhere",
    ("records", "updated_at"): "when the record was last recompiled",
    ("source_orders", "digest"): "digest of the source line, which is not kept nor published; "
    "it only makes a re-import of the same version a no-op",
    ("source_orders", "imported_at"): "when the order version was imported",
    ("proformas", "received_at"): "when the quote was stored",
    ("log_entry_bundles", "created_at"): "when the bundle was first written",
    ("checkpoints", "created_at"): "the sealing machine's clock; the anchors prove time",
    ("evidence_anchors", "id"): "row key of the anchoring state; (tree_size, type) is the identity",
    ("evidence_anchors", "attempts"): "retry state of the anchoring process",
    ("evidence_anchors", "next_attempt_at"): "retry state of the anchoring process",
    ("evidence_anchors", "last_error"): "the anchoring process's last error, never published",
    ("evidence_anchors", "intent"): "crash-safety state: the transaction before it is sent",
    ("evidence_anchors", "created_at"): "when the row was made",
    ("evidence_anchors", "updated_at"): "when the row last changed",
    ("evidence_pdfs", "created_at"): "when the PDF was signed (its signature's timestamp says it)",
    ("evidence_bulk_files", "id"): "row key; the file's name and SHA-256 are its identity",
    ("evidence_bulk_files", "logged_at"): "when the file was logged; the anchors prove time",
    ("flag_hits", "id"): "row key; a flag is its code, scope and subject",
    ("release_packages", "upgraded"): "whether the importer upgraded an OCDS 1.0 release; shown nowhere",
    ("release_packages", "source_file"): "the importer's file name, for its reject report; shown nowhere",
    ("release_packages", "source_location"): "the line or offset in that file; shown nowhere",
    ("token_batches", "raw"): "crash-safety state of minting: the signed transaction before it is sent",
    ("token_batches", "nonce"): "crash-safety state of minting: the nonce it was signed with",
    ("token_batches", "from_block"): "where minting looks for its transaction after a restart",
    ("token_batches", "last_error"): "the minting process's last error, never published",
    ("token_batches", "created_at"): "when the row was made",
    ("token_batches", "updated_at"): "when the row last changed",
}
# Tables no log entry covers. The package statement of an imported release is logged in its
# entry, so who published it and under which terms is audited like the release.
NOT_AUDITED_TABLES: dict[str, str] = {
    "evidence_witnesses": "the witness client's progress and retry state (which size each witness "
    "last cosigned, when to ask again); shown nowhere",
    "evidence_cosignatures": "third parties' signatures on checkpoints: every reader checks each "
    "line against the witness's own key before counting it (veraz verify --witness, the verify "
    "page in the browser), so an edited line is refused there, never shown as a confirmation",
    "intake_tokens": "the intake API's credentials (hashes of secrets, scopes, expiry): not "
    "published; a quote that arrives is stored in proformas and audited there against its entry",
    "intake_refusals": "the operator's report of refused quote changes (veraz tokens refusals); "
    "nothing refused is stored or logged, so no entry can cover it",
    "dash_state": "when the dashboards' summaries were last refreshed: a changed row makes the "
    "charts read the records, or the audit's recomputation of the summaries names what is stale",
}
# Order tokens are checked against the chain (portal.tokens.check), so their cases release the
# embedded chain that the module otherwise holds (as a watcher would) while the audit runs.
TOKEN_TABLES = {"order_tokens", "token_batches"}
HELD: dict[str, Backends] = {}

TABLES = [
    t
    for md in (
        portal_metadata,
        evidence_metadata,
        log_metadata,
        tokens_metadata,
        intake_metadata,
        dashboards_metadata,
        flags_metadata,
        search_metadata,
    )
    for t in md.sorted_tables
    if t.name not in NOT_AUDITED_TABLES
]
COLUMNS = [(t.name, c.name) for t in TABLES for c in t.columns if (t.name, c.name) not in NOT_PUBLISHED]
TABLE_OF = {t.name: t for t in TABLES}


def test_the_allow_list_names_real_columns():
    names = {(t.name, c.name) for t in TABLES for c in t.columns}
    assert set(NOT_PUBLISHED) <= names
    assert len(COLUMNS) > 40  # every published column of about ten tables


def _other_value(column, value, rng: random.Random):
    """A value of ``column``'s type that differs from ``value`` (never NULL for a non-NULL)."""
    kind = column.type
    if isinstance(kind, Boolean):
        return not value
    if isinstance(kind, DateTime):
        return (value or dt.datetime(2026, 1, 1, tzinfo=dt.UTC)) + dt.timedelta(seconds=rng.randint(1, 10**6))
    if isinstance(kind, Float):  # a flag's measure or threshold
        return (value or 0.0) + rng.randint(1, 10**6) / 100
    if isinstance(kind, Numeric):
        return (value or Decimal(0)) + Decimal(rng.randint(1, 10**6)) / 100
    if isinstance(kind, Integer):
        return (value or 0) + rng.choice([-1, 1]) * rng.randint(1, 3) ** rng.randint(1, 8)
    if isinstance(kind, LargeBinary):
        if not value:
            return rng.randbytes(rng.randint(1, 64))
        data = bytearray(value)
        data[rng.randrange(len(data))] ^= rng.randint(1, 255)
        return bytes(data)
    if isinstance(kind, String):  # also Text
        length = min(kind.length or 40, 40)
        while True:
            new = "".join(
                rng.choice(string.ascii_letters + string.digits) for _ in range(rng.randint(1, length))
            )
            if new != value:
                return new
    raise AssertionError(f"no edit for {column.table.name}.{column.name} of type {kind!r}")


def _named(table: str, row, conn) -> list[str]:  # type: ignore[no-untyped-def]
    """What the report must name (one of) for a change to ``row`` of ``table``."""
    if table in ("flag_buyer_pairs", "flag_buyer_years"):  # the red flags' sums per buyer
        return [f"buyer sums {row.buyer_id}"]
    if table == "flag_hits" and row.ocid is None:  # a flag of a buyer, supplier, pair or catalogue
        return [f"flag {row.flag} {row.scope}"]
    if table == "flag_state":  # what the flags were computed from, by its row's name
        return [f"flag_state {row.name}"]
    if table in ("flag_counts", "flag_totals", "flag_month_firsts"):  # the flags page's counts, per flag
        return [f"flag counts {row.flag}"]
    if "ocid" in row._fields:
        return [row.ocid]
    if table == "release_packages":  # the imported release the package statement is about
        ocid = conn.execute(select(releases.c.ocid).where(releases.c.id == row.release_pk)).scalar_one()
        return [ocid]
    if table == "dash_spending":  # the sum, named by its group
        return [f"summary {row.dimension}/{row.segment}/{row.year}/{row.key}/{row.month}"]
    if table == "token_batches":  # the orders it minted
        return list(
            conn.execute(select(order_tokens.c.ocid).where(order_tokens.c.batch_id == row.id)).scalars()
        )
    if table == "evidence_bulk_files":
        return [f"file {row.name}"]
    if table == "log_tiles":
        return [f"tile {row.level}/{row.idx}"]
    if table == "log_entry_bundles":  # the bundle, or an entry it holds
        return [f"bundle {row.idx}"] + [f"log entry {row.idx * 256 + k}:" for k in range(256)]
    if table == "checkpoints":
        return [f"checkpoint {row.size}"]
    return [f"checkpoint {row.tree_size}"]  # evidence_anchors, evidence_pdfs


def _tamper(engine, table_name: str, column_name: str | None, rng: random.Random) -> tuple[list[str], str]:
    """Change one field of a random row (or delete the row when ``column_name`` is None); return
    what the audit must name and a description of the edit."""
    table = TABLE_OF[table_name]
    key = list(table.primary_key.columns)
    with engine.connect() as conn:
        rows = conn.execute(select(table).order_by(*key)).all()
        assert rows, f"the built portal has no {table_name} row to tamper with"
        named = {id(row): _named(table_name, row, conn) for row in rows}
    for _attempt in range(50):
        row = rng.choice(rows)
        where = [c == getattr(row, c.name) for c in key]
        try:
            with engine.begin() as conn:
                if column_name is None:
                    conn.execute(delete(table).where(*where))
                    return named[id(row)], f"deleted {table_name} row {row[:3]}"
                value = _other_value(table.c[column_name], getattr(row, column_name), rng)
                conn.execute(update(table).where(*where).values({column_name: value}))
                return named[id(row)], f"{table_name}.{column_name} of {row[:3]} -> {value!r:.80}"
        except IntegrityError:
            continue  # the value collides with another row's key: draw again
    raise AssertionError(f"no valid edit of {table_name}.{column_name} in 50 draws")


def _import_a_package(app, tmp_path: Path) -> None:
    """Two releases of another publisher's package: who published them, under which licence
    and policy, is shown on their pages (``release_packages``)."""
    package = {
        "uri": "https://example.org/paquete/1.json",
        "version": "1.1",
        "publishedDate": "2023-05-01T00:00:00Z",
        "publisher": {
            "name": "Dirección Nacional de Contrataciones Públicas",
            "scheme": "PY-RUC",
            "uid": "80000000-0",
        },
        "license": "https://creativecommons.org/licenses/by/4.0/",
        "publicationPolicy": "https://example.org/politica",
        "extensions": [],
        "releases": [
            {
                "ocid": f"ocds-abc123-{i}",
                "id": f"ocds-abc123-{i}-r",
                "date": "2023-04-01T00:00:00Z",
                "tag": ["tender"],
                "initiationType": "tender",
                "tender": {"id": f"T-{i}", "title": f"Licitación {i}"},
            }
            for i in range(2)
        ],
    }
    path = tmp_path / "package.json"
    path.write_bytes(orjson.dumps(package))
    summary = import_ocds(app_engine(app), [path])
    assert summary.rejected == 0, summary.rejects


def _send_a_quote(app) -> None:
    """A quote that arrived alone through the intake API, before any order cites it."""
    from portal.intake import tokens

    with app_engine(app).begin() as conn:
        secret = tokens.create(conn, "quotes", "tamper")[1]
    quote = {"orderNumber": "OC-2026-000001", **example_order("3-partial")["proformas"][0]}
    response = app.test_client().post(
        "/api/intake/quotes", json=quote, headers={"Authorization": f"Bearer {secret}"}
    )
    assert response.status_code == 201, response.get_json()


def _build(app, tmp_path: Path) -> None:
    """Orders (with their PDFs and quotes), a second version of one, two checkpoints, every
    anchor done, evidence PDFs signed."""
    publish_examples(app, tmp_path, pdfs=True)
    runner = app.test_cli_runner()
    assert runner.invoke(main, ["anchor"]).exit_code == 0
    publish_examples(app, tmp_path, [example_order("1-single", version=2)], name="v2", pdfs=True)
    _import_a_package(app, tmp_path)
    _send_a_quote(app)
    folder = Path(app.config["INSTANCE_PATH"]) / "exports"
    export(app_engine(app), folder, Publication.from_config(app.config))  # bulk files, logged
    result = runner.invoke(main, ["anchor"])
    assert result.exit_code == 0, result.output
    dashboards_rollup.refresh(app_engine(app))  # as after an import
    flags_refresh(app_engine(app), flag_thresholds(app.config))
    app.config["TOKENS_MINT"] = True
    result = runner.invoke(main, ["mint"])
    assert result.exit_code == 0, result.output
    report = audit(app_engine(app), app.config)
    assert report.problems == [], [str(p) for p in report.problems]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A SQLite portal built once; each case audits a copy of its database file."""
    tmp_path = tmp_path_factory.mktemp("tamper")
    url = f"sqlite:///{tmp_path / 'built.sqlite3'}"
    upgrade(url)
    app = make_app(url, tmp_path)
    _build(app, tmp_path)
    app_engine(app).dispose()
    # Held for the whole module, as a running watcher holds it: each audit then checks the EVM
    # records against their checkpoints without opening the chain again.
    owner = Backends(app.config)
    owner.anchorer()
    HELD["sqlite"] = owner
    yield tmp_path
    owner.close()


def _copy(built: Path, tmp_path: Path):
    target = tmp_path / "case.sqlite3"
    source = sqlite3.connect(built / "built.sqlite3")
    copy = sqlite3.connect(target)
    source.backup(copy)
    source.close()
    copy.close()
    return make_app(f"sqlite:///{target}", built)


def _assert_named(app, must_name: list[str], edit: str, owner: Backends | None = None) -> None:
    if owner is not None:
        owner.close()  # the audit opens the chain to read the tokens
    try:
        report = audit(app_engine(app), app.config)
    finally:
        if owner is not None:
            owner.anchorer()
    found = [str(p) for p in report.problems]
    assert any(name in p for p in found for name in must_name), (
        f"{edit}: the audit did not name {must_name[0]!r}: {found}"
    )


@pytest.mark.parametrize(("table", "column"), COLUMNS, ids=[f"{t}.{c}" for t, c in COLUMNS])
def test_a_changed_field_is_named(built, tmp_path, table, column):
    app = _copy(built, tmp_path)
    rng = random.Random(f"{SEED}:{table}.{column}")
    try:
        must_name, edit = _tamper(app_engine(app), table, column, rng)
        _assert_named(app, must_name, edit, HELD["sqlite"] if table in TOKEN_TABLES else None)
    finally:
        app_engine(app).dispose()


@pytest.mark.parametrize("table", list(TABLE_OF), ids=list(TABLE_OF))
def test_a_deleted_row_is_named(built, tmp_path, table):
    app = _copy(built, tmp_path)
    rng = random.Random(f"{SEED}:delete:{table}")
    try:
        must_name, edit = _tamper(app_engine(app), table, None, rng)
        _assert_named(app, must_name, edit, HELD["sqlite"] if table in TOKEN_TABLES else None)
    finally:
        app_engine(app).dispose()


def test_tampering_on_postgresql(postgres_server, tmp_path):
    """A smaller run on PostgreSQL: eight random columns and three random deletions, each on a
    copy of the built database (CREATE DATABASE ... TEMPLATE)."""
    url = fresh_postgres_db(postgres_server)
    upgrade(url)
    app = make_app(url, tmp_path)
    _build(app, tmp_path)
    app_engine(app).dispose()
    owner = Backends(app.config)
    owner.anchorer()
    rng = random.Random(SEED)
    cases = rng.sample(COLUMNS, 8) + [(t, None) for t in rng.sample(list(TABLE_OF), 3)]
    admin = create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    template = make_url(url).database
    try:
        for n, (table, column) in enumerate(cases):
            name = f"{template}_{n}"
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
            case = make_app(make_url(url).set(database=name).render_as_string(hide_password=False), tmp_path)
            try:
                must_name, edit = _tamper(
                    app_engine(case), table, column, random.Random(f"{SEED}:{table}.{column}")
                )
                _assert_named(case, must_name, edit, owner if table in TOKEN_TABLES else None)
            finally:
                app_engine(case).dispose()
    finally:
        owner.close()
        admin.dispose()
