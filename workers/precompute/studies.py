"""Builds the runner's `Study` for a report: its images (if any) and free-text prompt fields."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from workers.corpus import Report


def _image(path: Path | None) -> Any:
    from workers.maira2.images import prepare_image

    return None if path is None else prepare_image(path.read_bytes(), path.name)


def study_for(report: Report) -> Any:
    """The runner's Study; without a frontal image the prompt is text only."""
    from workers.maira2.runner import Study

    return Study(
        frontal=_image(report.frontal),
        lateral=_image(report.lateral),
        indication=report.indication,
        technique=report.technique,
        comparison=report.comparison,
    )
