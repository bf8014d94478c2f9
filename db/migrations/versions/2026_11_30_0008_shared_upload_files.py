"""shared upload files: identical pixels are stored once, several upload rows may share a file

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 15:30:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_constraint("uq_uploads_path", "uploads", type_="unique")
    op.create_index("ix_uploads_path", "uploads", ["path"])


def downgrade() -> None:
    op.drop_index("ix_uploads_path", table_name="uploads")
    op.create_unique_constraint("uq_uploads_path", "uploads", ["path"])
