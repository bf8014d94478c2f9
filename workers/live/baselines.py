"""Unsteered reports already generated: any finished job of a study kind with the same
`baseline_key` (model, study, generation parameters) holds one."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import Job
from workers.kinds.registry import typed_kinds
from workers.kinds.study import StudyJobParams


def baseline_kinds() -> list[str]:
    """Kinds whose params carry a `baseline_key` (they write the unsteered report)."""
    return [kind.name for kind in typed_kinds() if issubclass(kind.params, StudyJobParams)]


def cached_baseline(session: Session, baseline_key: str) -> str | None:
    """The report of the earliest succeeded job with this baseline key, or None."""
    report = func.coalesce(Job.result["baseline"].astext, Job.result["report"].astext)
    return session.scalars(
        select(report)
        .where(
            Job.kind.in_(baseline_kinds()),
            Job.status == "succeeded",
            Job.params["baseline_key"].astext == baseline_key,
        )
        .order_by(Job.finished_at)
        .limit(1)
    ).first()
