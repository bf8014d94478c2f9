"""MAIRA-2's findings prompt: phrases, free-text fields, placeholders and token masks."""

from __future__ import annotations

import pytest
from PIL import Image

from workers.maira2.inputs import encode_row
from workers.maira2.prompt import INSTRUCTION, Study, build_prompt
from workers.maira2.runner import Maira2Runner
from workers.maira2.tiny import SYSTEM_PROMPT

IMAGE = "<image>"


def _question(runner: Maira2Runner, study: Study, grounded: bool = False) -> str:
    prompt = build_prompt(study, runner.tokenizer, runner.image_seq_length, grounded=grounded)
    text = prompt.text.replace(IMAGE * runner.image_seq_length, "[IMG]")
    assert text.startswith(f"{SYSTEM_PROMPT}  USER: ") and text.endswith("  ASSISTANT: ")
    return text.removeprefix(f"{SYSTEM_PROMPT}  USER: ").removesuffix("  ASSISTANT: ")


FIELDS = " INDICATION: Cough. TECHNIQUE: PA view. COMPARISON: N/A"


def test_frontal_only(runner: Maira2Runner, frontal: Image.Image) -> None:
    study = Study(frontal, indication="Cough.", technique="PA view.", comparison="")
    assert (
        _question(runner, study)
        == "Given the current frontal image only[IMG]" + INSTRUCTION + FIELDS
    )


def test_free_text_is_kept_verbatim_and_only_empty_is_na(runner, frontal) -> None:
    """As the reference processor: None and "" become "N/A", anything else stays as written."""
    study = Study(frontal, indication=" Cough. ", technique="   ", comparison=None)
    assert _question(runner, study).endswith(" INDICATION:  Cough.  TECHNIQUE:     COMPARISON: N/A")


def test_all_images_with_prior_report(runner, frontal, lateral, prior) -> None:
    study = Study(
        frontal,
        lateral,
        prior,
        prior_report="Small effusion.",
        indication="Cough.",
        technique="PA view.",
    )
    assert _question(runner, study) == (
        "Given the current frontal image[IMG] the current lateral image[IMG]"
        " and the prior frontal image[IMG] PRIOR_REPORT: Small effusion." + INSTRUCTION + FIELDS
    )


def test_lateral_only_and_prior_only(runner, frontal, lateral, prior) -> None:
    fields = " INDICATION: N/A TECHNIQUE: N/A COMPARISON: N/A"
    assert _question(runner, Study(frontal, lateral)) == (
        "Given the current frontal image[IMG] and the current lateral image[IMG]"
        + INSTRUCTION
        + fields
    )
    assert _question(runner, Study(frontal, prior_frontal=prior)) == (
        "Given the current frontal image[IMG] and the prior frontal image[IMG] PRIOR_REPORT: N/A"
        + INSTRUCTION
        + fields
    )


def test_prior_report_is_dropped_without_prior_image(runner, frontal) -> None:
    question = _question(runner, Study(frontal, prior_report="Old findings."))
    assert "PRIOR_REPORT" not in question and "Old findings" not in question


def test_grounded_instruction(runner, frontal) -> None:
    assert "bounding boxes" in _question(runner, Study(frontal), grounded=True)
    assert "bounding boxes" not in _question(runner, Study(frontal))


def test_text_only_prompt_has_no_images(runner) -> None:
    study = Study(None, indication="Cough.", technique="PA view.")
    prompt = build_prompt(study, runner.tokenizer, runner.image_seq_length)
    assert prompt.images == [] and IMAGE not in prompt.text
    assert _question(runner, study) == "Given the current frontal image only" + INSTRUCTION + FIELDS


def test_lateral_without_frontal_is_refused(runner, lateral) -> None:
    with pytest.raises(ValueError, match="frontal"):
        build_prompt(Study(None, lateral), runner.tokenizer, runner.image_seq_length)


def test_placeholders_match_image_features(runner, frontal, lateral) -> None:
    prompt = build_prompt(Study(frontal, lateral), runner.tokenizer, runner.image_seq_length)
    row = encode_row(runner.tokenizer, prompt, runner.image_token_id, runner.image_seq_length)
    assert row.input_ids.count(runner.image_token_id) == 2 * runner.image_seq_length
    with pytest.raises(ValueError, match="placeholders"):
        encode_row(runner.tokenizer, prompt, runner.image_token_id, runner.image_seq_length + 1)


def test_field_and_report_masks(runner, frontal, prior) -> None:
    study = Study(
        frontal, prior_frontal=prior, prior_report="Old effusion.", comparison="Prior film."
    )
    report = "No pleural effusion. Mild cardiomegaly."
    row = runner.encode(study, report)
    tokenizer = runner.tokenizer
    by_field: dict[str, list[int]] = {}
    for position, name in zip(row.field_positions, row.field_names, strict=True):
        by_field.setdefault(name, []).append(row.input_ids[position])
    assert {name: tokenizer.decode(ids).strip() for name, ids in by_field.items()} == {
        "prior_report": "Old effusion.",
        "comparison": "Prior film.",
    }
    report_ids = [row.input_ids[p] for p in row.report_positions]
    assert tokenizer.decode(report_ids) == report
    assert row.report_positions == list(
        range(row.report_positions[0], row.report_positions[0] + len(report_ids))
    )
    assert row.input_ids[row.report_positions[-1] + 1 :] == [tokenizer.eos_token_id]
    kept = {row.input_ids[p] for p in row.field_positions + row.report_positions}
    assert runner.image_token_id not in kept and tokenizer.bos_token_id not in kept
