"""Benchmark: our SAE trainer against dictionary_learning's `MatryoshkaBatchTopKTrainer`.

Both train the same Matryoshka BatchTopK SAE (default: d_in 64 from the tiny model, expansion 64,
so F = 4,096, k = 16, batches of 4,096 tokens) on the same normalised activation batches, on the
same number of threads, in the same run, round after round (ours, then the reference, then ours
again...). Prints steps/s and tokens/s of each and the ratio ours / reference per round and its
median (> 1: ours faster); a round's two runs see the same machine load.

    .venv/bin/python bench/bench_train.py [--activations FOLDER] [--expansion 64] [--k 16]
        [--batch-size 4096] [--steps 30] [--rounds 3] [--threads 1]
        [--reference-python /tmp/dl-venv/bin/python]

Activations: a folder written by `maira-sae precompute`/`demo` (`--activations`), or else the
tiny model's layer-15 report-token activations over its generated radiology corpus.

The reference runs in a separate Python environment, never in the project's: a venv holding
torch 2.13.0 and the `dictionary-learning` wheel installed with `--no-deps` (plus einops and
numpy); its package `__init__` imports nnsight for the activation buffer, which the worker stubs.
Give its interpreter with `--reference-python` or `DICTIONARY_LEARNING_PYTHON`; without one the
comparison is skipped with a message and only our trainer is timed. This file is also the
reference worker (`--reference-worker`), so it imports nothing from the project at module level.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

WARMUP_STEPS = 3
"""Steps run before timing starts (allocator and kernel warm-up), in both trainers."""


def settings(args: argparse.Namespace, d_in: int) -> dict:
    """The run's hyper-parameters as `maira-sae train` derives them, shared by both trainers."""
    steps = WARMUP_STEPS + args.steps
    return {
        "d_in": d_in,
        "dict_size": args.expansion * d_in,
        "k": args.k,
        "steps": steps,
        "warmup_steps": max(1, steps // 10),
        "threshold_start_step": max(1, steps // 5),
        "dead_feature_threshold": max(args.batch_size, steps * args.batch_size // 10),
        "group_fractions": [1 / 2, 1 / 4, 1 / 8, 1 / 16, 1 / 16],
        "threads": args.threads,
        "seed": 0,
    }


def tiny_model_activations(n_tokens: int) -> torch.Tensor:
    """Layer-15 report-token activations of the tiny model over its generated corpus."""
    from workers.maira2.runner import Maira2Runner, Study
    from workers.maira2.tiny import ensure_tiny_model, radiology_corpus

    folder = ensure_tiny_model(Path(tempfile.gettempdir()) / "maira-sae-bench" / "tiny-maira2")
    runner = Maira2Runner.load(folder)
    chunks, seen, seed = [], 0, 0
    while seen < n_tokens:
        reports = radiology_corpus(n_reports=200, seed=seed)[:200]
        for capture in runner.capture([Study(None)] * len(reports), reports, batch_size=16):
            chunks.append(capture.report_activations)
            seen += capture.report_activations.shape[0]
        seed += 1
    return torch.cat(chunks)[:n_tokens]


def load_activations(args: argparse.Namespace) -> torch.Tensor:
    n_tokens = 4 * args.batch_size
    if args.activations is None:
        return tiny_model_activations(n_tokens)
    from sae.activation_shards import iter_activation_batches

    return torch.cat(list(iter_activation_batches(args.activations, n_tokens)))[:n_tokens]


def batches(data: torch.Tensor, batch_size: int, count: int, seed: int) -> list[torch.Tensor]:
    """`count` shuffled batches drawn from `data` (with wrap-around), in a fixed order."""
    generator = torch.Generator().manual_seed(seed)
    order = torch.cat(
        [
            torch.randperm(data.shape[0], generator=generator)
            for _ in range(math.ceil(count * batch_size / data.shape[0]))
        ]
    )
    return [data[order[i * batch_size : (i + 1) * batch_size]] for i in range(count)]


def rates(seconds: float, batch_size: int, timed_steps: int) -> dict:
    return {
        "steps_per_s": timed_steps / seconds,
        "tokens_per_s": timed_steps * batch_size / seconds,
    }


def time_ours(data_path: Path, config: dict) -> dict:
    from sae.train import TrainConfig, init_sae, new_state, train_step

    torch.set_num_threads(config["threads"])
    data = torch.load(data_path, weights_only=True)
    train_config = TrainConfig(
        dict_size=config["dict_size"],
        k=config["k"],
        steps=config["steps"],
        warmup_steps=config["warmup_steps"],
        threshold_start_step=config["threshold_start_step"],
        dead_feature_threshold=config["dead_feature_threshold"],
        group_fractions=tuple(config["group_fractions"]),
        seed=config["seed"],
    )
    torch.manual_seed(config["seed"])
    state = new_state(init_sae(config["d_in"], train_config, data[0]), train_config)
    for x in data[:WARMUP_STEPS]:
        train_step(state, x, train_config)
    started = time.perf_counter()
    for x in data[WARMUP_STEPS:]:
        train_step(state, x, train_config)
    return rates(time.perf_counter() - started, data.shape[1], data.shape[0] - WARMUP_STEPS)


def reference_worker(data_path: Path, config: dict) -> dict:
    """Run under the reference environment: time dictionary_learning's own trainer."""
    import types

    sys.modules.setdefault("nnsight", types.SimpleNamespace(LanguageModel=object))  # type: ignore[arg-type]
    from dictionary_learning.trainers.matryoshka_batch_top_k import MatryoshkaBatchTopKTrainer

    torch.set_num_threads(config["threads"])
    data = torch.load(data_path, weights_only=True)
    trainer = MatryoshkaBatchTopKTrainer(
        steps=config["steps"],
        activation_dim=config["d_in"],
        dict_size=config["dict_size"],
        k=config["k"],
        layer=15,
        lm_name="tiny",
        group_fractions=config["group_fractions"],
        warmup_steps=config["warmup_steps"],
        threshold_start_step=config["threshold_start_step"],
        seed=config["seed"],
        device="cpu",
    )
    trainer.dead_feature_threshold = config["dead_feature_threshold"]
    for step, x in enumerate(data[:WARMUP_STEPS]):
        trainer.update(step, x)
    started = time.perf_counter()
    for step, x in enumerate(data[WARMUP_STEPS:], start=WARMUP_STEPS):
        trainer.update(step, x)
    return rates(time.perf_counter() - started, data.shape[1], data.shape[0] - WARMUP_STEPS)


def reference_python(args: argparse.Namespace) -> str | None:
    candidate = args.reference_python or os.environ.get("DICTIONARY_LEARNING_PYTHON")
    if candidate and Path(candidate).is_file():
        return candidate
    return None


def time_reference(python: str, data_path: Path, config: dict) -> dict:
    done = subprocess.run(
        [python, __file__, "--reference-worker", str(data_path), json.dumps(config)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "OMP_NUM_THREADS": str(config["threads"])},
    )
    if done.returncode != 0:
        raise SystemExit(f"the reference trainer failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--reference-worker":
        print(json.dumps(reference_worker(Path(sys.argv[2]), json.loads(sys.argv[3]))))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--activations", type=Path)
    parser.add_argument("--expansion", type=int, default=64)
    parser.add_argument("--k", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--steps", type=int, default=30, help="timed steps per trainer per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--reference-python")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    activations = load_activations(args).float()
    from sae.train import estimate_norm_factor

    norm_factor = estimate_norm_factor(activations.split(args.batch_size))
    config = settings(args, activations.shape[1])
    stacked = torch.stack(
        batches(activations / norm_factor, args.batch_size, config["steps"], config["seed"])
    )
    python = reference_python(args)
    if python is None:
        print(
            "no reference environment (--reference-python or DICTIONARY_LEARNING_PYTHON): "
            "timing our trainer only, the comparison with dictionary_learning is skipped"
        )
    print(
        f"{config['d_in']} x {config['dict_size']} SAE, k={config['k']}, batches of "
        f"{args.batch_size} tokens, {args.steps} timed steps per round, {args.threads} thread(s)"
    )
    ours, reference = [], []
    with tempfile.TemporaryDirectory() as scratch:
        data_path = Path(scratch) / "batches.pt"
        torch.save(stacked, data_path)
        for round_index in range(args.rounds):
            ours.append(time_ours(data_path, config))
            line = f"round {round_index + 1}: ours {ours[-1]['steps_per_s']:.2f} steps/s"
            if python is not None:
                reference.append(time_reference(python, data_path, config))
                line += f", dictionary_learning {reference[-1]['steps_per_s']:.2f} steps/s"
            print(line)
    ours_steps = statistics.median(r["steps_per_s"] for r in ours)
    ours_tokens = statistics.median(r["tokens_per_s"] for r in ours)
    print(f"ours: {ours_steps:.2f} steps/s, {ours_tokens:,.0f} tokens/s (median)")
    if reference:
        ref_steps = statistics.median(r["steps_per_s"] for r in reference)
        ref_tokens = statistics.median(r["tokens_per_s"] for r in reference)
        ratios = [a["steps_per_s"] / b["steps_per_s"] for a, b in zip(ours, reference, strict=True)]
        print(
            f"dictionary_learning: {ref_steps:.2f} steps/s, {ref_tokens:,.0f} tokens/s (median)\n"
            f"ratio ours / dictionary_learning: {statistics.median(ratios):.2f}x (median of the "
            f"rounds' ratios: {', '.join(f'{ratio:.2f}' for ratio in ratios)})"
        )


if __name__ == "__main__":
    main()
