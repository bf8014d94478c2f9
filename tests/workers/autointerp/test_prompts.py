"""Highlighting as delphi does, and answer parsers that never guess."""

from __future__ import annotations

from workers.autointerp.prompts import (
    Window,
    explanation_prompt,
    highlight_mask,
    highlighted,
    normalised,
    parse_explanation,
    parse_verdicts,
    verdict_probabilities,
)


def test_highlights_merge_neighbouring_tokens_above_the_fraction_of_the_max() -> None:
    tokens = ("Small", " left", " pleural", " effusion", ".")
    mask = highlight_mask((0.0, 0.2, 2.0, 3.0, 0.8))
    assert mask == [False, False, True, True, False]
    assert highlighted(tokens, mask) == "Small left <<pleural effusion>>."
    assert normalised(3.0, 4.0) == 8 and normalised(0.0, 4.0) == 0 and normalised(9.0, 4.0) == 10


def test_explanation_prompt_shows_values_and_contrastive_examples() -> None:
    active = Window((" a", " effusion"), (0.0, 4.0), 1, 10, "top")
    quiet = Window((" heart", " normal"), None, 2, 11, "random")
    user = explanation_prompt([active], [quiet], 4.0)[1]["content"]
    assert 'Example 1: a <<effusion>>\nActivations: ("effusion" : 10)' in user
    assert "NON-ACTIVATING EXAMPLES:\nExample 1: heart normal" in user
    system = explanation_prompt([active], [], 4.0)[0]["content"]
    assert "radiolog" in system


def test_explanation_parse_takes_the_last_tagged_line_or_nothing() -> None:
    assert parse_explanation("thinking...\n[EXPLANATION]: pleural effusion") == "pleural effusion"
    assert parse_explanation("[explanation] : 'rib fractures'") == "rib fractures"
    assert parse_explanation("It is about effusions.") is None
    assert parse_explanation("[EXPLANATION]:   ") is None


def test_verdict_parse_wants_exactly_n_zeros_and_ones() -> None:
    assert parse_verdicts("Sure: [1, 0, 1]", 3) == [True, False, True]
    assert parse_verdicts("[0.5, 1] then [1, 1]", 2) == [True, True]
    assert parse_verdicts("[1, 0]", 3) is None
    assert parse_verdicts("[1, 2, 0]", 3) is None
    assert parse_verdicts("[true, false]", 2) is None
    assert parse_verdicts("no list", 1) is None


def test_probabilities_from_top_logprobs() -> None:
    entry = {
        "token": "1",
        "top_logprobs": [{"token": "1", "logprob": -0.1}, {"token": "0", "logprob": -2.4}],
    }
    (p,) = verdict_probabilities([{"token": "["}, entry], 1)
    assert 0.9 < p < 0.92
    assert verdict_probabilities(None, 1) is None
    assert verdict_probabilities([entry], 2) is None
