"""What the API says about a search across SAEs."""

from __future__ import annotations

from pydantic import BaseModel, Field


class FeatureJump(BaseModel):
    """The query named a feature exactly, e.g. 'maira2-l15-ef4/123'."""

    sae: str
    index: int


class SearchHit(BaseModel):
    """An explanation matching the query, with its feature."""

    sae: str
    index: int
    text: str = Field(description="The matching explanation.")
    source: str
    is_primary: bool
    feature_label: str | None
    f1: float | None
    frequency: float | None
    rank: float = Field(description="Full-text relevance (higher is better).")


class SearchResults(BaseModel):
    q: str
    jump: FeatureJump | None
    data: list[SearchHit]
    count: int = Field(description="Hits returned (at most `limit`).")
    total: int = Field(description="Explanations matching the query, on all pages.")
