"""From SAE activations (tokens x features) to what the encode page shows: each token's top
features, per-feature totals over the report, and labels."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Feature

MAX_TOTALS = 500


def token_features(activations: torch.Tensor, top: int) -> list[list[tuple[int, float]]]:
    """(T, F) -> for each token its `top` largest active features as (index, value), largest
    first; inactive (zero) features are left out."""
    if activations.shape[0] == 0:
        return []
    values, indices = activations.topk(min(top, activations.shape[1]), dim=1)
    rows = []
    for row_values, row_indices in zip(values.tolist(), indices.tolist(), strict=True):
        rows.append(
            [
                (index, value)
                for index, value in zip(row_indices, row_values, strict=True)
                if value > 0
            ]
        )
    return rows


def feature_totals(activations: torch.Tensor, limit: int = MAX_TOTALS) -> list[dict[str, Any]]:
    """Per active feature over all tokens: sum, max and count of active tokens, by sum
    descending (index ascending among ties); at most `limit` features."""
    if activations.shape[0] == 0:
        return []
    active = activations > 0
    counts = active.sum(dim=0)
    sums = activations.sum(dim=0, dtype=torch.float64)
    maxima = activations.max(dim=0).values
    fired = torch.nonzero(counts, as_tuple=True)[0]
    order = sorted(fired.tolist(), key=lambda index: (-float(sums[index]), index))[:limit]
    return [
        {
            "index": index,
            "sum": float(sums[index]),
            "max": float(maxima[index]),
            "count": int(counts[index]),
        }
        for index in order
    ]


def feature_labels(session: Session, sae_id: int, indices: Iterable[int]) -> dict[int, str | None]:
    """The stored label of each feature index (None when unlabelled or not stored)."""
    wanted = sorted(set(indices))
    if not wanted:
        return {}
    rows = session.execute(
        select(Feature.index, Feature.label).where(
            Feature.sae_id == sae_id, Feature.index.in_(wanted)
        )
    ).all()
    labels: dict[int, str | None] = dict.fromkeys(wanted)
    labels.update({index: label for index, label in rows})
    return labels


def labelled_tokens(
    texts: list[str],
    features: list[list[tuple[int, float]]],
    labels: dict[int, str | None],
    extra: dict[str, list[Any]] | None = None,
) -> list[dict[str, Any]]:
    """Tokens as JSON: text, features (index, value, label) and any `extra` per-token columns."""
    tokens = []
    for position, (text, row) in enumerate(zip(texts, features, strict=True)):
        token: dict[str, Any] = {
            "text": text,
            "features": [
                {"index": index, "value": value, "label": labels.get(index)} for index, value in row
            ],
        }
        for name, column in (extra or {}).items():
            token[name] = column[position]
        tokens.append(token)
    return tokens
