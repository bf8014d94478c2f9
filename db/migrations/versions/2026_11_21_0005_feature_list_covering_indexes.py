"""feature list covering indexes: F1 and frequency filters counted from the index alone

The feature list filters on F1 and frequency ranges together and counts the matches. With each
index also carrying the other column, those counts are index-only scans instead of reads of the
wide features heap (histograms and neighbour arrays make it about 1.5 kB a row).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21 02:00:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_features_sae_f1", table_name="features")
    op.drop_index("ix_features_sae_frequency", table_name="features")
    op.create_index(
        "ix_features_sae_f1",
        "features",
        ["sae_id", "f1", "index"],
        postgresql_include=["frequency"],
    )
    op.create_index(
        "ix_features_sae_frequency",
        "features",
        ["sae_id", "frequency", "index"],
        postgresql_include=["f1"],
    )


def downgrade() -> None:
    op.drop_index("ix_features_sae_f1", table_name="features")
    op.drop_index("ix_features_sae_frequency", table_name="features")
    op.create_index("ix_features_sae_f1", "features", ["sae_id", "f1", "index"])
    op.create_index("ix_features_sae_frequency", "features", ["sae_id", "frequency", "index"])
