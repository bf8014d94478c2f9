"""accounts: users, server-side sessions, API keys, shared rate-limit windows; owners of jobs
and uploads

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 16:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

NOW = sa.text("now()")


def _owner_columns(table: str) -> None:
    op.add_column(table, sa.Column("owner_user_id", sa.BigInteger(), nullable=True))
    op.add_column(table, sa.Column("owner_anon", sa.Text(), nullable=True))
    op.create_foreign_key(
        op.f(f"fk_{table}_owner_user_id_users"),
        table,
        "users",
        ["owner_user_id"],
        ["id"],
        ondelete="CASCADE",
    )
    op.create_index(op.f(f"ix_{table}_owner_user_id"), table, ["owner_user_id"])


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.Column(
            "password_changed_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False
        ),
        sa.CheckConstraint(
            "role IN ('admin', 'reviewer', 'researcher')", name=op.f("ck_users_role")
        ),
        sa.CheckConstraint("length(name) BETWEEN 1 AND 64", name=op.f("ck_users_name_length")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("name", name=op.f("uq_users_name")),
    )
    op.create_table(
        "sessions",
        sa.Column("token_sha256", sa.Text(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_sessions_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("token_sha256", name=op.f("pk_sessions")),
    )
    op.create_index(op.f("ix_sessions_user_id"), "sessions", ["user_id"])
    op.create_index(op.f("ix_sessions_expires_at"), "sessions", ["expires_at"])
    op.create_table(
        "api_keys",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("prefix", sa.Text(), nullable=False),
        sa.Column("key_sha256", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_api_keys_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_sha256", name=op.f("uq_api_keys_key_sha256")),
    )
    op.create_index(op.f("ix_api_keys_user_id"), "api_keys", ["user_id"])
    op.create_table(
        "rate_limits",
        sa.Column("bucket", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("bucket", "subject", name=op.f("pk_rate_limits")),
    )
    _owner_columns("jobs")
    _owner_columns("uploads")
    op.create_index(op.f("ix_uploads_owner_anon"), "uploads", ["owner_anon"])


def downgrade() -> None:
    op.drop_index(op.f("ix_uploads_owner_anon"), table_name="uploads")
    for table in ("uploads", "jobs"):
        op.drop_index(op.f(f"ix_{table}_owner_user_id"), table_name=table)
        op.drop_constraint(op.f(f"fk_{table}_owner_user_id_users"), table, type_="foreignkey")
        op.drop_column(table, "owner_anon")
        op.drop_column(table, "owner_user_id")
    op.drop_table("rate_limits")
    op.drop_table("api_keys")
    op.drop_table("sessions")
    op.drop_table("users")
