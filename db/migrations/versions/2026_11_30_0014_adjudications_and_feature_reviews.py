"""adjudications and per-feature review summaries

Revision ID: 0014
Revises: 0012
Create Date: 2026-11-30 16:30:00.000000

`adjudications` holds an admin's final verdict on a feature within a campaign. The `review_*`
columns on `features` summarise the ratings of campaigns that are closed or not blinded, kept in
step by the review services, so the feature list filters and sorts on indexed columns.
Two indexes on `campaign_items`: by feature within a campaign, and by explanation (the foreign
key's cascade when a human label is withdrawn).
`adjudicator_id` is a user id without a foreign key until the users table is merged.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0012"
branch_labels = None
depends_on = None


def _now(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False)


def upgrade() -> None:
    op.create_table(
        "adjudications",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("feature_index", sa.Integer(), nullable=False),
        sa.Column("verdict", sa.Text(), nullable=False),
        sa.Column("corrected_label", sa.Text(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("adjudicator_id", sa.Integer(), nullable=False),
        _now("created_at"),
        _now("updated_at"),
        sa.CheckConstraint(
            "verdict IN ('correct', 'wrong', 'corrected')", name=op.f("ck_adjudications_verdict")
        ),
        sa.CheckConstraint(
            "(verdict = 'corrected') = (corrected_label IS NOT NULL)",
            name=op.f("ck_adjudications_corrected_label"),
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_adjudications_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_adjudications")),
        sa.UniqueConstraint(
            "campaign_id", "feature_index", name=op.f("uq_adjudications_campaign_id_feature_index")
        ),
    )
    op.create_index("ix_campaign_items_feature", "campaign_items", ["campaign_id", "feature_index"])
    # Deleting an explanation (a human label withdrawn) looks up the items that show it.
    op.create_index("ix_campaign_items_explanation_id", "campaign_items", ["explanation_id"])
    op.add_column("features", sa.Column("review_state", sa.Text(), nullable=True))
    op.add_column("features", sa.Column("review_mean", sa.Float(), nullable=True))
    op.add_column("features", sa.Column("review_n", sa.Integer(), nullable=True))
    op.add_column("features", sa.Column("review_reviewers", sa.Integer(), nullable=True))
    op.add_column("features", sa.Column("review_agreement", sa.Float(), nullable=True))
    op.create_check_constraint(
        op.f("ck_features_review_state"), "features", "review_state IN ('reviewed', 'disputed')"
    )
    op.create_index("ix_features_sae_review_mean", "features", ["sae_id", "review_mean", "index"])
    op.create_index("ix_features_sae_review_state", "features", ["sae_id", "review_state", "index"])


def downgrade() -> None:
    op.drop_index("ix_features_sae_review_state", table_name="features")
    op.drop_index("ix_features_sae_review_mean", table_name="features")
    op.drop_constraint(op.f("ck_features_review_state"), "features", type_="check")
    for column in ("review_agreement", "review_reviewers", "review_n", "review_mean"):
        op.drop_column("features", column)
    op.drop_column("features", "review_state")
    op.drop_index("ix_campaign_items_explanation_id", table_name="campaign_items")
    op.drop_index("ix_campaign_items_feature", table_name="campaign_items")
    op.drop_table("adjudications")
