"""Explain and score a batch of features: one explanation call each, then detection, fuzzing and
the borrowed-label control, every prompt sent concurrently through the run's LLM client.

A call that fails (after its retries) makes its examples `failed`; an answer that cannot be
parsed makes them `unparseable`. Both are counted next to the metrics, never scored.
"""

from __future__ import annotations

import asyncio
import math
import random
from dataclasses import dataclass, field

from workers.autointerp.client import LlmClient
from workers.autointerp.config import AutointerpConfig
from workers.autointerp.examples import FeatureWindows
from workers.autointerp.metrics import Verdict, score_verdicts
from workers.autointerp.prompts import (
    Window,
    explanation_prompt,
    highlight_mask,
    highlighted,
    parse_explanation,
    parse_verdicts,
    scoring_prompt,
    verdict_probabilities,
)


@dataclass
class ScoredExample:
    """One window as the scorer saw it, with its verdict."""

    window: Window
    shown: str
    verdict: Verdict


@dataclass
class ScoreResult:
    """One score of an explanation: its kind, split, examples and metrics."""

    kind: str
    split: str
    examples: list[ScoredExample]
    summary: dict[str, object]
    details: dict[str, object] = field(default_factory=dict)


@dataclass
class FeatureOutcome:
    """What a feature got: an explanation with scores, or the reason it has none."""

    windows: FeatureWindows
    explanation: str | None = None
    error: str | None = None
    scores: list[ScoreResult] = field(default_factory=list)


async def explain(
    client: LlmClient, config: AutointerpConfig, windows: FeatureWindows
) -> FeatureOutcome:
    """Ask the explainer for the feature's explanation; record why not when it gives none."""
    outcome = FeatureOutcome(windows)
    if not windows.explain_activating:
        outcome.error = "no activating example in the explanation half of the documents"
        return outcome
    if not windows.score_non_activating:
        outcome.error = (
            "no window of the sample where the feature is inactive: run precompute "
            "(it draws the window sample) and start again"
        )
        return outcome
    messages = explanation_prompt(
        windows.explain_activating, windows.explain_non_activating, windows.max_activation
    )
    reply = await client.complete(config.explainer, messages)
    if reply.failed:
        outcome.error = f"explanation call failed: {reply.error}"
        return outcome
    label = parse_explanation(reply.text or "")
    if label is None:
        outcome.error = "explanation answer could not be parsed: " + repr((reply.text or "")[:200])
    outcome.explanation = label
    return outcome


def fuzz_texts(windows: list[Window], rng: random.Random) -> list[str]:
    """Activating windows with their true highlights; the others with as many random ones as
    the activating windows highlight on average."""
    masks = [highlight_mask(w.values) for w in windows if w.values is not None]
    n_random = max(1, math.ceil(sum(map(sum, masks)) / len(masks))) if masks else 1
    shown = []
    for window in windows:
        if window.values is not None:
            mask = highlight_mask(window.values)
        else:
            picks = set(rng.sample(range(len(window.tokens)), min(n_random, len(window.tokens))))
            mask = [i in picks for i in range(len(window.tokens))]
        shown.append(highlighted(window.tokens, mask))
    return shown


