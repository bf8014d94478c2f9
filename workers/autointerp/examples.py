"""Choosing the windows a feature is explained and scored on, from the stored examples.

Every document of a run falls in one half by a hash of (seed, document id): explanation windows
come only from the "explain" half and scoring windows only from the "score" half, so no scoring
window shares a document with an explanation window anywhere in the run.

Activating windows are the feature's stored top examples and interval samples. Non-activating
windows come from precompute's window sample, which records every feature active in each window,
so they are truly inactive: hard negatives (windows where one of the feature's decoder-cosine
neighbours fires) and seeded random windows.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

import numpy as np
from sqlalchemy import TextClause, text
from sqlalchemy.orm import Session

from workers.autointerp.config import AutointerpConfig
from workers.autointerp.prompts import Window

_OWN = text(
    """
    SELECT e.id, e.document_id, e.kind, e.values, e.max_value,
           d.tokens[e.start + 1 : e."end"] AS tokens
    FROM examples AS e JOIN documents AS d ON d.id = e.document_id
    WHERE e.feature_id = :feature_id
    ORDER BY e.kind DESC, e.max_value DESC, e.id
    """
)
_INACTIVE = (
    'SELECT w.id, w.document_id, CAST(:source AS text) AS source, d.tokens[w.start + 1 : w."end"] '
    "AS tokens FROM window_samples AS w JOIN documents AS d ON d.id = w.document_id "
    "WHERE w.sae_id = :sae_id AND NOT w.feature_indices @> ARRAY[CAST(:index AS integer)] "
)
_HARD = text(
    _INACTIVE.replace(":source", "'neighbour'")
    + "AND w.feature_indices && CAST(:neighbours AS integer[]) "
    "ORDER BY md5(:salt || w.id) LIMIT :limit"
)
_RANDOM = text(
    _INACTIVE.replace(":source", "'random'")
    + "AND w.position = ANY(CAST(:positions AS integer[])) ORDER BY md5(:salt || w.id)"
)
_SAMPLE_SIZE = text(
    "SELECT coalesce(max(position) + 1, 0) FROM window_samples WHERE sae_id = :sae_id"
)
_FEATURE = text(
    "SELECT id, max_activation, neighbour_indices FROM features "
    "WHERE sae_id = :sae_id AND index = :index"
)


@dataclass(frozen=True)
class FeatureWindows:
    """The windows of one feature, by role."""

    index: int
    feature_id: int
    max_activation: float
    neighbours: tuple[int, ...]
    explain_activating: list[Window]
    explain_non_activating: list[Window]
    score_activating: list[Window]
    score_non_activating: list[Window]


def explain_half(document_id: int, seed: int, fraction: float) -> bool:
    """True when the document belongs to the run's explanation half."""
    digest = hashlib.sha256(f"{seed}:{document_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def _spread(windows: list[Window], n: int) -> list[Window]:
    """n windows spread evenly over a list (all of them when there are fewer)."""
    if len(windows) <= n:
        return windows
    picks = np.linspace(0, len(windows) - 1, n).round().astype(int)
    return [windows[i] for i in picks]


def _activating(rows: list, config: AutointerpConfig, *, explain: bool, n: int) -> list[Window]:
    windows = [
        Window(
            tokens=tuple(row.tokens),
            values=tuple(np.frombuffer(row.values, dtype="<f4").astype(float).tolist()),
            document_id=row.document_id,
            example_id=row.id,
            source=row.kind,
        )
        for row in rows
        if explain_half(row.document_id, config.seed, config.explain_fraction) == explain
        and len(row.tokens) == len(row.values) // 4
    ]
    top = [w for w in windows if w.source == "top"]
    interval = [w for w in windows if w.source == "interval"]
    n_top = max(n - min(len(interval), int(n * config.interval_share)), 0)
    chosen = top[:n_top]
    return chosen + _spread(interval, n - len(chosen))


def load_feature_windows(
    session: Session, sae_id: int, index: int, config: AutointerpConfig
) -> FeatureWindows | None:
    """The explanation and scoring windows of feature `index`; None if it has no row."""
    feature = session.execute(_FEATURE, {"sae_id": sae_id, "index": index}).first()
    if feature is None:
        return None
    own = session.execute(_OWN, {"feature_id": feature.id}).all()
    max_activation = feature.max_activation or max((r.max_value for r in own), default=0.0)
    explain_act = _activating(own, config, explain=True, n=config.n_explain_activating)
    score_act = _activating(own, config, explain=False, n=config.n_score_activating)
    explain_non, score_non = _non_activating(session, sae_id, feature, index, config)
    return FeatureWindows(
        index=index,
        feature_id=feature.id,
        max_activation=float(max_activation),
        neighbours=tuple(feature.neighbour_indices or ()),
        explain_activating=explain_act,
        explain_non_activating=explain_non[: config.n_explain_non_activating],
        score_activating=score_act,
        score_non_activating=score_non[: config.n_score_non_activating],
    )


def _non_activating(
    session: Session, sae_id: int, feature, index: int, config: AutointerpConfig
) -> tuple[list[Window], list[Window]]:
    """Windows of the sample where the feature is inactive, each half hard negatives first (up to
    `hard_negative_share` of its size), then random ones."""
    neighbours = [i for i in feature.neighbour_indices or [] if i != index]
    wanted = config.n_explain_non_activating + config.n_score_non_activating
    hard = _sampled(session, _HARD, sae_id, index, config, neighbours=neighbours, limit=2 * wanted)
    n_sample = session.execute(_SAMPLE_SIZE, {"sae_id": sae_id}).scalar_one()
    rng = random.Random(f"{config.seed}:{index}")
    positions = rng.sample(range(n_sample), min(n_sample, 4 * wanted + 16))
    randoms = _sampled(session, _RANDOM, sae_id, index, config, positions=positions)
    explain = _mix(
        [w for w in hard if _explains(w, config)],
        [w for w in randoms if _explains(w, config)],
        config.n_explain_non_activating,
        config.hard_negative_share,
    )
    score = _mix(
        [w for w in hard if not _explains(w, config)],
        [w for w in randoms if not _explains(w, config)],
        config.n_score_non_activating,
        config.hard_negative_share,
    )
    return explain, score


def _explains(window: Window, config: AutointerpConfig) -> bool:
    return explain_half(window.document_id, config.seed, config.explain_fraction)


def _sampled(
    session: Session,
    query: TextClause,
    sae_id: int,
    index: int,
    config: AutointerpConfig,
    **values: object,
) -> list[Window]:
    rows = session.execute(
        query, {"sae_id": sae_id, "index": index, "salt": f"{config.seed}:{index}:", **values}
    ).all()
    return [
        Window(
            tokens=tuple(row.tokens),
            values=None,
            document_id=row.document_id,
            example_id=None,
            source=row.source,
            window_id=row.id,
        )
        for row in rows
    ]


def _mix(hard: list[Window], randoms: list[Window], n: int, share: float) -> list[Window]:
    """Up to `share` x n hard negatives, then random windows (each window once) up to n."""
    chosen = hard[: int(n * share)]
    seen = {w.window_id for w in chosen}
    for window in randoms + hard[len(chosen) :]:
        if len(chosen) == n:
            break
        if window.window_id not in seen:
            seen.add(window.window_id)
            chosen.append(window)
    return chosen
