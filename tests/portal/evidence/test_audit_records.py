"""What an order page shows comes from ``records``: editing it is named by ``veraz audit``.

Editing the stored compiled release changed the supplier and the amount on the order page while
the audit said "no problem"; deleting a records row passed too. The audit now recompiles every
record from its releases with the function publishing uses and compares. Real SQLite file and
PostgreSQL.
"""

from __future__ import annotations

import orjson
from builders import example_order
from evidence_builders import order_ocid, publish_examples
from sqlalchemy import delete, insert, select, update

from portal.cli import main
from portal.db import app_engine
from portal.evidence.audit import Check, audit
from portal.models import records, source_orders

ORDER = example_order("1-single")
OCID = order_ocid(ORDER)


def _two_versions(app, tmp_path):
    """An order published as version 1 and 2 (a stored compiled release), anchored."""
    publish_examples(app, tmp_path, [ORDER], name="v1")
    publish_examples(app, tmp_path, [example_order("1-single", version=2)], name="v2")
    assert app.test_cli_runner().invoke(main, ["anchor"]).exit_code == 0
    engine = app_engine(app)
    assert audit(engine, app.config).problems == []
    return engine


def _record_problems(engine, config) -> list[str]:
    report = audit(engine, config)
    return [p.detail for p in report.problems if (p.check, p.subject) == (Check.RECORD, f"{OCID} record")]


def test_an_edited_compiled_release_is_named(app, tmp_path):
    engine = _two_versions(app, tmp_path)
    with engine.begin() as conn:
        stored = conn.execute(select(records.c.compiled).where(records.c.ocid == OCID)).scalar_one()
        compiled = orjson.loads(stored)
        compiled["awards"][0]["suppliers"][0]["name"] = "Otra Empresa S.A.C."
        compiled["contracts"][0]["value"]["amount"] = 1.0
        conn.execute(update(records).where(records.c.ocid == OCID).values(compiled=orjson.dumps(compiled)))
    assert _record_problems(engine, app.config) == [
        "the stored compiled release is not the one its logged releases compile to"
    ]


def test_edited_browse_columns_are_named(app, tmp_path):
    engine = _two_versions(app, tmp_path)
    with engine.begin() as conn:
        conn.execute(
            update(records)
            .where(records.c.ocid == OCID)
            .values(supplier_name="Otra Empresa S.A.C.", amount=1)
        )
    found = _record_problems(engine, app.config)
    assert [d.split(" is ")[0] for d in found] == ["column supplier_name", "column amount"]


def test_a_deleted_or_extra_records_row_is_named(app, tmp_path):
    engine = _two_versions(app, tmp_path)
    with engine.begin() as conn:
        row = conn.execute(select(records).where(records.c.ocid == OCID)).mappings().one()
        conn.execute(delete(records).where(records.c.ocid == OCID))
        conn.execute(insert(records).values({**row, "ocid": "ocds-test01-made-up"}))
    report = audit(engine, app.config)
    assert {(p.check, p.subject, p.detail) for p in report.problems} == {
        (
            Check.RECORD,
            f"{OCID} record",
            "no records row: the process is missing from listings, totals and dashboards",
        ),
        (Check.RECORD, "ocds-test01-made-up record", "a records row for a process with no published release"),
        # The evidence PDF lists each entry's order number from its record: without the row,
        # the checkpoint's record renders otherwise than the PDF that was signed.
        (
            Check.EVIDENCE_PDF,
            "checkpoint 3",
            "the stored evidence PDF is not the checkpoint's "
            "record as rendered from the log (altered, or made "
            "from other data)",
        ),
    }


def test_a_source_order_pointing_elsewhere_is_named(app, tmp_path):
    engine = _two_versions(app, tmp_path)
    with engine.begin() as conn:
        conn.execute(
            update(source_orders)
            .where(source_orders.c.ocid == OCID, source_orders.c.version == 2)
            .values(version=3)
        )
    report = audit(engine, app.config)
    number = ORDER["orderNumber"]
    assert [(p.check, p.subject) for p in report.problems] == [
        (Check.SOURCE_ORDER, f"{OCID} source order {number} version 3")
    ]
