"""License aliases: a historical identifier (a provincial check-character variant) kept
next to the standard one, unique and indexed so that old QR codes and paper copies still
find the license.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # ADD COLUMN of a nullable column is a metadata-only change on both databases: no
    # table rewrite, so it is safe on a table with millions of licenses.
    op.add_column("licenses", sa.Column("alias", sa.String(128), nullable=True))
    op.create_index("ix_licenses_alias", "licenses", ["alias"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_licenses_alias", table_name="licenses")
    with op.batch_alter_table("licenses") as batch:
        batch.drop_column("alias")
