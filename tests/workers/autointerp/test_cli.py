"""`maira-sae autointerp` on the command line: off-site endpoints are named and refused."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.support.workers import REPO


def _cli(url: str, base_url: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "autointerp", "--sae", "kw", "--explainer", "stand-in",
         "--scorer", "stand-in", "--base-url", base_url, "--features", "0-1"],
        env={**os.environ, "PYTHONPATH": str(REPO), "MAIRA_SAE_DATABASE_URL": url, **env},
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_an_off_site_endpoint_is_refused_with_a_plain_warning(keyword_db) -> None:
    url, _ = keyword_db
    refused = _cli(url, "http://8.8.8.8/v1")
    assert refused.returncode == 2
    assert "report text sent for autointerp would leave the site" in refused.stdout
    allowed = _cli(url, "http://8.8.8.8/v1", MAIRA_SAE_LLM_ALLOW_REMOTE="true")
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert "WARNING" in allowed.stdout and "Queued for workers" in allowed.stdout


def test_a_local_endpoint_queues_without_a_warning(keyword_db) -> None:
    url, _ = keyword_db
    result = _cli(url, "http://127.0.0.1:9/v1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stdout and "2 features of kw" in result.stdout
