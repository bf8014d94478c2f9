"""How a steering study's studies are split into parts: contiguous, balanced, none empty."""

from __future__ import annotations

from app.services.steering_studies import split_evenly


def test_parts_are_contiguous_balanced_and_never_empty() -> None:
    items = list(range(7))
    assert split_evenly(items, 3) == [[0, 1, 2], [3, 4], [5, 6]]
    assert split_evenly(items, 1) == [items]
    assert split_evenly(items[:2], 5) == [[0], [1]]
    assert split_evenly(items, 0) == [items]
