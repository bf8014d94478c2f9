"""Benchmark: autointerp's own overhead, and prompt tokens per feature against delphi's defaults.

1. Overhead. A synthetic SAE (`maira-sae synthetic`) in a database of its own; the stand-in LLM
   (`workers.autointerp.standin`) served over HTTP in this process; a first run at concurrency 16
   pays every call at the stand-in, then a second run with the same settings gets every answer
   from the PostgreSQL response cache. The second run does everything but the LLM calls (example
   selection, prompts, parsing, metrics with bootstrap intervals, storing scores and verdicts,
   label and aggregate refresh), so its features per second are the pipeline's overhead with the
   LLM time excluded (target >= 20).
2. Tokens. For the same features and the same stored examples, the prompts our default
   configuration sends (explanation + detection, fuzzing and control on held-out windows +
   detection on the explanation windows) against those of delphi's default configuration
   (EleutherAI/delphi, notes/autointerp.md): explainer with 40 activating examples (4 per rank
   decile) and `Activations:` lines, detection and fuzzing each over 50 activating + 50
   non-activating examples at 5 per prompt. Both counted with one tokenizer (words and
   punctuation, `\\w+|[^\\w\\s]`). delphi's fixed text enters as a count: its explainer system
   prompt and three few-shot pairs with activations are 2,476 characters, 654 tokens with this
   tokenizer (DELPHI_EXPLAIN_FIXED_TOKENS, counted on delphi 0ff45f9
   explainers/default/prompts.py); its detection and fuzzing few-shot pairs are NOT counted (a
   lower bound for delphi, so the ratio favours delphi).

    .venv/bin/python bench/bench_autointerp.py --database-url postgresql+psycopg://postgres@127.0.0.1/test

A database `<name>_autointerp_bench` is created next to the one `--database-url` names (default:
MAIRA_SAE_DATABASE_URL), rebuilt on every run, and dropped at the end unless `--keep`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path

import psycopg
from sqlalchemy import make_url, select

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from db.engine import (  # noqa: E402
    libpq_url,
    make_engine,
    make_sessionmaker,
    normalise_url,
    resolve_database_url,
)
from db.migrate import upgrade  # noqa: E402
from db.models import AutointerpRun, Sae  # noqa: E402
from db.settings import Settings, get_settings  # noqa: E402
from tests.support.autointerp import standin_server  # noqa: E402
from workers.autointerp.config import AutointerpConfig  # noqa: E402
from workers.autointerp.examples import load_feature_windows  # noqa: E402
from workers.autointerp.job import run_batches  # noqa: E402
from workers.autointerp.pipeline import fuzz_texts  # noqa: E402
from workers.autointerp.prompts import (  # noqa: E402
    explanation_prompt,
    highlight_mask,
    highlighted,
    normalised,
    scoring_prompt,
)
from workers.autointerp.runs import batches, create_run, run_progress, select_features  # noqa: E402

TARGET_FEATURES_PER_S = 20.0
TOKEN = re.compile(r"\w+|[^\w\s]")
DELPHI_EXPLAIN_FIXED_TOKENS = 654
"""delphi's default explainer: SYSTEM (no chain of thought) plus the three few-shot pairs with
activations, counted with TOKEN (delphi 0ff45f9, explainers/default/prompts.py)."""
DELPHI_TRAIN, DELPHI_TEST, DELPHI_NON, DELPHI_SHOWN = 40, 50, 50, 5


def tokens(messages: list[dict[str, str]]) -> int:
    return sum(len(TOKEN.findall(m["content"])) for m in messages)


def fresh_database(server_url: str) -> str:
    base = make_url(normalise_url(server_url))
    name = f"{base.database}_autointerp_bench"
    with psycopg.connect(libpq_url(server_url), autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    url = base.set(database=name).render_as_string(False)
    upgrade(url)
    return url


def drop_database(server_url: str, url: str) -> None:
    name = make_url(url).database
    with psycopg.connect(libpq_url(server_url), autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def timed_run(
    sessions, sae: Sae, config: AutointerpConfig, indices: list[int]
) -> tuple[float, dict]:
    with sessions() as session:
        run = create_run(session, session.get_one(Sae, sae.id), config, indices, queue=False)
        work = batches(run, sae.slug)
    started = time.perf_counter()
    run_batches(sessions, work, Settings(llm_concurrency=16))
    elapsed = time.perf_counter() - started
    with sessions() as session:
        progress = run_progress(session, session.get_one(AutointerpRun, run.id))
    return elapsed, progress


def delphi_prompt_tokens(windows, rng: random.Random) -> int:
    """Tokens delphi's default configuration would send for one feature on these windows."""
    activating = windows.explain_activating + windows.score_activating
    non = windows.explain_non_activating + windows.score_non_activating
    train = [rng.choice(activating) for _ in range(DELPHI_TRAIN)]
    test = [rng.choice(activating) for _ in range(DELPHI_TEST)]
    negatives = [rng.choice(non) for _ in range(DELPHI_NON)] if non else []
    lines = []
    for number, window in enumerate(train, 1):
        mask = highlight_mask(window.values)
        lines.append(f"Example {number}: {highlighted(window.tokens, mask)}")
        values = [
            f'("{t}", {normalised(v, windows.max_activation)})'
            for t, v, on in zip(window.tokens, window.values, mask, strict=True)
            if on
        ]
        lines.append("Activations: " + ", ".join(values))
    explain = len(TOKEN.findall("\n".join(lines))) + DELPHI_EXPLAIN_FIXED_TOKENS
    label = "placeholder explanation of this latent"
    scored = test + negatives
    total = explain
    for fuzzing in (False, True):
        shown = fuzz_texts(scored, rng) if fuzzing else [w.text for w in scored]
        for start in range(0, len(shown), DELPHI_SHOWN):
            total += tokens(
                scoring_prompt(label, shown[start : start + DELPHI_SHOWN], fuzzing=fuzzing)
            )
    return total


