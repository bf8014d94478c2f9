"""Study sets: named folders of imaged reports that steering studies can run over."""

from __future__ import annotations

from pydantic import BaseModel, Field

from workers.kinds.steering_study import MAX_STUDIES

STUDY_SET_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"


class StudySetOut(BaseModel):
    """A study set on the server (MAIRA_SAE_HOME/study_sets/<name>)."""

    name: str
    n_studies: int = Field(description="Studies in the set that have a frontal image.")


class StudySetList(BaseModel):
    """Every study set on the server, by name."""

    data: list[StudySetOut]


class StudySetChoice(BaseModel):
    """The first `limit` studies of a study set, in the set's order."""

    name: str = Field(pattern=STUDY_SET_NAME, description="Name of the set (GET /study-sets).")
    limit: int = Field(MAX_STUDIES, ge=1, le=MAX_STUDIES, description="How many of its studies.")
