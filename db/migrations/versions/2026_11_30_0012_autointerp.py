"""autointerp: runs, per-feature progress, per-example verdicts, an LLM response cache, AUC and
details on scores

Revision ID: 0012
Revises: 0013
Create Date: 2026-11-30 16:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0012"
down_revision = "0013"
branch_labels = None
depends_on = None


def _now() -> sa.Column:
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
    )


def upgrade() -> None:
    op.add_column("scores", sa.Column("auc", sa.Float(), nullable=True))
    op.add_column(
        "scores",
        sa.Column(
            "details",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default="{}",
            nullable=False,
        ),
    )
    op.create_table(
        "autointerp_runs",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("sae_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.Text(), server_default="queued", nullable=False),
        sa.Column("config", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("feature_indices", postgresql.ARRAY(sa.Integer()), nullable=False),
        sa.Column("token_budget", sa.BigInteger(), nullable=True),
        sa.Column("n_calls", sa.Integer(), server_default="0", nullable=False),
        sa.Column("n_cached", sa.Integer(), server_default="0", nullable=False),
        sa.Column("n_failed_calls", sa.Integer(), server_default="0", nullable=False),
        sa.Column("prompt_tokens", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("completion_tokens", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        _now(),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'done', 'failed')",
            name=op.f("ck_autointerp_runs_status"),
        ),
        sa.ForeignKeyConstraint(
            ["sae_id"], ["saes.id"], name=op.f("fk_autointerp_runs_sae_id_saes"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_autointerp_runs")),
    )
    op.create_table(
        "autointerp_run_features",
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("feature_index", sa.Integer(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("explanation_id", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        _now(),
        sa.CheckConstraint(
            "status IN ('done', 'failed')", name=op.f("ck_autointerp_run_features_status")
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["autointerp_runs.id"],
            name=op.f("fk_autointerp_run_features_run_id_autointerp_runs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["explanation_id"],
            ["explanations.id"],
            name=op.f("fk_autointerp_run_features_explanation_id_explanations"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("run_id", "feature_index", name=op.f("pk_autointerp_run_features")),
    )
    op.create_table(
        "autointerp_verdicts",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("score_id", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("example_id", sa.BigInteger(), nullable=True),
        sa.Column("document_id", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("activating", sa.Boolean(), nullable=False),
        sa.Column("prediction", sa.Boolean(), nullable=True),
        sa.Column("probability", sa.Float(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("shown", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "status IN ('ok', 'unparseable', 'failed')", name=op.f("ck_autointerp_verdicts_status")
        ),
        sa.ForeignKeyConstraint(
            ["score_id"],
            ["scores.id"],
            name=op.f("fk_autointerp_verdicts_score_id_scores"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_autointerp_verdicts")),
    )
    op.create_index(
        "ix_autointerp_verdicts_score_id", "autointerp_verdicts", ["score_id", "position"]
    )
    op.create_table(
        "llm_responses",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column("response", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), server_default="0", nullable=False),
        sa.Column("completion_tokens", sa.Integer(), server_default="0", nullable=False),
        _now(),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_llm_responses")),
    )


def downgrade() -> None:
    op.drop_table("llm_responses")
    op.drop_index("ix_autointerp_verdicts_score_id", table_name="autointerp_verdicts")
    op.drop_table("autointerp_verdicts")
    op.drop_table("autointerp_run_features")
    op.drop_table("autointerp_runs")
    op.drop_column("scores", "details")
    op.drop_column("scores", "auc")
