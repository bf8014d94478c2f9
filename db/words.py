"""How stored report tokens group into words: SentencePiece pieces joined back into words."""

from __future__ import annotations

import itertools
from collections.abc import Sequence


def starts_word(token: str, previous: str | None) -> bool:
    """True when `token` begins a new word after `previous` (None: nothing before it).

    A piece beginning with a space, "▁" or punctuation starts a word, and so does any piece that
    follows punctuation; alphanumeric pieces after alphanumeric pieces continue the word.
    """
    if previous is None or not token:
        return True
    return not token[:1].isalnum() or not previous[-1:].isalnum()


def word_starts(tokens: Sequence[str]) -> list[int]:
    """Offsets of the tokens that begin a word (always 0 first, for a non-empty list)."""
    if not tokens:
        return []
    return [0] + [
        offset
        for offset, (previous, token) in enumerate(itertools.pairwise(tokens), 1)
        if not (token[:1].isalnum() and previous[-1:].isalnum())
    ]


def word_spans(tokens: Sequence[str]) -> list[int]:
    """Word number of each token (0-based)."""
    numbers, current = [], -1
    for offset, token in enumerate(tokens):
        current += starts_word(token, tokens[offset - 1] if offset else None)
        numbers.append(current)
    return numbers


def whole_words(
    tokens: Sequence[str], before: str | None, after: str | None, keep: int
) -> tuple[int, int]:
    """The [first, last) range of `tokens` without a partial first or last word.

    `before` and `after` are the document's tokens just outside the window (None at its edges).
    The word holding offset `keep` (the sampled token) is never dropped, so a window that is all
    one word, or whose partial edge word holds the sampled token, keeps that edge. Only the edges
    are scanned.
    """
    n = len(tokens)
    first, last = 0, n
    if n and before is not None and not starts_word(tokens[0], before):
        cut = 1
        while cut < n and not starts_word(tokens[cut], tokens[cut - 1]):
            cut += 1
        if cut <= keep:
            first = cut
    if n and after is not None and not starts_word(after, tokens[-1]):
        cut = n - 1
        while cut > 0 and not starts_word(tokens[cut], tokens[cut - 1]):
            cut -= 1
        if cut > keep and cut > first:
            last = cut
    return first, last
