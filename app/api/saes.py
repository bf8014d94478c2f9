"""JSON API for SAEs: the list and one SAE's summary statistics."""

from __future__ import annotations

from fastapi import APIRouter

from app.deps import SaeDep, SessionDep
from app.schemas.saes import SaeList, SaeSummary
from app.services.saes import list_saes, sae_summary

router = APIRouter(prefix="/saes", tags=["saes"])


@router.get("", name="api_saes")
def get_saes(session: SessionDep) -> SaeList:
    """Every SAE with its feature and label counts."""
    return list_saes(session)


@router.get("/{sae}", name="api_sae")
def get_sae(sae: SaeDep, session: SessionDep) -> SaeSummary:
    """Counts, dead features, the F1 histogram and frequency vs F1 (with Spearman's rho)."""
    return sae_summary(session, sae=sae)
