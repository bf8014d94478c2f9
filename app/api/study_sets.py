"""JSON API: the study sets on the server, which steering studies can run over by name."""

from __future__ import annotations

from fastapi import APIRouter

from app.deps import SettingsDep
from app.schemas.study_sets import StudySetList
from app.services.study_sets import list_study_sets

router = APIRouter(prefix="/study-sets", tags=["steering studies"])


@router.get("", name="api_study_sets")
def get_study_sets(settings: SettingsDep) -> StudySetList:
    """Study sets (folders of imaged reports under MAIRA_SAE_HOME/study_sets): the demo's
    held-out synthetic studies are `demo-held-out`. Name one as a steering study's `study_set`."""
    return list_study_sets(settings)
