"""release_packages: the package metadata of every imported release

``veraz import-ocds`` kept the releases and dropped the packages they came in, so the portal
could not say who published an imported release, under which licence and policy, or with which
extensions. One row per imported release (by ``releases.id``) from now on; releases imported
before have none (their packages are not known any more).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 18:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "release_packages",
        sa.Column("release_pk", _BIG_ID, nullable=False, autoincrement=False),
        sa.Column("package_uri", sa.Text()),
        sa.Column("version", sa.Text()),
        sa.Column("published_date", sa.Text()),
        sa.Column("publisher_name", sa.Text()),
        sa.Column("publisher_scheme", sa.Text()),
        sa.Column("publisher_uid", sa.Text()),
        sa.Column("publisher_uri", sa.Text()),
        sa.Column("license", sa.Text()),
        sa.Column("publication_policy", sa.Text()),
        sa.Column("extensions", sa.Text()),
        sa.Column("upgraded", sa.Boolean(), nullable=False),
        sa.Column("source_file", sa.Text(), nullable=False),
        sa.Column("source_location", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("release_pk", name="pk_release_packages"),
    )


def downgrade() -> None:
    op.drop_table("release_packages")
