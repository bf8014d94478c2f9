"""Helpers for the importer tests: a small SAE with its feature rows."""

from __future__ import annotations

from sqlalchemy.orm import Session

from db.models import Feature, Sae
from tests.support.factories import make_sae


def add_sae(session: Session, slug: str = "sae-test", d_sae: int = 64) -> Sae:
    """An SAE of `d_sae` bare feature rows (no statistics, no labels), flushed."""
    sae = make_sae(session, slug, d_sae=d_sae)
    session.add_all(Feature(sae_id=sae.id, index=index, group=0) for index in range(d_sae))
    session.flush()
    return sae
