"""Choosing the windows a feature is explained and scored on, from the stored examples.

Every document of a run falls in one half by a hash of (seed, document id): explanation windows
come only from the "explain" half and scoring windows only from the "score" half, so no scoring
window shares a document with an explanation window anywhere in the run.

Activating windows are the feature's stored top examples and interval samples. Non-activating
windows are other features' stored windows (hard negatives from its decoder-cosine neighbours
first, then from seeded random features) in documents where this feature has NO stored example:
presumed inactive, since precompute keeps no random sample of inactive windows yet.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

import numpy as np
from sqlalchemy import text
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
_OTHERS = text(
    """
    SELECT e.id, e.document_id, f.index, d.tokens[e.start + 1 : e."end"] AS tokens
    FROM features AS f
    JOIN examples AS e ON e.feature_id = f.id AND e.kind = 'top' AND e.rank < :per_feature
    JOIN documents AS d ON d.id = e.document_id
    WHERE f.sae_id = :sae_id AND f.index = ANY(:indices)
      AND NOT EXISTS (
          SELECT 1 FROM examples AS own
          WHERE own.feature_id = :feature_id AND own.document_id = e.document_id
      )
    ORDER BY e.id
    """
)
_FEATURE = text(
    "SELECT id, max_activation, neighbour_indices FROM features "
    "WHERE sae_id = :sae_id AND index = :index"
)
OTHER_WINDOWS_PER_FEATURE = 4


@dataclass(frozen=True)
class FeatureWindows:
    """The windows of one feature, by role."""

    index: int
    feature_id: int
    max_activation: float
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
        explain_activating=explain_act,
        explain_non_activating=explain_non[: config.n_explain_non_activating],
        score_activating=score_act,
        score_non_activating=score_non[: config.n_score_non_activating],
    )


def _non_activating(
    session: Session, sae_id: int, feature, index: int, config: AutointerpConfig
) -> tuple[list[Window], list[Window]]:
    rng = random.Random(f"{config.seed}:{index}")
    d_sae = session.execute(text("SELECT d_sae FROM saes WHERE id = :id"), {"id": sae_id}).scalar()
    neighbours = [i for i in feature.neighbour_indices or [] if i != index][:8]
    wanted = config.n_explain_non_activating + config.n_score_non_activating
    n_random = min(int(d_sae) - 1, max(wanted, 8))
    randoms = [i for i in rng.sample(range(int(d_sae)), n_random + 1) if i != index][:n_random]
    rows = session.execute(
        _OTHERS,
        {
            "sae_id": sae_id,
            "indices": neighbours + randoms,
            "feature_id": feature.id,
            "per_feature": OTHER_WINDOWS_PER_FEATURE,
        },
    ).all()
    hard = set(neighbours)
    rows = sorted(rows, key=lambda r: (r.index not in hard, rng.random()))
    seen: set[int] = set()
    explain: list[Window] = []
    score: list[Window] = []
    for row in rows:
        if row.document_id in seen:
            continue
        seen.add(row.document_id)
        window = Window(
            tokens=tuple(row.tokens),
            values=None,
            document_id=row.document_id,
            example_id=row.id,
            source="neighbour" if row.index in hard else "random",
        )
        if explain_half(row.document_id, config.seed, config.explain_fraction):
            explain.append(window)
        else:
            score.append(window)
    return explain, score
