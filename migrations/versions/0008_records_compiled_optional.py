"""records.compiled is optional: one-release records derive it on read

A record of one release compiles to that release with a new id and tag; storing it doubled
what publishing wrote. Existing rows keep their stored compiled release.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-21 10:25:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("records") as batch:
        batch.alter_column("compiled", existing_type=sa.LargeBinary(), nullable=True)


def downgrade() -> None:
    # Store what was derived on read, then make the column required again.
    import orjson

    from ocds.compile import compile_release

    conn = op.get_bind()
    missing = conn.execute(sa.text("SELECT ocid FROM records WHERE compiled IS NULL")).scalars()
    for ocid in list(missing):
        data = (
            conn.execute(sa.text("SELECT data FROM releases WHERE ocid = :o ORDER BY date, id"), {"o": ocid})
            .scalars()
            .all()
        )
        compiled = orjson.dumps(compile_release([orjson.loads(d) for d in data]))
        conn.execute(sa.text("UPDATE records SET compiled = :c WHERE ocid = :o"), {"c": compiled, "o": ocid})
    with op.batch_alter_table("records") as batch:
        batch.alter_column("compiled", existing_type=sa.LargeBinary(), nullable=False)
