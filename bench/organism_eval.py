"""The demo organism on held-out drawn studies: findings agreement (macro-F1) and corpus vocabulary.

Usage: .venv/bin/python bench/organism_eval.py [--folder DIR] [--steps N] [--threads T] [--limit N]

Trains the organism into --folder unless a matching build is cached there (default: the one the
demo uses, MAIRA_SAE_HOME/models/organism), then generates greedily for every held-out study and
prints per-finding F1, the macro-F1 (target >= 0.6) and the share of generated words found in the
report corpus (target >= 95%).
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import torch

from workers.corpus.drawn_studies import corpus_words
from workers.maira2.organism import (
    DEFAULT_REPORTS,
    OrganismConfig,
    ensure_organism_model,
    organism_data,
)
from workers.maira2.organism_eval import evaluate_organism
from workers.maira2.runner import Maira2Runner, default_organism_folder


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, default=None)
    parser.add_argument("--reports", type=Path, default=DEFAULT_REPORTS)
    parser.add_argument("--steps", type=int, default=OrganismConfig.steps)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--limit", type=int, default=None, help="score only N held-out studies")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = dataclasses.replace(OrganismConfig(), steps=args.steps)
    folder = args.folder or default_organism_folder()
    started = time.monotonic()
    ensure_organism_model(folder, args.reports, config)
    trained = time.monotonic() - started
    data = organism_data(args.reports, config)
    held_out = data.held_out[: args.limit]
    runner = Maira2Runner.load(folder)
    started = time.monotonic()
    scores = evaluate_organism(runner, held_out, corpus_words([s.report for s in data.train]))
    print(f"organism: {folder} (train or load {trained:.1f} s, {config.steps} steps)")
    print(f"held-out studies: {scores.n}, generation {time.monotonic() - started:.1f} s")
    for name, value in scores.f1.items():
        print(f"  F1 {name:<17} {value:.3f}")
    print(f"macro-F1: {scores.macro_f1:.3f} (target >= 0.6)")
    print(
        f"corpus words: {scores.vocabulary_share:.1%} of {scores.n_words} generated (target >= 95%)"
    )
    for key, report in scores.examples:
        print(f"  [{key}] {report}")
    return 0 if scores.macro_f1 >= 0.6 and scores.vocabulary_share >= 0.95 else 1


if __name__ == "__main__":
    raise SystemExit(main())
