"""Word-level diff of two report texts, as segments that render side by side."""

from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Literal

Operation = Literal["equal", "insert", "delete", "replace"]

# A word (with inner hyphens or apostrophes) or one punctuation mark, each with the whitespace
# before it, so that joining tokens gives back the text exactly.
_TOKEN = re.compile(r"\s*(?:\w+(?:[-'’]\w+)*|[^\w\s])|\s+$")


@dataclass(frozen=True)
class Segment:
    """A run of tokens: equal on both sides, only in `new` (insert), only in `old` (delete) or
    different (replace). `old` and `new` keep their whitespace; the side a segment lacks is ""."""

    op: Operation
    old: str
    new: str


def tokenize(text: str) -> list[str]:
    """Words and punctuation marks, each carrying the whitespace in front of it."""
    return _TOKEN.findall(text)


def word_diff(old: str, new: str) -> list[Segment]:
    """Segments turning `old` into `new`; words are compared without surrounding whitespace."""
    old_tokens, new_tokens = tokenize(old), tokenize(new)
    matcher = SequenceMatcher(
        a=[token.strip() for token in old_tokens],
        b=[token.strip() for token in new_tokens],
        autojunk=False,
    )
    return [
        Segment(op, "".join(old_tokens[i1:i2]), "".join(new_tokens[j1:j2]))
        for op, i1, i2, j1, j2 in matcher.get_opcodes()
    ]
