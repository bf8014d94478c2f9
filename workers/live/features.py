"""From SAE activations (tokens x features) to what the encode page shows: each token's top
features, per-feature totals over the report (indices only: labels are joined when shown)."""

from __future__ import annotations

import torch

from workers.kinds.encode import FeatureTotal, FeatureValue

MAX_TOTALS = 500


def token_features(activations: torch.Tensor, top: int) -> list[list[FeatureValue]]:
    """(T, F) -> for each token its `top` largest active features, largest first; inactive
    (zero) features are left out."""
    if activations.shape[0] == 0:
        return []
    values, indices = activations.topk(min(top, activations.shape[1]), dim=1)
    rows = []
    for row_values, row_indices in zip(values.tolist(), indices.tolist(), strict=True):
        rows.append(
            [
                FeatureValue(index=index, value=value)
                for index, value in zip(row_indices, row_values, strict=True)
                if value > 0
            ]
        )
    return rows


def feature_totals(activations: torch.Tensor, limit: int = MAX_TOTALS) -> list[FeatureTotal]:
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
        FeatureTotal(
            index=index, sum=float(sums[index]), max=float(maxima[index]), count=int(counts[index])
        )
        for index in order
    ]
