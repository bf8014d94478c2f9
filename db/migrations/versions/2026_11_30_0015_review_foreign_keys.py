"""foreign keys from the review tables to users

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30 18:15:00.000000

`campaigns.created_by`, `ratings.reviewer_id` and `adjudications.adjudicator_id` become bigint
(as `users.id` is) foreign keys to `users`:
- a campaign outlives its creator: ON DELETE SET NULL;
- ratings and verdicts are a study's data: a user who rated or adjudicated cannot be deleted
  (ON DELETE RESTRICT).
Rows naming a user that does not exist, which earlier revisions allowed, are kept: such a
campaign's creator becomes NULL; each missing rater or adjudicator gets a placeholder account
with that id, named `former-user-<id>`, role reviewer, and the password hash '!' that no password
matches (accounts.authenticate treats it as invalid), so ratings and per-reviewer statistics
stay as they were. The downgrade keeps those accounts.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

# (table, column, ON DELETE)
KEYS = (
    ("campaigns", "created_by", "SET NULL"),
    ("ratings", "reviewer_id", "RESTRICT"),
    ("adjudications", "adjudicator_id", "RESTRICT"),
)

_ORPHANED_CREATORS = """
    UPDATE campaigns SET created_by = NULL
    WHERE created_by IS NOT NULL AND NOT EXISTS (SELECT FROM users WHERE id = created_by)
"""
_PLACEHOLDERS = """
    WITH missing AS (
        SELECT reviewer_id AS id FROM ratings UNION SELECT adjudicator_id FROM adjudications
        EXCEPT SELECT id FROM users
    )
    INSERT INTO users (id, name, role, password_hash)
    SELECT id, 'former-user-' || id || CASE
            WHEN EXISTS (SELECT FROM users WHERE name = 'former-user-' || id)
            THEN '-' || substr(md5(random()::text), 1, 8) ELSE '' END,
        'reviewer', '!'
    FROM missing
    RETURNING id
"""
# Identity values handed out later must not meet the placeholders' ids.
_ADVANCE_IDS = """
    SELECT setval(pg_get_serial_sequence('users', 'id'),
                  greatest((SELECT max(id) FROM users),
                           nextval(pg_get_serial_sequence('users', 'id'))))
"""


def upgrade() -> None:
    bind = op.get_bind()
    bind.execute(sa.text(_ORPHANED_CREATORS))
    if bind.execute(sa.text(_PLACEHOLDERS)).first() is not None:
        bind.execute(sa.text(_ADVANCE_IDS))
    for table, column, on_delete in KEYS:
        op.alter_column(
            table,
            column,
            type_=sa.BigInteger(),
            existing_type=sa.Integer(),
            existing_nullable=column == "created_by",
        )
        op.create_foreign_key(
            op.f(f"fk_{table}_{column}_users"), table, "users", [column], ["id"], ondelete=on_delete
        )


def downgrade() -> None:
    for table, column, _ in reversed(KEYS):
        op.drop_constraint(op.f(f"fk_{table}_{column}_users"), table, type_="foreignkey")
        op.alter_column(
            table,
            column,
            type_=sa.Integer(),
            existing_type=sa.BigInteger(),
            existing_nullable=column == "created_by",
        )
