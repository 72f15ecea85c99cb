"""An index on a tender's author, status and expiry, so counting a party's standing tenders (the
``--max-standing-tenders`` limit, checked on every create) reads only those, however many filled
and expired tenders the party has. It replaces the index on the author alone, its prefix.

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_tenders_author", table_name="tenders")
    op.create_index(
        "ix_tenders_author_status_expires_s", "tenders", ["author", "status", "expires_s"]
    )


def downgrade() -> None:
    op.drop_index("ix_tenders_author_status_expires_s", table_name="tenders")
    op.create_index("ix_tenders_author", "tenders", ["author"])