async def score(
    client: LlmClient,
    config: AutointerpConfig,
    label: str,
    windows: list[Window],
    *,
    fuzzing: bool,
    seed: str,
) -> list[ScoredExample]:
    """Verdicts on `windows` (shuffled, `examples_per_prompt` per prompt) given `label`."""
    rng = random.Random(seed)
    order = list(windows)
    rng.shuffle(order)
    shown = fuzz_texts(order, rng) if fuzzing else [w.text for w in order]
    size = config.examples_per_prompt
    batches = [range(start, min(start + size, len(order))) for start in range(0, len(order), size)]
    replies = await asyncio.gather(
        *(
            client.complete(
                config.scorer,
                scoring_prompt(label, [shown[i] for i in batch], fuzzing=fuzzing),
                logprobs=config.logprobs,
            )
            for batch in batches
        )
    )
    examples: list[ScoredExample] = []
    for batch, reply in zip(batches, replies, strict=True):
        predictions = None if reply.failed else parse_verdicts(reply.text or "", len(batch))
        probabilities = (
            verdict_probabilities(reply.logprobs, len(batch)) if predictions is not None else None
        )
        status = "failed" if reply.failed else "unparseable" if predictions is None else "ok"
        for position, i in enumerate(batch):
            examples.append(
                ScoredExample(
                    window=order[i],
                    shown=shown[i],
                    verdict=Verdict(
                        activating=order[i].activating,
                        prediction=None if predictions is None else predictions[position],
                        probability=None if probabilities is None else probabilities[position],
                        status=status,
                    ),
                )
            )
    return examples


def _result(kind: str, split: str, examples: list[ScoredExample], seed: int) -> ScoreResult:
    return ScoreResult(
        kind, split, examples, score_verdicts([e.verdict for e in examples], seed=seed)
    )


async def score_feature(
    client: LlmClient,
    config: AutointerpConfig,
    outcome: FeatureOutcome,
    borrowed: tuple[int, str] | None,
) -> None:
    """Detection and fuzzing on held-out windows, detection on the explanation windows (train),
    and detection with a label `borrowed` from another feature (the control)."""
    assert outcome.explanation is not None
    w = outcome.windows
    heldout = w.score_activating + w.score_non_activating
    train = w.explain_activating + w.explain_non_activating
    seed = f"{config.seed}:{w.index}"
    jobs = {
        ("detection", "heldout"): score(
            client, config, outcome.explanation, heldout, fuzzing=False, seed=seed
        )
    }
    if config.fuzzing:
        jobs["fuzzing", "heldout"] = score(
            client, config, outcome.explanation, heldout, fuzzing=True, seed=seed
        )
    if config.train_scores:
        jobs["detection", "train"] = score(
            client, config, outcome.explanation, train, fuzzing=False, seed=seed
        )
    if borrowed is not None:
        jobs["detection_control", "heldout"] = score(
            client, config, borrowed[1], heldout, fuzzing=False, seed=seed
        )
    results = await asyncio.gather(*jobs.values())
    for (kind, split), examples in zip(jobs, results, strict=True):
        result = _result(kind, split, examples, config.seed)
        if kind == "detection_control" and borrowed is not None:
            result.details = {"borrowed_from": borrowed[0], "borrowed_label": borrowed[1]}
        outcome.scores.append(result)


def borrow_label(
    outcomes: list[FeatureOutcome], position: int, fallback: list[tuple[int, str]]
) -> tuple[int, str] | None:
    """Another feature's label for the control: the next explained feature of the batch, else
    one of `fallback` (other features' stored labels); never the feature's own or a
    decoder-cosine neighbour's (its hard negatives would make the control look worse than
    chance). None if there is none."""
    windows = outcomes[position].windows
    excluded = {windows.index, *windows.neighbours}
    for step in range(1, len(outcomes)):
        other = outcomes[(position + step) % len(outcomes)]
        if other.explanation is not None and other.windows.index not in excluded:
            return other.windows.index, other.explanation
    for index, label in fallback:
        if index not in excluded:
            return index, label
    return None


async def run_batch(
    client: LlmClient,
    config: AutointerpConfig,
    batch: list[FeatureWindows],
    fallback: list[tuple[int, str]],
) -> list[FeatureOutcome]:
    """Explain every feature of the batch, then score every explained one."""
    outcomes = list(await asyncio.gather(*(explain(client, config, w) for w in batch)))
    await asyncio.gather(
        *(
            score_feature(client, config, outcome, borrow_label(outcomes, position, fallback))
            for position, outcome in enumerate(outcomes)
            if outcome.explanation is not None
        )
    )
    return outcomes
