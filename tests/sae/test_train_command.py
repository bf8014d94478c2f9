"""`maira-sae train` end to end in a subprocess: activations on disk -> a loadable checkpoint."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from sae import load_sae
from sae.activation_shards import ActivationShardWriter

ROOT = Path(__file__).resolve().parents[2]


def _write_activations(folder: Path, n_tokens: int = 1500, d_in: int = 16) -> None:
    generator = torch.Generator().manual_seed(0)
    directions = torch.nn.functional.normalize(torch.randn(64, d_in, generator=generator), dim=1)
    codes = (torch.rand(n_tokens, 64, generator=generator) < 4 / 64) * 3.0
    meta = {"layer": 15, "hookpoint": "model.language_model.layers.15", "lm_name": "tiny"}
    with ActivationShardWriter(folder, d_in, meta, shard_tokens=512) as writer:
        writer.add(10 * (codes @ directions) + torch.randn(d_in, generator=generator))


def _train(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "train", *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


def test_train_command_writes_a_loadable_sae(tmp_path: Path) -> None:
    _write_activations(tmp_path / "acts")
    out = tmp_path / "sae"
    done = _train(
        "--activations",
        str(tmp_path / "acts"),
        "--out",
        str(out),
        "--expansion",
        "4",
        "--k",
        "4",
        "--steps",
        "120",
        "--batch-size",
        "256",
    )
    assert done.returncode == 0, done.stderr
    assert "FVU" in done.stdout and "L0" in done.stdout and "dead" in done.stdout
    sae = load_sae(out)
    assert (sae.d_in, sae.d_sae, sae.k) == (16, 64, 4) and sae.threshold > 0
    trainer = json.loads((out / "config.json").read_text())["trainer"]
    assert trainer["layer"] == 15 and trainer["submodule_name"] == "model.language_model.layers.15"
    assert trainer["lm_name"] == "tiny" and trainer["steps"] == 120
    fvu = float(done.stdout.split("FVU ")[1].split(",")[0])
    assert fvu < 0.6


def test_train_command_reports_a_missing_dataset(tmp_path: Path) -> None:
    done = _train("--activations", str(tmp_path / "nothing"), "--out", str(tmp_path / "sae"))
    assert done.returncode == 2
    assert "meta.json is missing" in done.stderr
