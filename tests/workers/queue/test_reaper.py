"""The reaper on its own: stale running jobs and queued jobs whose queue entry cannot run them."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from db import jobs as job_table
from db.models import Job
from workers.queue.reaper import WORKER_LOST, reap
from workers.queue.submit import submit_job


def entry_status(session: Session, entry_id: int) -> str:
    return session.scalar(
        text("SELECT status FROM procrastinate_jobs WHERE id = :id"), {"id": entry_id}
    )


def claimed_long_ago(sessions: sessionmaker[Session], queue_url: str, **options: int) -> Job:
    """A job claimed by a worker whose last heartbeat was a minute ago."""
    job = submit_job(queue_url, "test.steps", **options)
    with sessions() as session:
        job_table.claim_job(session, job.id, "gone:1")
        session.execute(
            text("UPDATE jobs SET heartbeat_at = now() - interval '1 minute' WHERE id = :id"),
            {"id": job.id},
        )
        session.commit()
    return job


def test_stale_running_job_is_requeued_with_a_new_queue_entry(
    sessions: sessionmaker[Session], queue_url: str
) -> None:
    job = claimed_long_ago(sessions, queue_url)
    reaped = reap(sessions, stale_after_s=30)
    assert str(job.id) in reaped.requeued
    with sessions() as session:
        requeued = job_table.get_job(session, job.id)
        assert (requeued.status, requeued.attempts, requeued.worker) == ("queued", 1, None)
        assert requeued.progress_message == f"re-queued: {WORKER_LOST}"
        assert requeued.procrastinate_job_id != job.procrastinate_job_id
        assert entry_status(session, requeued.procrastinate_job_id) == "todo"
    assert str(job.id) not in reap(sessions, stale_after_s=30).requeued


def test_stale_job_on_its_last_attempt_fails_with_the_reason(
    sessions: sessionmaker[Session], queue_url: str
) -> None:
    job = claimed_long_ago(sessions, queue_url, max_attempts=1)
    assert str(job.id) in reap(sessions, stale_after_s=30).failed
    with sessions() as session:
        failed = job_table.get_job(session, job.id)
    assert (failed.status, failed.error, failed.error_kind) == (
        "failed",
        WORKER_LOST,
        "worker_lost",
    )


def test_fresh_heartbeats_are_left_alone(sessions: sessionmaker[Session], queue_url: str) -> None:
    job = submit_job(queue_url, "test.steps")
    with sessions() as session:
        job_table.claim_job(session, job.id, "alive:1")
    reaped = reap(sessions, stale_after_s=30)
    assert str(job.id) not in reaped.requeued + reaped.failed + reaped.redeferred


def test_queued_job_whose_entry_ended_gets_a_new_one(
    sessions: sessionmaker[Session], queue_url: str
) -> None:
    job = submit_job(queue_url, "test.steps")
    with sessions() as session:
        session.execute(
            text("UPDATE procrastinate_jobs SET status = 'failed' WHERE id = :id"),
            {"id": job.procrastinate_job_id},
        )
        session.commit()
    assert str(job.id) in reap(sessions, stale_after_s=30).redeferred
    with sessions() as session:
        again = job_table.get_job(session, job.id)
        assert again.status == "queued"
        assert entry_status(session, again.procrastinate_job_id) == "todo"
