"""Teacher-forced capture at the hooked layer: conventions, early stop, masks, padding, tokens."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from workers.maira2.capture import forward_to_block, hooked_block_index
from workers.maira2.runner import Maira2Runner, Study

REPORT = "There is no pleural effusion. The heart size is normal."


def _full_hidden_states(runner: Maira2Runner, study: Study, report: str) -> tuple[list[int], tuple]:
    row = runner.encode(study, report)
    batch = runner.batch([row])
    with torch.inference_mode():
        output = runner.model(**batch.model_kwargs(), output_hidden_states=True, use_cache=False)
    return row.input_ids, output.hidden_states


def test_conventions_match_hidden_states(runner: Maira2Runner, frontal: Image.Image) -> None:
    study = Study(frontal, indication="Cough.")
    _, hidden_states = _full_hidden_states(runner, study, REPORT)
    row = runner.encode(study, REPORT)
    batch = runner.batch([row])
    layers = runner.model.decoder_layers()
    for point, expected in (("output", hidden_states[16]), ("input", hidden_states[15])):
        block = layers[hooked_block_index(15, point)]
        captured = forward_to_block(runner.model, block, **batch.model_kwargs())
        torch.testing.assert_close(captured, expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError):
        hooked_block_index(0, "input")


def test_forward_stops_after_hooked_layer(runner: Maira2Runner, frontal: Image.Image) -> None:
    calls: list[str] = []
    hooks_before = set(runner.block._forward_hooks)
    later = runner.model.decoder_layers()[16].register_forward_pre_hook(
        lambda *_: calls.append("16")
    )
    head = runner.model.lm_head.register_forward_pre_hook(lambda *_: calls.append("lm_head"))
    hooked = runner.block.register_forward_pre_hook(lambda *_: calls.append("15"))
    try:
        runner.capture([Study(frontal)], [REPORT])
    finally:
        for handle in (later, head, hooked):
            handle.remove()
    assert calls == ["15"]
    assert set(runner.block._forward_hooks) <= hooks_before


def test_report_tokens_and_activations(runner: Maira2Runner, frontal: Image.Image) -> None:
    study = Study(frontal, indication="Shortness of breath.", technique="PA view.")
    (capture,) = runner.capture([study], [REPORT])
    assert "".join(capture.report_tokens) == " " + REPORT
    assert " effusion." in capture.report_tokens
    assert capture.report_activations.shape == (len(capture.report_tokens), runner.d_model)
    assert capture.report_activations.dtype == torch.float32
    ids, hidden_states = _full_hidden_states(runner, study, REPORT)
    positions = runner.encode(study, REPORT).report_positions
    torch.testing.assert_close(
        capture.report_activations, hidden_states[16][0, positions], rtol=1e-5, atol=1e-6
    )
    assert capture.report_token_ids == [ids[p] for p in positions]
    assert "".join(capture.prompt_tokens) == " Shortness of breath. PA view."
    by_field: dict[str, str] = {}
    for token, field in zip(capture.prompt_tokens, capture.prompt_fields, strict=True):
        by_field[field] = by_field.get(field, "") + token
    assert by_field == {"indication": " Shortness of breath.", "technique": " PA view."}
    assert capture.prompt_activations.shape == (len(capture.prompt_tokens), runner.d_model)


def test_batched_left_padding_matches_single_rows(
    runner: Maira2Runner, frontal: Image.Image, lateral: Image.Image, prior: Image.Image
) -> None:
    studies = [
        Study(frontal, indication="Cough."),
        Study(frontal, lateral, prior, prior_report="Old effusion.", comparison="Prior film."),
        Study(None, indication="Fever and chills for three days."),
    ]
    reports = ["Mild cardiomegaly.", REPORT, "The lungs are clear. No pneumothorax is seen."]
    batched = runner.capture(studies, reports, batch_size=3)
    single = [
        runner.capture([study], [report])[0] for study, report in zip(studies, reports, strict=True)
    ]
    for together, alone in zip(batched, single, strict=True):
        assert together.report_tokens == alone.report_tokens
        assert together.prompt_tokens == alone.prompt_tokens
        torch.testing.assert_close(
            together.report_activations, alone.report_activations, rtol=1e-4, atol=1e-5
        )
        torch.testing.assert_close(
            together.prompt_activations, alone.prompt_activations, rtol=1e-4, atol=1e-5
        )
    assert "".join(batched[2].report_tokens) == " " + reports[2]
    assert set(batched[1].prompt_fields) == {"prior_report", "comparison"}


def test_empty_report_gives_no_tokens(runner: Maira2Runner) -> None:
    (capture,) = runner.capture([Study(None, indication="Cough.")], [""])
    assert capture.report_tokens == [] and capture.report_activations.shape == (0, runner.d_model)
    assert "".join(capture.prompt_tokens) == " Cough."


def test_display_tokens_handle_multibyte_characters(runner: Maira2Runner) -> None:
    report = "Opacité à droite, 5 mm × 3 mm."
    (capture,) = runner.capture([Study(None)], [report])
    assert "".join(capture.report_tokens).lstrip(" ") == report


@pytest.mark.parametrize(
    "report",
    ["There is no pleural effusion.", "No pneumothorax is seen.", "  Mild cardiomegaly.  "],
)
def test_capture_with_the_released_whitespace(runner: Maira2Runner, report: str) -> None:
    """The generation prompt ends "ASSISTANT: " (a lone "\u2581", id 29871), which the report's
    first token absorbs; capture finds the report by character offsets all the same."""
    study = Study(None, indication="Cough.")
    prompt = runner.encode(study)
    assert prompt.input_ids[-1] == 29871
    assert runner.tokenizer.convert_ids_to_tokens(29871) == "\u2581"
    row = runner.encode(study, report)
    assert row.input_ids[: len(prompt.input_ids)] != prompt.input_ids
    (capture,) = runner.capture([study], [report])
    assert "".join(capture.report_tokens) == " " + report.strip()
    first = runner.tokenizer.convert_ids_to_tokens(capture.report_token_ids[0])
    assert first == "\u2581" + report.split()[0]
    assert 29871 not in capture.report_token_ids
    assert runner.tokenizer.eos_token_id not in capture.report_token_ids