def our_prompt_tokens(windows, config: AutointerpConfig, rng: random.Random) -> int:
    """Tokens our configuration sends for one feature (every prompt of explain and score)."""
    total = tokens(
        explanation_prompt(
            windows.explain_activating, windows.explain_non_activating, windows.max_activation
        )
    )
    label = "placeholder explanation of this latent"
    heldout = windows.score_activating + windows.score_non_activating
    train = windows.explain_activating + windows.explain_non_activating
    sets = [(heldout, False), (heldout, True), (heldout, False)]  # detection, fuzzing, control
    if config.train_scores:
        sets.append((train, False))
    size = config.examples_per_prompt
    for scored, fuzzing in sets:
        shown = fuzz_texts(scored, rng) if fuzzing else [w.text for w in scored]
        for start in range(0, len(shown), size):
            total += tokens(scoring_prompt(label, shown[start : start + size], fuzzing=fuzzing))
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--features", type=int, default=200)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    server_url = args.database_url or resolve_database_url(get_settings())
    url = fresh_database(server_url)
    environment = {**os.environ, "MAIRA_SAE_DATABASE_URL": url, "PYTHONPATH": str(REPO)}
    subprocess.run(
        [sys.executable, "-m", "app.cli", "synthetic", "--features", str(args.features),
         "--examples", "32", "--tokens", "32", "--name", "bench-ai", "--d-in", "64"],
        env=environment, check=True, capture_output=True,
    )  # fmt: skip
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    try:
        with sessions() as session:
            sae = session.scalars(select(Sae).where(Sae.slug == "bench-ai")).one()
            indices = select_features(session, sae)
        with standin_server() as base_url:
            config = AutointerpConfig(explainer="stand-in", scorer="stand-in", base_url=base_url)
            paid_s, paid = timed_run(sessions, sae, config, indices)
            if os.environ.get("BENCH_PROFILE"):
                import cProfile

                cProfile.runctx(
                    "timed_run(sessions, sae, config, indices)",
                    globals(),
                    {"sessions": sessions, "sae": sae, "config": config, "indices": indices},
                    os.environ["BENCH_PROFILE"],
                )
            cached_s, cached = timed_run(sessions, sae, config, indices)
        rng = random.Random(0)
        ours, delphi = [], []
        with sessions() as session:
            for index in indices[:50]:
                windows = load_feature_windows(session, sae.id, index, config)
                if (
                    windows is None
                    or not windows.explain_activating
                    or not windows.score_activating
                ):
                    continue
                ours.append(our_prompt_tokens(windows, config, rng))
                delphi.append(delphi_prompt_tokens(windows, rng))
    finally:
        engine.dispose()
        if not args.keep:
            drop_database(server_url, url)
    features = len(indices)
    result = {
        "features": features,
        "first_run_s": round(paid_s, 2),
        "first_run_calls": paid["n_calls"],
        "cached_run_s": round(cached_s, 2),
        "cached_run_calls_paid": cached["n_calls"],
        "cached_run_cache_hits": cached["n_cached"],
        "overhead_features_per_s": round(features / cached_s, 1),
        "target_features_per_s": TARGET_FEATURES_PER_S,
        "prompt_tokens_per_feature": round(sum(ours) / len(ours)),
        "delphi_default_prompt_tokens_per_feature": round(sum(delphi) / len(delphi)),
        "token_ratio_ours_to_delphi": round(sum(ours) / sum(delphi), 2),
        "features_compared": len(ours),
    }
    print(json.dumps(result, indent=2))
    return 0 if result["overhead_features_per_s"] >= TARGET_FEATURES_PER_S else 1


if __name__ == "__main__":
    sys.exit(main())
