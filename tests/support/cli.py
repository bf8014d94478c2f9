"""Run `maira-sae` as a user does: a subprocess on a given database and data folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def maira_sae(
    url: str, home: Path, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`maira-sae ARGS` with MAIRA_SAE_DATABASE_URL and MAIRA_SAE_HOME set; output captured,
    `stdin` fed to it."""
    env = {
        **os.environ,
        "MAIRA_SAE_DATABASE_URL": url,
        "MAIRA_SAE_HOME": str(home),
        "PYTHONPATH": str(REPO),
    }
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        cwd=REPO,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
    )
