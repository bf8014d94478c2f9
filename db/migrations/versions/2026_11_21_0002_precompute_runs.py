"""precompute runs

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 01:05:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "precompute_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sae_id", sa.Integer(), nullable=False),
        sa.Column("corpus_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("n_shards", sa.Integer(), server_default="1", nullable=False),
        sa.Column(
            "shards", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False
        ),
        sa.Column("n_documents", sa.Integer(), server_default="0", nullable=False),
        sa.Column("n_tokens", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column(
            "config", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column(
            "started_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('running', 'merging', 'done', 'failed')",
            name=op.f("ck_precompute_runs_status"),
        ),
        sa.ForeignKeyConstraint(
            ["corpus_id"],
            ["corpora.id"],
            name=op.f("fk_precompute_runs_corpus_id_corpora"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sae_id"],
            ["saes.id"],
            name=op.f("fk_precompute_runs_sae_id_saes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_precompute_runs")),
        sa.UniqueConstraint(
            "sae_id", "corpus_id", name=op.f("uq_precompute_runs_sae_id_corpus_id")
        ),
    )


def downgrade() -> None:
    op.drop_table("precompute_runs")
