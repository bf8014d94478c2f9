"""The submit side and the schema: light imports, atomic enqueue, caching, migrations."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from alembic import command
from procrastinate.schema import SchemaManager
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db import jobs as job_table
from db.migrate import alembic_config
from db.models import Job
from workers.queue.app import app
from workers.queue.enqueue import RUN_JOB_TASK, entry_priority
from workers.queue.submit import submit_job

MIGRATION = Path(__file__).resolve().parents[3] / "db/migrations/versions"


def queue_entry(session: Session, job: Job) -> dict:
    row = session.execute(
        text("SELECT status, task_name, args, priority FROM procrastinate_jobs WHERE id = :id"),
        {"id": job.procrastinate_job_id},
    ).one()
    return dict(row._mapping)


def test_importing_the_submit_side_loads_no_model_code() -> None:
    code = (
        "import sys, workers.queue.submit, app.services.jobs\n"
        "heavy = [m for m in ('torch', 'transformers', 'workers.maira2') if m in sys.modules]\n"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_worker_imports_handler_modules_only_when_their_first_job_arrives() -> None:
    code = (
        "import sys\n"
        "from workers.queue import handlers, worker\n"
        "handlers.HANDLER_MODULES['test.steps'] = 'tests.support.queue_handlers'\n"
        "assert 'test.steps' in handlers.load_handlers('')\n"
        "assert 'tests.support.queue_handlers' not in sys.modules\n"
        "assert handlers.get_handler('test.steps').__name__ == 'steps'\n"
        "heavy = [m for m in ('torch', 'transformers', 'workers.maira2') if m in sys.modules]\n"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[3])


def test_submit_writes_the_row_and_its_queue_entry_together(session: Session) -> None:
    job = submit_job(session, "test.steps", {"steps": 2}, priority=3, timeout_s=5)
    assert (job.status, job.params, job.priority, job.timeout_s) == (
        "queued",
        {"steps": 2},
        3,
        5,
    )
    assert job.max_attempts == 3 and job.attempts == 0
    assert queue_entry(session, job) == {
        "status": "todo",
        "task_name": RUN_JOB_TASK,
        "args": {"job_id": str(job.id)},
        "priority": entry_priority(3, resumed=False),
    }
    assert RUN_JOB_TASK in app.tasks


def test_a_cache_key_shares_one_job_until_it_fails(session: Session) -> None:
    first = submit_job(session, "test.steps", cache_key="steer:abc")
    assert submit_job(session, "test.steps", cache_key="steer:abc").id == first.id
    lease = job_table.lease_of(job_table.claim_job(session, first.id, "host:1"))
    job_table.finish_job(session, lease, "failed", error="boom", error_kind="internal")
    retried = submit_job(session, "test.steps", cache_key="steer:abc")
    assert retried.id != first.id and retried.status == "queued"
    session.refresh(first)
    assert first.cache_key is None
    assert submit_job(session, "test.steps", cache_key="steer:other").id != retried.id


def test_cache_keys_are_unique_in_the_schema(session: Session) -> None:
    session.add_all([Job(kind="x", cache_key="k"), Job(kind="x", cache_key="k")])
    with pytest.raises(IntegrityError):
        session.flush()


def test_a_lost_lease_cannot_overwrite_the_next_attempt(session: Session) -> None:
    job = submit_job(session, "test.steps")
    first = job_table.lease_of(job_table.claim_job(session, job.id, "host:1"))
    with session.begin_nested():
        job_table.requeue(session, session.get_one(Job, job.id), "re-queued")
    second = job_table.lease_of(job_table.claim_job(session, job.id, "host:2"))
    assert second.attempt == 2
    assert job_table.heartbeat(session, first) is None
    assert not job_table.report_progress(session, first, 0.9, "stale")
    assert not job_table.finish_job(session, first, "succeeded", result={"from": "first"})
    assert job_table.finish_job(session, second, "succeeded", result={"from": "second"})
    assert job_table.get_job(session, job.id).result == {"from": "second"}


def test_revision_0003_matches_the_installed_procrastinate_schema() -> None:
    """Fails when procrastinate ships new migrations: apply them in a new Alembic revision."""
    source = (MIGRATION / "2026_11_21_0003_jobs_and_queue.py").read_text()
    newest = max(Path(SchemaManager.get_migrations_path()).glob("*.sql")).stem
    assert f'PROCRASTINATE_MIGRATION = "{newest}"' in source


def test_queue_schema_downgrades_and_upgrades_cleanly(make_database: Callable[[], str]) -> None:
    url = make_database()
    config = alembic_config(url)
    engine = create_engine(url)
    count = text(
        "SELECT (SELECT count(*) FROM pg_class WHERE relname LIKE 'procrastinate%')"
        " + (SELECT count(*) FROM pg_proc WHERE proname LIKE 'procrastinate%')"
        " + (SELECT count(*) FROM pg_type WHERE typname LIKE '%procrastinate%')"
        " + (SELECT count(*) FROM pg_class WHERE relname = 'jobs')"
    )
    try:
        with engine.connect() as connection:
            at_head = connection.scalar(count)
        command.downgrade(config, "0002")
        with engine.connect() as connection:
            assert connection.scalar(count) == 0
        command.upgrade(config, "head")
        with engine.connect() as connection:
            assert connection.scalar(count) == at_head > 20
    finally:
        engine.dispose()
