"""Benchmark: steering in one batched generate (baseline and steered as two rows) against two
sequential generates (baseline, then steered), on the same runner in the same run.

Each repeat times both ways on the same study, features and alphas, alternating which goes first;
reports p50s and the ratio sequential / batched (> 1 means batching is faster). With greedy
decoding both ways produce the same two reports, which is checked.

    .venv/bin/python bench/bench_steer.py [--model tiny|FOLDER] [--repeats 9]
        [--max-new-tokens 48] [--features 3] [--alpha 10] [--device cpu]

The tiny model is built under MAIRA_SAE_HOME/models/tiny-maira2 when absent. Its random weights
write garbage and may stop early at EOS; both ways stop at the same points, so the comparison is
fair. On a machine shared with other work, read the ratio (same run, alternating order) rather
than the absolute times.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from PIL import Image

from workers.maira2.runner import Maira2Runner, Study


def timed(function: object, *args: object, **kwargs: object) -> tuple[float, object]:
    start = time.perf_counter()
    value = function(*args, **kwargs)  # type: ignore[operator]
    return time.perf_counter() - start, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--features", type=int, default=3)
    parser.add_argument("--alpha", type=float, default=10.0)
    args = parser.parse_args()

    runner = Maira2Runner.load(args.model, device=args.device)
    generator = torch.Generator().manual_seed(0)
    directions = torch.randn(args.features, runner.d_model, generator=generator)
    alphas = [args.alpha] * args.features
    pixels = np.random.default_rng(0).integers(0, 256, size=(512, 512), dtype=np.uint8)
    study = Study(frontal=Image.fromarray(pixels), indication="Shortness of breath.")
    options = {"max_new_tokens": args.max_new_tokens, "seed": 0}

    def batched() -> tuple[str, str]:
        result = runner.steer(study, directions, alphas, **options)
        return result.baseline, result.steered

    def sequential() -> tuple[str, str]:
        baseline = runner.generate_report(study, **options)
        return baseline, runner.generate_steered(study, directions, alphas, **options)

    batched()
    sequential()
    batched_s: list[float] = []
    sequential_s: list[float] = []
    for repeat in range(args.repeats):
        order = [("batched", batched), ("sequential", sequential)]
        for name, run in order if repeat % 2 == 0 else order[::-1]:
            seconds, reports = timed(run)
            (batched_s if name == "batched" else sequential_s).append(seconds)
            if name == "batched":
                batched_reports = reports
            else:
                sequential_reports = reports
        assert batched_reports == sequential_reports, "the two ways wrote different reports"

    p50_batched = statistics.median(batched_s) * 1000
    p50_sequential = statistics.median(sequential_s) * 1000
    print(
        f"model {args.model} on {args.device}: {args.repeats} repeats, "
        f"max_new_tokens {args.max_new_tokens}, {args.features} features at alpha {args.alpha:g}"
    )
    print(f"batched (1 generate, 2 rows)  p50 {p50_batched:8.1f} ms")
    print(f"sequential (2 generates)      p50 {p50_sequential:8.1f} ms")
    print(f"ratio sequential / batched    {p50_sequential / p50_batched:8.2f}x")


if __name__ == "__main__":
    main()
