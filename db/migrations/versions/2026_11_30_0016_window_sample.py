"""window sample: a fixed random sample of context windows with the features active in each

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30 18:15:00.000000

`window_samples` holds, per (SAE, corpus), a seeded random sample of context windows (precompute
draws it when it merges) and for each window the ascending indices of the features active in it
with their maxima. Autointerp takes its non-activating examples and hard negatives from it; a
GIN index answers "windows where any of these features fires" (`&&`) and "where this one does"
(`@>`).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "window_samples",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("sae_id", sa.Integer(), nullable=False),
        sa.Column("corpus_id", sa.Integer(), nullable=False),
        sa.Column("document_id", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("start", sa.Integer(), nullable=False),
        sa.Column("end", sa.Integer(), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("feature_indices", postgresql.ARRAY(sa.Integer()), nullable=False),
        sa.Column("feature_maxima", postgresql.ARRAY(postgresql.REAL()), nullable=False),
        sa.CheckConstraint('start >= 0 AND "end" > start', name=op.f("ck_window_samples_span")),
        sa.CheckConstraint(
            "cardinality(feature_indices) = cardinality(feature_maxima)",
            name=op.f("ck_window_samples_sparse"),
        ),
        sa.ForeignKeyConstraint(
            ["sae_id"], ["saes.id"], name=op.f("fk_window_samples_sae_id_saes"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["corpus_id"],
            ["corpora.id"],
            name=op.f("fk_window_samples_corpus_id_corpora"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
            name=op.f("fk_window_samples_document_id_documents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_window_samples")),
        sa.UniqueConstraint(
            "sae_id",
            "corpus_id",
            "position",
            name=op.f("uq_window_samples_sae_id_corpus_id_position"),
        ),
    )
    op.create_index(
        "ix_window_samples_features",
        "window_samples",
        ["feature_indices"],
        postgresql_using="gin",
    )
    op.create_index("ix_window_samples_document", "window_samples", ["document_id"])


def downgrade() -> None:
    op.drop_index("ix_window_samples_document", table_name="window_samples")
    op.drop_index("ix_window_samples_features", table_name="window_samples")
    op.drop_table("window_samples")
