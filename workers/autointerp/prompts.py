"""Prompts for explaining and scoring a feature, and robust parsers of the LLM's answers.

Highlighting follows delphi: tokens above `threshold` x the example's max are wrapped in
`<<...>>` (neighbouring ones merged), and the explanation prompt lists each highlighted token's
value normalised to 0-10 by the feature's max. Detection shows plain text; fuzzing shows
highlights (true ones on activating windows, random ones on the others).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

PROMPT_VERSION = "maira-autointerp-1"
HIGHLIGHT_THRESHOLD = 0.3

EXPLAIN_SYSTEM = (
    "You are a meticulous radiologist and AI researcher studying one latent feature of a model "
    "that writes chest X-ray reports. You see report excerpts where the feature is active, with "
    "the tokens it fires on between << and >>, followed by their activation strengths (0-10), "
    "and excerpts where it is not active. Say in a short phrase what the feature detects: a "
    "finding, anatomy, negation, certainty, report section, or wording. Be specific to "
    "radiology language; do not list the examples. End with one line of the form\n"
    "[EXPLANATION]: <your explanation>"
)
DETECTION_SYSTEM = (
    "You judge whether a latent feature of a radiology-report model is active in report "
    "excerpts, given an explanation of the feature. For each numbered example answer 1 if the "
    "feature is active in it and 0 if not. Reply with a Python list of 0s and 1s only, one per "
    "example, in order, e.g. [1, 0, 0]."
)
FUZZING_SYSTEM = (
    "You judge whether the highlighted tokens (between << and >>) in radiology-report excerpts "
    "are the ones a latent feature's explanation describes. For each numbered example answer 1 "
    "if the highlighted tokens match the explanation and 0 if not. Reply with a Python list of "
    "0s and 1s only, one per example, in order, e.g. [1, 0, 0]."
)

_EXPLANATION = re.compile(r"\[EXPLANATION\]\s*:\s*(.+)", re.I)
_LIST = re.compile(r"\[[^\[\]]*\]")


@dataclass(frozen=True)
class Window:
    """A report window shown to the LLM. `values` is None where the feature is not active."""

    tokens: tuple[str, ...]
    values: tuple[float, ...] | None
    document_id: int
    example_id: int | None
    source: str
    """top, interval (activating), neighbour or random (non-activating)."""
    window_id: int | None = None
    """The `window_samples` row of a non-activating window."""

    @property
    def activating(self) -> bool:
        return self.values is not None

    @property
    def text(self) -> str:
        return "".join(self.tokens).strip()


def highlight_mask(values: tuple[float, ...], threshold: float = HIGHLIGHT_THRESHOLD) -> list[bool]:
    """Which tokens are highlighted: above `threshold` x the window's max (none if max <= 0)."""
    peak = max(values, default=0.0)
    return [peak > 0 and value > threshold * peak for value in values]


def highlighted(tokens: tuple[str, ...], mask: list[bool]) -> str:
    """The window's text with runs of masked tokens wrapped in << >>."""
    parts: list[str] = []
    inside = False
    for token, on in zip(tokens, mask, strict=True):
        if on and not inside:
            stripped = token.lstrip()
            parts.append(token[: len(token) - len(stripped)] + "<<" + stripped)
            inside = True
            continue
        if not on and inside:
            parts.append(">>")
            inside = False
        parts.append(token)
    if inside:
        parts.append(">>")
    return "".join(parts).strip()


def normalised(value: float, feature_max: float) -> int:
    """A value as 0-10 of the feature's max (delphi's ceil rule)."""
    if feature_max <= 0:
        return 0
    return max(0, min(10, math.ceil(10 * value / feature_max)))


def explanation_prompt(
    activating: list[Window], non_activating: list[Window], feature_max: float
) -> list[dict[str, str]]:
    """Chat messages asking for an explanation of the feature from these windows."""
    lines = ["ACTIVATING EXAMPLES:"]
    for number, window in enumerate(activating, 1):
        assert window.values is not None
        mask = highlight_mask(window.values)
        lines.append(f"Example {number}: {highlighted(window.tokens, mask)}")
        strengths = [
            f'("{token.strip()}" : {normalised(value, feature_max)})'
            for token, value, on in zip(window.tokens, window.values, mask, strict=True)
            if on
        ]
        lines.append("Activations: " + ", ".join(strengths))
    if non_activating:
        lines.append("")
        lines.append("NON-ACTIVATING EXAMPLES:")
        lines.extend(
            f"Example {number}: {window.text}" for number, window in enumerate(non_activating, 1)
        )
    lines.append("")
    lines.append("What does the feature detect? Answer with [EXPLANATION]: <explanation>")
    return [
        {"role": "system", "content": EXPLAIN_SYSTEM},
        {"role": "user", "content": "\n".join(lines)},
    ]


def parse_explanation(answer: str) -> str | None:
    """The explanation in an answer (last `[EXPLANATION]:` line, cleaned), or None."""
    found = _EXPLANATION.findall(answer)
    if not found:
        return None
    text = found[-1].strip().strip("\"'`*").strip()
    return text[:500] or None


def scoring_prompt(label: str, shown: list[str], *, fuzzing: bool) -> list[dict[str, str]]:
    """Chat messages asking for a 0/1 verdict per shown example text."""
    lines = [f"Latent explanation: {label}", ""]
    lines.extend(f"Example {number}: {text}" for number, text in enumerate(shown))
    return [
        {"role": "system", "content": FUZZING_SYSTEM if fuzzing else DETECTION_SYSTEM},
        {"role": "user", "content": "\n".join(lines)},
    ]


def parse_verdicts(answer: str, n: int) -> list[bool] | None:
    """The first list of n zeros and ones in an answer, as booleans; None if there is none."""
    for candidate in _LIST.findall(answer):
        try:
            parsed = json.loads(candidate)
        except ValueError:
            continue
        if (
            isinstance(parsed, list)
            and len(parsed) == n
            and all(type(item) is int and item in (0, 1) for item in parsed)
        ):
            return [bool(item) for item in parsed]
    return None


def verdict_probabilities(logprobs: list[dict] | None, n: int) -> list[float] | None:
    """P("1") / (P("0") + P("1")) for each 0/1 token of the answer, from top logprobs; None when
    the endpoint returned none or they do not cover n verdicts."""
    if not logprobs:
        return None
    found: list[float] = []
    for entry in logprobs:
        if entry.get("token", "").strip() not in ("0", "1"):
            continue
        options = {
            item["token"].strip(): math.exp(item["logprob"])
            for item in entry.get("top_logprobs") or []
        }
        p_one, p_zero = options.get("1", 0.0), options.get("0", 0.0)
        if p_one + p_zero <= 0:
            return None
        found.append(p_one / (p_one + p_zero))
    return found[:n] if len(found) >= n else None
