"""Message security: the party registry, the signatures already seen (the replay cache) and
the ledger's verification detail.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "parties",
        sa.Column("party_id", sa.String(512), primary_key=True),
        sa.Column("roles", sa.String(256), nullable=False),
        sa.Column("certificate_sha256", sa.String(64), nullable=True, unique=True),
        sa.Column("subject", sa.String(1024), nullable=True, unique=True),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "seen_signatures",
        sa.Column("replay_key", sa.String(64), primary_key=True),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False, index=True),
    )
    op.add_column("ledger", sa.Column("verification_detail", sa.Text, nullable=True))


def downgrade() -> None:
    op.drop_column("ledger", "verification_detail")
    op.drop_table("seen_signatures")
    op.drop_table("parties")
