"""Findings that appeared, disappeared or changed certainty between two reports."""

from __future__ import annotations

import json

from workers.findings.compare import compare_findings, summarize
from workers.findings.labeler import Label

BASELINE = (
    "Heart size is normal. Mild cardiomegaly is not seen. Small left pleural effusion. "
    "No pneumothorax."
)


def by_observation(baseline: str, steered: str) -> dict[str, tuple[str, Label, Label]]:
    return {
        change.observation: (change.kind, change.baseline, change.steered)
        for change in compare_findings(baseline, steered)
    }


def test_identical_reports_have_only_unchanged_mentioned_observations() -> None:
    changes = compare_findings(BASELINE, BASELINE)
    assert {change.kind for change in changes} == {"unchanged"}
    assert {change.observation for change in changes} == {
        "Cardiomegaly",
        "Pleural Effusion",
        "Pneumothorax",
    }
    assert summarize(changes) == {
        "appeared": 0,
        "disappeared": 0,
        "certainty_changed": 0,
        "unchanged": 3,
    }


def test_appeared_disappeared_and_certainty_changed() -> None:
    steered = "The heart is enlarged. Possible small left pleural effusion. No consolidation."
    changes = by_observation(BASELINE, steered)
    assert changes["Cardiomegaly"] == ("appeared", Label.NEGATIVE, Label.POSITIVE)
    assert changes["Pleural Effusion"] == ("certainty_changed", Label.POSITIVE, Label.UNCERTAIN)
    assert changes["Pneumothorax"] == ("certainty_changed", Label.NEGATIVE, Label.ABSENT)
    assert changes["Consolidation"] == ("certainty_changed", Label.ABSENT, Label.NEGATIVE)
    assert "Pneumonia" not in changes


def test_finding_disappears_and_no_finding_appears() -> None:
    changes = by_observation("Right lower lobe pneumonia.", "No acute cardiopulmonary disease.")
    assert changes["Pneumonia"] == ("disappeared", Label.POSITIVE, Label.ABSENT)
    assert changes["No Finding"] == ("appeared", Label.ABSENT, Label.POSITIVE)


def test_changes_come_first_and_read_well() -> None:
    changes = compare_findings(
        "No pneumothorax. Small right effusion.", "No pneumothorax. Right lower lobe atelectasis."
    )
    assert [change.kind for change in changes] == ["appeared", "disappeared", "unchanged"]
    assert [change.description for change in changes] == [
        "Atelectasis appeared (positive)",
        "Pleural Effusion disappeared (was positive)",
        "Pneumothorax: negative",
    ]
    assert changes[0].steered_sentences == ("right lower lobe atelectasis.",)
    assert changes[1].baseline_sentences == ("small right effusion.",)
    assert summarize(changes)["appeared"] == 1


def test_changes_serialise_to_json() -> None:
    change = compare_findings("No effusion.", "Small effusion.")[0]
    assert json.loads(json.dumps(change.as_dict())) == {
        "observation": "Pleural Effusion",
        "kind": "appeared",
        "baseline": "negative",
        "steered": "positive",
        "description": "Pleural Effusion appeared (positive)",
        "baseline_sentences": ["no effusion."],
        "steered_sentences": ["small effusion."],
    }
