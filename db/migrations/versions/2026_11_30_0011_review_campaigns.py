"""review campaigns: campaigns, their items, and reviewers' ratings

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 16:00:00.000000

`campaigns.created_by` and `ratings.reviewer_id` are user ids without a foreign key yet: the
users table arrives in revision 0010 (accounts), which adds the constraints when merged.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def _now(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False)


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("sae_id", sa.Integer(), nullable=False),
        sa.Column("selection", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("label_source", sa.Text(), nullable=True),
        sa.Column("reviewers_per_feature", sa.Integer(), nullable=False),
        sa.Column("overlap_size", sa.Integer(), nullable=False),
        sa.Column("blinded", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("decoy_share", sa.Float(), server_default="0", nullable=False),
        sa.Column("seed", sa.Integer(), server_default="0", nullable=False),
        sa.Column("n_items", sa.Integer(), server_default="0", nullable=False),
        sa.Column("status", sa.Text(), server_default="open", nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        _now("created_at"),
        sa.CheckConstraint("status IN ('open', 'closed')", name=op.f("ck_campaigns_status")),
        sa.CheckConstraint(
            "reviewers_per_feature >= 1", name=op.f("ck_campaigns_reviewers_per_feature")
        ),
        sa.CheckConstraint("overlap_size >= 0", name=op.f("ck_campaigns_overlap_size")),
        sa.CheckConstraint(
            "decoy_share >= 0 AND decoy_share < 1", name=op.f("ck_campaigns_decoy_share")
        ),
        sa.ForeignKeyConstraint(
            ["sae_id"], ["saes.id"], name=op.f("fk_campaigns_sae_id_saes"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
    )
    op.create_table(
        "campaign_items",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("feature_index", sa.Integer(), nullable=False),
        sa.Column("explanation_id", sa.BigInteger(), nullable=False),
        sa.Column("is_decoy", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("decoy_source_index", sa.Integer(), nullable=True),
        sa.Column("is_overlap", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("n_ratings", sa.Integer(), server_default="0", nullable=False),
        sa.CheckConstraint(
            "is_decoy = (decoy_source_index IS NOT NULL) AND NOT (is_decoy AND is_overlap)",
            name=op.f("ck_campaign_items_decoy"),
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_items_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["explanation_id"],
            ["explanations.id"],
            name=op.f("fk_campaign_items_explanation_id_explanations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_items")),
        sa.UniqueConstraint(
            "campaign_id", "position", name=op.f("uq_campaign_items_campaign_id_position")
        ),
    )
    op.create_index(
        "ix_campaign_items_open",
        "campaign_items",
        ["campaign_id", "n_ratings"],
        postgresql_include=["position"],
        postgresql_where=sa.text("NOT is_overlap"),
    )
    op.create_table(
        "ratings",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.BigInteger(), nullable=False),
        sa.Column("reviewer_id", sa.Integer(), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("meaningful", sa.Text(), nullable=True),
        sa.Column("category", sa.Text(), nullable=True),
        sa.Column("corrected_label", sa.Text(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("skipped", sa.Boolean(), server_default="false", nullable=False),
        _now("created_at"),
        _now("updated_at"),
        sa.CheckConstraint("rating BETWEEN 1 AND 5", name=op.f("ck_ratings_rating")),
        sa.CheckConstraint("skipped OR rating IS NOT NULL", name=op.f("ck_ratings_answered")),
        sa.CheckConstraint(
            "meaningful IN ('yes', 'no', 'unsure')", name=op.f("ck_ratings_meaningful")
        ),
        sa.CheckConstraint(
            "category IN ('finding', 'device', 'anatomy', 'negation_or_uncertainty', "
            "'comparison_or_change', 'report_structure_or_style', 'other')",
            name=op.f("ck_ratings_category"),
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_ratings_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["campaign_items.id"],
            name=op.f("fk_ratings_item_id_campaign_items"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ratings")),
        sa.UniqueConstraint("item_id", "reviewer_id", name=op.f("uq_ratings_item_id_reviewer_id")),
    )
    op.create_index(
        "ix_ratings_campaign_reviewer", "ratings", ["campaign_id", "reviewer_id", "item_id"]
    )


def downgrade() -> None:
    op.drop_table("ratings")
    op.drop_table("campaign_items")
    op.drop_table("campaigns")
