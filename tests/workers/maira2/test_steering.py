"""Steering: the added vector, its exact effect at every position, one batched generate, cleanup."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import torch
from PIL import Image

from workers.maira2.capture import block_hidden
from workers.maira2.runner import Maira2Runner, Study
from workers.maira2.steering import adding_per_row, steering_vector, steering_vectors


def _unit_rows(m: int, d: int, seed: int) -> torch.Tensor:
    rows = torch.randn(m, d, generator=torch.Generator().manual_seed(seed))
    return rows / rows.norm(dim=1, keepdim=True)


def test_steering_vector_is_scaled_sum_of_unit_rows() -> None:
    rows = _unit_rows(3, 8, 0)
    vector = steering_vector(
        rows * torch.tensor([[2.0], [0.5], [3.0]]), [1.0, -2.0, 0.5], scale=4.0
    )
    torch.testing.assert_close(vector, 4.0 * (rows[0] - 2.0 * rows[1] + 0.5 * rows[2]))
    with pytest.raises(ValueError, match="alphas"):
        steering_vector(rows, [1.0])
    with pytest.raises(ValueError, match="zero"):
        steering_vector(torch.zeros(1, 8), [1.0])


def test_zero_alpha_reproduces_baseline(runner: Maira2Runner, frontal: Image.Image) -> None:
    result = runner.steer(
        Study(frontal), _unit_rows(2, runner.d_model, 1), [0.0, 0.0], max_new_tokens=12
    )
    assert result.baseline == result.steered
    assert result.baseline == runner.generate_report(Study(frontal), max_new_tokens=12)


def test_layer_output_shifts_by_exactly_alpha_times_row(
    runner: Maira2Runner, frontal: Image.Image
) -> None:
    """Compare the hooked block's raw output with what block 16 receives, on every forward call."""
    row = _unit_rows(1, runner.d_model, 2)
    alpha = 8.0
    raw_outputs: list[torch.Tensor] = []
    next_inputs: list[torch.Tensor] = []
    hooks_before = set(runner.block._forward_hooks)
    before = runner.block.register_forward_hook(
        lambda _m, _a, output: raw_outputs.append(block_hidden(output).clone())
    )
    after = runner.model.decoder_layers()[16].register_forward_pre_hook(
        lambda _m, args: next_inputs.append(args[0].clone())
    )
    new_tokens = 6
    try:
        result = runner.steer(Study(frontal), row, [alpha], max_new_tokens=new_tokens)
    finally:
        before.remove()
        after.remove()
    assert set(runner.block._forward_hooks) == hooks_before
    assert len(raw_outputs) == len(next_inputs) >= 2
    assert raw_outputs[0].shape[1] > 1 and all(r.shape[1] == 1 for r in raw_outputs[1:])
    assert len(raw_outputs) <= new_tokens
    for raw, received in zip(raw_outputs, next_inputs, strict=True):
        assert raw.shape[0] == 2
        torch.testing.assert_close(received[0], raw[0], rtol=0, atol=0)
        shift = received[1] - raw[1]
        torch.testing.assert_close(shift, (alpha * row[0]).expand_as(shift), rtol=1e-5, atol=1e-5)
    assert isinstance(result.steered, str)


def test_large_alpha_changes_the_report(runner: Maira2Runner, frontal: Image.Image) -> None:
    result = runner.steer(
        Study(frontal), _unit_rows(1, runner.d_model, 3), [50.0], max_new_tokens=12
    )
    assert result.baseline != result.steered
    assert result.baseline == runner.generate_report(Study(frontal), max_new_tokens=12)


def test_hook_is_removed_on_error(runner: Maira2Runner) -> None:
    hooks_before = set(runner.block._forward_hooks)
    with (
        pytest.raises(RuntimeError, match="boom"),
        adding_per_row(runner.block, torch.ones(1, runner.d_model)),
    ):
        assert set(runner.block._forward_hooks) > hooks_before
        raise RuntimeError("boom")
    assert set(runner.block._forward_hooks) == hooks_before


def test_steering_scale_multiplies_alpha(tiny_folder, frontal: Image.Image) -> None:
    scaled = Maira2Runner.load(tiny_folder, steering_scale=10.0)
    plain = Maira2Runner.load(tiny_folder)
    row = _unit_rows(1, plain.d_model, 4)
    assert scaled.steer(Study(frontal), row, [5.0], max_new_tokens=8) == plain.steer(
        Study(frontal), row, [50.0], max_new_tokens=8
    )


def test_concurrent_capture_and_steer_do_not_interfere(
    runner: Maira2Runner, frontal: Image.Image
) -> None:
    study = Study(frontal)
    report = "There is no pleural effusion."
    direction = _unit_rows(1, runner.d_model, 5)
    expected_activations = runner.capture([study], [report])[0].report_activations
    expected_steer = runner.steer(study, direction, [30.0], max_new_tokens=8)
    with ThreadPoolExecutor(max_workers=4) as pool:
        steers = [
            pool.submit(runner.steer, study, direction, [30.0], max_new_tokens=8) for _ in range(3)
        ]
        captures = [pool.submit(runner.capture, [study], [report]) for _ in range(3)]
        for future in steers:
            assert future.result() == expected_steer
        for future in captures:
            torch.testing.assert_close(future.result()[0].report_activations, expected_activations)


def test_sweep_rows_equal_separate_steered_generates(
    runner: Maira2Runner, frontal: Image.Image
) -> None:
    """One batched generate (baseline + one row per alpha) gives, row for row, the reports of
    separate two-row steers and of steered-only generates at each alpha."""
    row = _unit_rows(1, runner.d_model, 4)
    alphas = [-40.0, 0.0, 15.0, 40.0]
    study = Study(frontal, indication="Sweep.")
    baseline, *swept = runner.steer_sweep(study, row, [[a] for a in alphas], max_new_tokens=10)
    assert baseline == runner.generate_report(study, max_new_tokens=10)
    assert swept[1] == baseline
    assert len(set(swept)) > 1
    for alpha, steered in zip(alphas, swept, strict=True):
        pair = runner.steer(study, row, [alpha], max_new_tokens=10)
        assert (pair.baseline, pair.steered) == (baseline, steered)
        assert runner.generate_steered(study, row, [alpha], max_new_tokens=10) == steered


def test_steering_vectors_give_one_vector_per_row() -> None:
    rows = _unit_rows(2, 8, 5)
    vectors = steering_vectors(rows, [[1.0, 0.0], [0.0, -2.0]], scale=3.0)
    torch.testing.assert_close(vectors, torch.stack([3.0 * rows[0], -6.0 * rows[1]]))
    assert steering_vectors(rows, []).shape == (0, 8)
