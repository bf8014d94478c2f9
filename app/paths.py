"""Path parameters shared by an HTML page and its JSON twin."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

ReportPath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=200,
        description="The report's id in its corpus, as examples name it (e.g. `demo-01935`).",
    ),
]

RowId = Annotated[
    int,
    Path(
        ge=1,
        le=2**63 - 1,
        description="A stored row's id (a positive 64-bit integer, as PostgreSQL's bigint holds).",
    ),
]
