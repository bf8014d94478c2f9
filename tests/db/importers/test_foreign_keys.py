"""Suspending foreign keys: they come back unchanged and still reject bad rows."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db.importers.foreign_keys import restore_foreign_keys, suspend_foreign_keys

CONSTRAINTS = text(
    "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
    " WHERE conrelid = 'examples'::regclass AND contype = 'f' ORDER BY conname"
)


def test_constraints_are_restored_as_they_were(session: Session) -> None:
    before = session.execute(CONSTRAINTS).all()
    assert len(before) == 3
    suspended = suspend_foreign_keys(session, "examples")
    assert session.execute(CONSTRAINTS).all() == []
    restore_foreign_keys(session, "examples", suspended)
    assert session.execute(CONSTRAINTS).all() == before


def test_rows_loaded_while_suspended_are_validated_when_restored(session: Session) -> None:
    suspended = suspend_foreign_keys(session, "examples")
    session.execute(
        text(
            "INSERT INTO examples (feature_id, corpus_id, document_id, kind, rank, start,"
            ' "end", values, max_value, max_position)'
            " VALUES (-1, -1, -1, 'top', 0, 0, 1, '', 1, 0)"
        )
    )
    with pytest.raises(IntegrityError):
        restore_foreign_keys(session, "examples", suspended)
