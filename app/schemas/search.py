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
    rank: float = Field(
        description="Relevance, higher is better: full-text rank normalised by label length, plus "
        "trigram similarity of the label and of its closest words to the query (0 to 1 each; "
        "where the server has pg_trgm)."
    )


class SearchResults(BaseModel):
    q: str
    jump: FeatureJump | None
    notice: str | None = Field(
        description="Why a feature reference such as 'sae/9999' leads nowhere, in words."
    )
    data: list[SearchHit]
    count: int = Field(description="Hits returned (at most `limit`).")
    total: int = Field(
        description="Explanations matching the query: exact when `total_exact`, otherwise an "
        "estimate (the ranking reads a bounded number of candidates)."
    )
    total_exact: bool = True
