"""A feature label's CheXpert observations and the on/off-target split of finding changes."""

from __future__ import annotations

from workers.findings.targets import label_observations, outcome, split_changes


def test_labels_name_their_observations_negated_or_not() -> None:
    assert label_observations("small left pleural effusion") == ["Pleural Effusion"]
    assert label_observations("no pneumothorax; heart size enlarged") == [
        "Cardiomegaly",
        "Pneumothorax",
    ]
    assert label_observations("tiny feature 3") == []
    assert label_observations(None) == label_observations("") == []


def test_changes_split_into_on_and_off_target_and_no_finding_counts_only_as_a_target() -> None:
    changed = ["No Finding", "Edema", "Pleural Effusion"]
    assert split_changes(changed, ["Edema"]) == (["Edema"], ["Pleural Effusion"])
    assert split_changes(changed, ["No Finding"]) == (["No Finding"], ["Edema", "Pleural Effusion"])
    assert split_changes(["No Finding"], []) == ([], [])


def test_four_outcomes() -> None:
    assert [outcome(on, off) for on in (True, False) for off in (True, False)] == [
        "both",
        "on_only",
        "off_only",
        "none",
    ]
