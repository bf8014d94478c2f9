"""`maira-sae precompute` as a user runs it: in-process shards, activations, errors, queue jobs."""

from __future__ import annotations

import json
import time
from pathlib import Path

from sqlalchemy import text

from tests.support.cli import maira_sae
from tests.support.workers import WorkerStarter


def test_precompute_command_writes_dashboards_and_activations(
    fresh_engine, make_sae_row, reports_csv: Path, tmp_path: Path
) -> None:
    url, engine = fresh_engine()
    make_sae_row(url, "random")
    activations = tmp_path / "activations"
    arguments = ["precompute", "--sae", "random", "--reports", str(reports_csv), "--limit", "12"]
    result = maira_sae(
        url, tmp_path / "home", *arguments, "--top-k", "4", "--save-activations", str(activations)
    )
    assert result.returncode == 0, result.stderr
    assert "precomputed random: 12 documents" in result.stdout
    with engine.connect() as connection:
        n_tokens = connection.execute(text("SELECT n_tokens FROM precompute_runs")).scalar_one()
        top = connection.execute(
            text("SELECT max(rank) FROM examples WHERE kind = 'top'")
        ).scalar_one()
        corpus = connection.execute(text("SELECT slug, text_only FROM corpora")).one()
    assert top == 3
    assert tuple(corpus) == ("maira-2-tiny-openi-reports-first12", True)
    meta = json.loads((activations / "meta.json").read_text())
    assert meta["n_tokens"] == n_tokens and meta["d_in"] == 64


def test_precompute_command_explains_unusable_input(
    fresh_engine, reports_csv: Path, tmp_path: Path
) -> None:
    url, _ = fresh_engine()
    result = maira_sae(url, tmp_path, "precompute", "--sae", "nope", "--reports", str(reports_csv))
    assert result.returncode == 2
    assert "no SAE named 'nope'" in result.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    result = maira_sae(url, tmp_path, "precompute", "--sae", "nope", "--reports", str(bad))
    assert result.returncode == 2 and "error:" in result.stderr


def test_queued_shards_run_on_a_worker_and_merge(
    fresh_engine, make_sae_row, reports_csv: Path, tmp_path: Path
) -> None:
    url, engine = fresh_engine()
    make_sae_row(url, "random")
    home = tmp_path / "home"
    starter = WorkerStarter(url, tmp_path)
    try:
        starter.start(home=str(home), model_path="tiny")
        result = maira_sae(
            url,
            home,
            "precompute",
            "--sae",
            "random",
            "--reports",
            str(reports_csv),
            "--limit",
            "10",
            "--shards",
            "2",
            "--queue",
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.count("queued shard") == 2
        deadline = time.monotonic() + 180
        while True:
            with engine.connect() as connection:
                run = connection.execute(
                    text("SELECT status, n_documents, error FROM precompute_runs")
                ).first()
                kinds = connection.execute(
                    text("SELECT status, result FROM jobs WHERE kind = 'precompute_shard'")
                ).all()
            if run is not None and run[0] in ("done", "failed"):
                break
            assert time.monotonic() < deadline, f"precompute stuck: {run} {kinds}"
            time.sleep(0.5)
        assert tuple(run) == ("done", 10, None)
        with engine.connect() as connection:
            examples = connection.execute(text("SELECT count(*) FROM examples")).scalar_one()
            jobs = (
                connection.execute(text("SELECT status FROM jobs WHERE kind = 'precompute_shard'"))
                .scalars()
                .all()
            )
        assert examples > 0
        deadline = time.monotonic() + 30
        while sorted(jobs) != ["succeeded", "succeeded"] and time.monotonic() < deadline:
            time.sleep(0.5)
            with engine.connect() as connection:
                jobs = (
                    connection.execute(
                        text("SELECT status FROM jobs WHERE kind = 'precompute_shard'")
                    )
                    .scalars()
                    .all()
                )
        assert sorted(jobs) == ["succeeded", "succeeded"]
    finally:
        starter.close()
