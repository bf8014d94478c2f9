"""Benchmark: queue overhead, i.e. how long a job waits between submit and start on an idle worker.

Starts one `maira-sae worker`, then submits `--jobs` no-op jobs one at a time, each after the
previous one finished, and reads from the jobs table how long each waited: `started_at` (the
worker's claim) minus `created_at` (the INSERT inside submit_job), both stamped by the database
clock. That covers the submit transaction's commit, procrastinate's NOTIFY, the worker waking,
fetching the entry, handing it to a thread and claiming the row. The baseline, in the same run:
a bare INSERT + NOTIFY committed on one connection and received by another that LISTENs.

    .venv/bin/python bench/bench_queue.py [--jobs 50] [--database-url URL]

The database is --database-url, else MAIRA_SAE_DATABASE_URL (migrated first); the bench's jobs
are deleted at the end. Target: p50 submit-to-start <= 50 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psycopg
from sqlalchemy import delete, text

from db.engine import (
    libpq_url,
    make_engine,
    make_sessionmaker,
    normalise_url,
    resolve_database_url,
)
from db.jobs import get_job
from db.migrate import upgrade
from db.models import FINISHED_JOB_STATUSES, Job
from db.settings import get_settings
from workers.queue.submit import submit_job

TARGET_P50_MS = 50.0
REPO = Path(__file__).resolve().parents[1]


def summary(ms: list[float]) -> str:
    ordered = sorted(ms)
    p90 = ordered[round(0.9 * (len(ordered) - 1))]
    p99 = ordered[round(0.99 * (len(ordered) - 1))]
    return (
        f"p50 {statistics.median(ordered):6.1f} ms  p90 {p90:6.1f} ms  p99 {p99:6.1f} ms  "
        f"mean {statistics.fmean(ordered):6.1f} ms  (n={len(ordered)})"
    )


def start_worker(url: str, log_path: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "MAIRA_SAE_DATABASE_URL": url}
    maira_sae = Path(sys.executable).with_name("maira-sae")
    with log_path.open("wb") as log:
        worker = subprocess.Popen(
            [str(maira_sae), "worker"], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + 60
    while "serving jobs" not in log_path.read_text(errors="replace"):
        if worker.poll() is not None or time.monotonic() > deadline:
            worker.kill()
            raise SystemExit(f"worker did not start:\n{log_path.read_text()}")
        time.sleep(0.05)
    time.sleep(1.0)  # let it LISTEN and go idle
    return worker


def queue_latencies(url: str, n_jobs: int) -> tuple[list[float], list[float], list[str]]:
    """Submit-to-start and submit-to-finish (ms) of `n_jobs` sequential no-op jobs."""
    sessions = make_sessionmaker(make_engine(url))
    to_start, to_finish, job_ids = [], [], []
    for _ in range(n_jobs):
        job = submit_job(url, "noop")
        job_ids.append(str(job.id))
        deadline = time.monotonic() + 30
        while True:
            with sessions() as session:
                done = get_job(session, job.id)
            if done.status in FINISHED_JOB_STATUSES:
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"job {job.id} did not finish: {done.status}")
            time.sleep(0.002)
        if done.status != "succeeded":
            raise SystemExit(f"job {job.id} {done.status}: {done.error}")
        to_start.append((done.started_at - done.created_at).total_seconds() * 1000)
        to_finish.append((done.finished_at - done.created_at).total_seconds() * 1000)
        time.sleep(0.05)  # the worker is idle again before the next submit
    return to_start, to_finish, job_ids


def notify_round_trips(url: str, n: int) -> list[float]:
    """ms from an INSERT + NOTIFY transaction's start until another connection receives it."""
    conninfo = libpq_url(url)
    times = []
    with (
        psycopg.connect(conninfo, autocommit=True) as listener,
        psycopg.connect(conninfo) as sender,
    ):
        listener.execute("LISTEN bench_queue")
        sender.execute("CREATE TEMP TABLE bench_queue (id serial, payload text)")
        sender.commit()
        for index in range(n):
            start = time.perf_counter()
            sender.execute("INSERT INTO bench_queue (payload) VALUES (%s)", (str(index),))
            sender.execute("SELECT pg_notify('bench_queue', %s)", (str(index),))
            sender.commit()
            (notification,) = list(listener.notifies(timeout=5, stop_after=1))
            assert notification.payload == str(index)
            times.append((time.perf_counter() - start) * 1000)
            time.sleep(0.01)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    url = (
        normalise_url(args.database_url)
        if args.database_url
        else resolve_database_url(get_settings())
    )
    upgrade(url)
    log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-queue-worker-{os.getpid()}.log"
    worker = start_worker(url, log_path)
    try:
        to_start, to_finish, job_ids = queue_latencies(url, args.jobs)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    baseline = notify_round_trips(url, args.jobs)
    with make_sessionmaker(make_engine(url))() as session:
        entries = session.scalars(
            text("SELECT procrastinate_job_id FROM jobs WHERE id = ANY(CAST(:ids AS uuid[]))"),
            {"ids": job_ids},
        ).all()
        session.execute(delete(Job).where(Job.id.in_(job_ids)))
        session.execute(
            text("DELETE FROM procrastinate_jobs WHERE id = ANY(:ids)"), {"ids": list(entries)}
        )
        session.commit()
    p50 = statistics.median(to_start)
    print(f"submit -> start   {summary(to_start)}")
    print(f"submit -> done    {summary(to_finish)}")
    print(f"INSERT+NOTIFY     {summary(baseline)}")
    print(
        f"queue overhead p50 {p50:.1f} ms vs bare round trip {statistics.median(baseline):.1f} ms;"
        f" target <= {TARGET_P50_MS:.0f} ms: {'PASS' if p50 <= TARGET_P50_MS else 'FAIL'}"
    )
    return 0 if p50 <= TARGET_P50_MS else 1


if __name__ == "__main__":
    sys.exit(main())
