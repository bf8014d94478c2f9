"""Unsteered reports already generated: any finished encode or steer job with the same
`baseline_key` (model, study, generation parameters) holds one."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import Job

BASELINE_KINDS = ("encode", "steer")


def cached_baseline(session: Session, baseline_key: str | None) -> str | None:
    """The report of the earliest succeeded job with this baseline key, or None."""
    if not baseline_key:
        return None
    report = func.coalesce(Job.result["baseline"].astext, Job.result["report"].astext)
    return session.scalars(
        select(report)
        .where(
            Job.kind.in_(BASELINE_KINDS),
            Job.status == "succeeded",
            Job.params["baseline_key"].astext == baseline_key,
        )
        .order_by(Job.finished_at)
        .limit(1)
    ).first()
