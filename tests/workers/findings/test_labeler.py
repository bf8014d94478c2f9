"""The findings labeler: mentions, negation, uncertainty, devices and No Finding."""

from __future__ import annotations

import pytest

from workers.findings.labeler import Label, find_mentions, label_report, sentences
from workers.findings.phrases import OBSERVATIONS


def labels_of(text: str) -> dict[str, str]:
    """Only the observations the text gives a value, as plain strings."""
    return {name: str(label) for name, label in label_report(text).items() if label != Label.ABSENT}


def test_every_observation_is_labelled_in_chexpert_order() -> None:
    labels = label_report("Cardiomegaly.")
    assert tuple(labels) == OBSERVATIONS
    assert len(OBSERVATIONS) == 14


@pytest.mark.parametrize(
    ("text", "observation", "expected"),
    [
        ("No pleural effusion.", "Pleural Effusion", Label.NEGATIVE),
        ("There is no evidence of pneumothorax", "Pneumothorax", Label.NEGATIVE),
        ("Small left pleural effusion cannot be excluded", "Pleural Effusion", Label.UNCERTAIN),
        ("Cardiomegaly.", "Cardiomegaly", Label.POSITIVE),
        ("Heart size is normal", "Cardiomegaly", Label.NEGATIVE),
        ("Normal heart size.", "Cardiomegaly", Label.NEGATIVE),
        ("The heart is not enlarged.", "Cardiomegaly", Label.NEGATIVE),
        ("The heart is mildly enlarged.", "Cardiomegaly", Label.POSITIVE),
        ("Lungs are free of focal consolidation.", "Consolidation", Label.NEGATIVE),
        ("Negative for pneumothorax.", "Pneumothorax", Label.NEGATIVE),
        ("The right pleural effusion has resolved.", "Pleural Effusion", Label.NEGATIVE),
        ("Pneumothorax is not seen.", "Pneumothorax", Label.NEGATIVE),
        ("Possible right lower lobe pneumonia.", "Pneumonia", Label.UNCERTAIN),
        ("Opacity suggestive of pneumonia.", "Pneumonia", Label.UNCERTAIN),
        ("Likely bibasilar atelectasis.", "Atelectasis", Label.UNCERTAIN),
        ("Atelectasis versus pneumonia.", "Atelectasis", Label.UNCERTAIN),
        ("Atelectasis versus pneumonia.", "Pneumonia", Label.UNCERTAIN),
        ("No new consolidation.", "Consolidation", Label.UNCERTAIN),
        ("A small effusion may be present.", "Pleural Effusion", Label.UNCERTAIN),
        ("Mild pulmonary vascular congestion.", "Edema", Label.UNCERTAIN),
        ("Healed left rib fractures.", "Fracture", Label.POSITIVE),
        ("Small pericardial effusion.", "Pleural Effusion", Label.ABSENT),
        ("Calcified nodule in the left upper lobe.", "Lung Lesion", Label.ABSENT),
        ("No change in the small right pleural effusion.", "Pleural Effusion", Label.POSITIVE),
    ],
)
def test_mention_classification(text: str, observation: str, expected: Label) -> None:
    assert label_report(text)[observation] == expected


def test_negation_scope_ends_at_but() -> None:
    labels = label_report("No pneumothorax, but there is a small effusion")
    assert labels["Pneumothorax"] == Label.NEGATIVE
    assert labels["Pleural Effusion"] == Label.POSITIVE


def test_negation_covers_a_list() -> None:
    labels = labels_of("No focal airspace consolidation, pleural effusion, or pneumothorax.")
    assert labels == {
        "No Finding": "positive",
        "Consolidation": "negative",
        "Pleural Effusion": "negative",
        "Pneumothorax": "negative",
    }


def test_normal_after_otherwise_does_not_negate_the_finding_before_it() -> None:
    assert label_report("Mild cardiomegaly, otherwise normal.")["Cardiomegaly"] == Label.POSITIVE


def test_normal_report_is_no_finding() -> None:
    assert labels_of("No acute cardiopulmonary abnormality") == {"No Finding": "positive"}
    normal = labels_of(
        "The heart is normal in size. The mediastinum is unremarkable. The lungs are clear. "
        "No pneumothorax or pleural effusion."
    )
    assert normal["No Finding"] == "positive"
    assert normal["Cardiomegaly"] == "negative"
    assert normal["Enlarged Cardiomediastinum"] == "negative"


def test_any_positive_or_uncertain_finding_rules_out_no_finding() -> None:
    assert label_report("Possible pneumonia.")["No Finding"] == Label.ABSENT
    assert label_report("Cardiomegaly.")["No Finding"] == Label.ABSENT
    # findings outside the 14 observations count too, as in CheXpert
    assert label_report("Degenerative changes of the spine.")["No Finding"] == Label.ABSENT


def test_support_devices_do_not_rule_out_no_finding() -> None:
    labels = label_report("Right PICC line with tip in the SVC. Lungs are clear.")
    assert labels["Support Devices"] == Label.POSITIVE
    assert labels["No Finding"] == Label.POSITIVE


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Left-sided pacemaker with leads in the right atrium and ventricle.", Label.POSITIVE),
        ("Endotracheal tube terminates 4 cm above the carina.", Label.POSITIVE),
        ("Right chest XXXX with tip projecting over the lower SVC.", Label.POSITIVE),
        ("Sternotomy wires and mediastinal surgical clips.", Label.POSITIVE),
        ("The nasogastric tube has been removed.", Label.NEGATIVE),
        ("Kerley B lines at the bases.", Label.ABSENT),
        ("Mild platelike atelectasis.", Label.ABSENT),
    ],
)
def test_support_devices(text: str, expected: Label) -> None:
    assert label_report(text)["Support Devices"] == expected


def test_heart_failure_makes_cardiomegaly_uncertain() -> None:
    labels = label_report("Findings consistent with congestive heart failure.")
    assert labels["Edema"] == Label.POSITIVE
    assert labels["Cardiomegaly"] == Label.UNCERTAIN


def test_neutral_heart_mention_without_a_statement_is_not_a_finding() -> None:
    assert label_report("The heart is XXXX.")["Cardiomegaly"] == Label.ABSENT
    assert label_report("Stable cardiomediastinal silhouette.")["No Finding"] == Label.POSITIVE
    assert label_report("Pacemaker overlies the heart.")["Cardiomegaly"] == Label.ABSENT


def test_deidentification_token_is_an_ordinary_word() -> None:
    assert label_report("There are no XXXX of a pleural effusion.")["Pleural Effusion"] == (
        Label.NEGATIVE
    )
    assert labels_of("Normal chest x-XXXX.") == {"No Finding": "positive"}
    assert labels_of("XXXX XXXX. XXXX") == {"No Finding": "positive"}


def test_mentions_carry_their_sentence() -> None:
    mentions = find_mentions("Heart size normal. Small left effusion.")
    effusion = next(mention for mention in mentions if mention.observation == "Pleural Effusion")
    assert effusion.label == Label.POSITIVE
    assert effusion.sentence == "small left effusion."


def test_sentences_split_on_full_stops_and_keep_decimals() -> None:
    assert sentences("1. A 1.5 cm nodule.  2. No effusion.\nStable.") == [
        "a 1.5 cm nodule.",
        "no effusion.",
        "stable.",
    ]


def test_empty_text_has_only_no_finding() -> None:
    assert labels_of("") == {"No Finding": "positive"}
