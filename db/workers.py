"""Worker liveness: each `maira-sae worker` keeps a row beating; the web reads who is alive.

A worker is alive while its heartbeat is younger than its own `stale_after_s` (the same bound
after which the reaper re-queues a running job). A job is lost when its own heartbeat is older
than that bound: its worker died (or hangs) and the reaper of any live worker re-queues it.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import ColumnElement, delete, func, literal_column, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from db.models import Job, Worker

FORGET_AFTER = timedelta(days=1)
DEFAULT_STALE_AFTER_S = 6.0
"""Bound used for a job whose worker left no row (it never registered, or was forgotten)."""


def register_worker(session: Session, name: str, concurrency: int, stale_after_s: float) -> None:
    """Add (or refresh) the worker's row and forget rows silent for a day. Commits."""
    session.execute(delete(Worker).where(Worker.heartbeat_at < func.now() - FORGET_AFTER))
    values = {"name": name, "concurrency": concurrency, "stale_after_s": stale_after_s}
    session.execute(
        insert(Worker)
        .values(**values)
        .on_conflict_do_update(
            index_elements=["name"],
            set_={**values, "started_at": func.now(), "heartbeat_at": func.now()},
        )
    )
    session.commit()


def beat(session: Session, name: str) -> bool:
    """Mark the worker alive now; False when its row is gone (register again). Commits."""
    beaten = session.execute(
        update(Worker).where(Worker.name == name).values(heartbeat_at=func.now())
    ).rowcount
    session.commit()
    return bool(beaten)


def unregister_worker(session: Session, name: str) -> None:
    """Remove the worker's row (it is stopping). Commits."""
    session.execute(delete(Worker).where(Worker.name == name))
    session.commit()


def _alive() -> ColumnElement[bool]:
    return Worker.heartbeat_at >= func.now() - Worker.stale_after_s * literal_column(
        "interval '1 second'"
    )


def live_workers(session: Session) -> list[Worker]:
    """Workers whose heartbeat is fresh, oldest first."""
    return list(session.scalars(select(Worker).where(_alive()).order_by(Worker.started_at)))


def count_live_workers(session: Session) -> int:
    """How many workers are alive now."""
    return session.scalar(select(func.count()).select_from(Worker).where(_alive())) or 0


def silent_for_s(session: Session, job: Job) -> float | None:
    """Seconds since a running job's last heartbeat when that exceeds its worker's bound (the
    job is lost); None while it beats in time or is not running."""
    if job.status != "running" or job.heartbeat_at is None:
        return None
    bound = session.scalar(select(Worker.stale_after_s).where(Worker.name == job.worker))
    silent = session.scalar(select(func.extract("epoch", func.now() - job.heartbeat_at)))
    if silent is None or float(silent) <= (bound or DEFAULT_STALE_AFTER_S):
        return None
    return float(silent)
