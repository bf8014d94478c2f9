"""Suspends a table's foreign keys for one bulk load, re-creating them (validated) afterwards.

PostgreSQL checks a foreign key with one trigger query per inserted or cascaded row; for millions
of rows that costs several times the COPY itself. Dropping the constraints and adding them back
validates all rows with one join each ("Populating a Database", PostgreSQL manual 14.4). The
constraints are re-created from their own definitions (pg_get_constraintdef), so they stay what
the migrations made them. Both steps belong in one transaction: a failure in between rolls the
drop back too. The table is locked ACCESS EXCLUSIVE until that transaction ends.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session


def suspend_foreign_keys(session: Session, table: str) -> list[tuple[str, str]]:
    """Drop `table`'s foreign keys; return their (name, definition) for `restore_foreign_keys`."""
    constraints = session.execute(
        text(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = CAST(:table AS regclass) AND contype = 'f' ORDER BY conname"
        ),
        {"table": table},
    ).all()
    for name, _ in constraints:
        session.execute(text(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"'))
    return [(name, definition) for name, definition in constraints]


def restore_foreign_keys(session: Session, table: str, constraints: list[tuple[str, str]]) -> None:
    """Add the constraints back; each validates every row of `table` with one join."""
    for name, definition in constraints:
        session.execute(text(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}'))
