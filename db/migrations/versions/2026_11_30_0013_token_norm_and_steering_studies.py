"""saes.mean_token_norm (alpha in units of it) and steering_studies (kept study results)

Revision ID: 0013
Revises: 0011
Create Date: 2026-11-30 16:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0013"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("saes", sa.Column("mean_token_norm", sa.Float(), nullable=True))
    op.create_check_constraint(
        "positive_mean_token_norm", "saes", "mean_token_norm IS NULL OR mean_token_norm > 0"
    )
    op.create_table(
        "steering_studies",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("sae_id", sa.Integer(), nullable=False),
        sa.Column("features", postgresql.ARRAY(sa.Integer()), nullable=False),
        sa.Column("params", postgresql.JSONB(), server_default="{}", nullable=False),
        sa.Column("job_ids", postgresql.ARRAY(sa.Uuid()), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["sae_id"],
            ["saes.id"],
            name=op.f("fk_steering_studies_sae_id_saes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_steering_studies")),
    )
    op.create_index(
        "ix_steering_studies_features",
        "steering_studies",
        ["features"],
        postgresql_using="gin",
    )


def downgrade() -> None:
    op.drop_index("ix_steering_studies_features", table_name="steering_studies")
    op.drop_table("steering_studies")
    op.drop_constraint(op.f("ck_saes_positive_mean_token_norm"), "saes", type_="check")
    op.drop_column("saes", "mean_token_norm")
