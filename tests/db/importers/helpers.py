"""Helpers for the importer tests: a small SAE with its feature rows."""

from __future__ import annotations

from sqlalchemy.orm import Session

from db.models import Feature, LanguageModel, Sae


def add_sae(session: Session, slug: str = "sae-test", d_sae: int = 64) -> Sae:
    """An SAE of `d_sae` features (all in group 0) on a throwaway model, flushed."""
    model = LanguageModel(slug=f"model-{slug}", name="tiny")
    sae = Sae(
        slug=slug,
        model=model,
        hookpoint="model.language_model.layers.15",
        layer=15,
        d_in=8,
        d_sae=d_sae,
        k=2,
        threshold=0.5,
        group_sizes=[d_sae],
    )
    session.add(sae)
    session.flush()
    session.add_all(Feature(sae_id=sae.id, index=index, group=0) for index in range(d_sae))
    session.flush()
    return sae
