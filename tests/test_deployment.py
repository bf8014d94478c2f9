"""The deployment files: docker-compose.yml is valid and reserves a GPU for the worker."""

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def compose_command() -> list[str]:
    """`docker compose` where the plugin exists, else Debian's standalone `docker-compose`."""
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0
    ):
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    if legacy is None:
        pytest.fail("no compose validator is installed (run scripts/setup.sh --test)")
    return [legacy]


def test_compose_config_is_accepted_and_the_worker_gets_a_gpu() -> None:
    result = subprocess.run(
        [*compose_command(), "config"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    assert set(services) == {"postgres", "web", "worker"}
    device = services["worker"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert device["driver"] == "nvidia"
    assert "gpu" in device["capabilities"]
    assert services["web"]["command"][:2] == ["maira-sae", "serve"]
    assert services["worker"]["command"][:2] == ["maira-sae", "worker"]
