"""Word pieces joined into words, and windows cut at word boundaries."""

from __future__ import annotations

import pytest

from db.words import starts_word, whole_words, word_spans, word_starts

PIECES = [" evide", "nce", " of", " dis", "p", "la", "c", "ed", ".", " Low", " volum", "es"]


def test_pieces_join_into_words() -> None:
    assert word_starts(PIECES) == [0, 2, 3, 8, 9, 10]
    assert word_spans(PIECES) == [0, 0, 1, 2, 2, 2, 2, 2, 3, 4, 5, 5]
    assert word_starts(["▁pleural", "▁eff", "usion"]) == [0, 1]
    assert word_starts([]) == []
    assert starts_word("x", None) and starts_word("-", "left") and starts_word("sided", "-")


@pytest.mark.parametrize(
    ("before", "after", "keep", "expected"),
    [
        (None, None, 3, (0, 12)),  # the document's own edges: nothing to drop
        ("X", None, 3, (0, 12)),  # " evide" starts a word after "X"
        ("Low", None, 3, (0, 12)),  # " evide" starts with a space
        ("es", "s", 3, (0, 10)),  # the last word " volum|es" goes on after the window
        ("es", ".", 3, (0, 12)),
        ("es", "s", 11, (0, 12)),  # ... unless it holds the sampled token
    ],
)
def test_whole_words_drop_partial_edge_words(
    before: str | None, after: str | None, keep: int, expected: tuple[int, int]
) -> None:
    assert whole_words(PIECES, before, after, keep) == expected


def test_a_window_starting_inside_a_word_drops_that_word() -> None:
    window = PIECES[1:]  # "nce", " of", ...
    assert whole_words(window, " evide", None, 2) == (1, len(window))
    assert whole_words(window, " evide", None, 0) == (0, len(window))  # sampled: kept
    inside = ["p", "la", "c"]  # all one word, continuing on both sides
    assert whole_words(inside, " dis", "ed", 1) == (0, 3)
