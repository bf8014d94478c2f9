"""Training on synthetic sparse data: reconstruction improves and the checkpoint round-trips."""

from __future__ import annotations

import json
from itertools import cycle
from pathlib import Path

import pytest
import torch
from torch.testing import assert_close

from sae import load_sae, save_sae
from sae.model import MatryoshkaSae, batch_top_k_indices
from sae.train import (
    Codes,
    StepMetrics,
    TrainConfig,
    TrainState,
    auxiliary_loss,
    estimate_norm_factor,
    geometric_median,
    init_sae,
    library_config,
    new_state,
    prefix_losses,
    remove_parallel_gradient_,
    train_sae,
    train_step,
    updated_threshold,
)

D_IN, D_SAE, K = 32, 128, 4


def synthetic_activations(n_tokens: int, seed: int = 0) -> torch.Tensor:
    """Tokens built from ~K of D_SAE true unit directions, plus an offset and scale like LLMs."""
    fixed = torch.Generator().manual_seed(1234)
    directions = torch.nn.functional.normalize(torch.randn(D_SAE, D_IN, generator=fixed), dim=1)
    offset = torch.randn(D_IN, generator=fixed)
    generator = torch.Generator().manual_seed(seed)
    active = torch.rand(n_tokens, D_SAE, generator=generator) < K / D_SAE
    magnitudes = torch.rand(n_tokens, D_SAE, generator=generator) * 4 + 1
    return 20.0 * ((active * magnitudes) @ directions + offset)


def _fvu(sae, x: torch.Tensor) -> float:
    with torch.no_grad():
        return float((x - sae(x)).pow(2).sum() / (x - x.mean(0)).pow(2).sum())


def test_training_reduces_fvu_and_round_trips(tmp_path: Path, shared_dir: Path) -> None:
    data = synthetic_activations(4096)
    held_out = synthetic_activations(512, seed=1)
    config = TrainConfig(
        dict_size=D_SAE,
        k=K,
        steps=300,
        lr=3e-3,
        warmup_steps=20,
        threshold_start_step=50,
        dead_feature_threshold=2048,
        layer=15,
        lm_name="synthetic",
    )
    norm_factor = estimate_norm_factor(data.split(256))
    seen: list[StepMetrics] = []
    result = train_sae(
        cycle(data.split(256)), config, norm_factor, on_step=lambda step, m: seen.append(m)
    )
    sae = result.sae
    assert len(seen) == 300 and seen[-1].fvu < seen[0].fvu / 2
    assert sae.threshold > 0
    assert_close(sae.W_dec.norm(dim=1), torch.ones(D_SAE))
    assert _fvu(sae, held_out) < 0.45
    with torch.no_grad():
        l0 = float((sae.encode(held_out) > 0).sum(1).float().mean())
    assert K / 2 < l0 < 3 * K
    save_sae(sae, tmp_path, library_config(config, sae, norm_factor, {"out_batch_size": 256}))
    loaded = load_sae(tmp_path)
    library = torch.load(shared_dir / "fixtures/dictionary_learning_ef4/ae.pt", weights_only=True)
    ours = torch.load(tmp_path / "ae.pt", weights_only=True)
    assert list(ours) == list(library)
    for key, tensor in library.items():
        assert (ours[key].dtype, ours[key].dim()) == (tensor.dtype, tensor.dim()), key
    with torch.no_grad():
        assert_close(loaded.encode(held_out), sae.encode(held_out))
    written = json.loads((tmp_path / "config.json").read_text())
    trainer = written["trainer"]
    assert trainer["dict_class"] == "MatryoshkaBatchTopKSAE"
    assert trainer["group_sizes"] == [64, 32, 16, 8, 8] == loaded.group_sizes
    assert (trainer["activation_dim"], trainer["dict_size"], trainer["k"]) == (D_IN, D_SAE, K)
    assert trainer["layer"] == 15 and trainer["norm_factor"] == pytest.approx(norm_factor)
    assert written["buffer"] == {"out_batch_size": 256}


def test_config_checks_and_derived_values() -> None:
    config = TrainConfig(dict_size=16384, steps=2000)
    assert config.group_sizes == [8192, 4096, 2048, 1024, 1024]
    assert config.learning_rate == pytest.approx(2e-4)
    assert [config.lr_factor(step) for step in (0, 500, 1000, 1999)] == [0, 0.5, 1, 1]
    decaying = TrainConfig(
        dict_size=100, k=4, steps=100, warmup_steps=10, decay_start=50, threshold_start_step=10
    )
    assert decaying.group_sizes == [50, 25, 12, 6, 7]
    assert decaying.lr_factor(75) == 0.5
    with pytest.raises(ValueError, match="warmup_steps"):
        TrainConfig(dict_size=64, k=4, steps=100)
    with pytest.raises(ValueError, match="never be set"):
        TrainConfig(dict_size=64, k=4, steps=100, warmup_steps=10, threshold_start_step=100)
    with pytest.raises(ValueError, match="sum to 1"):
        TrainConfig(dict_size=64, k=4, group_fractions=(0.5, 0.4))
    with pytest.raises(ValueError, match="k <= dict_size"):
        TrainConfig(dict_size=64, k=65)
    with pytest.raises(AttributeError):
        config.k = 3  # type: ignore[misc]


def test_step_pieces_match_naive_formulas() -> None:
    generator = torch.Generator().manual_seed(0)
    points = torch.randn(200, 3, generator=generator)
    median = geometric_median(points, max_iter=500, tol=1e-9)

    def total_distance(c):
        return (points - c).norm(dim=1).sum()

    for shift in torch.eye(3) * 1e-2:
        assert total_distance(median) < total_distance(median + shift)

    W_dec = torch.randn(6, 5, generator=generator)
    grad = torch.randn(6, 5, generator=generator)
    remove_parallel_gradient_(W_dec, grad)
    assert_close((grad * W_dec).sum(1), torch.zeros(6), atol=1e-5, rtol=0)

    assert updated_threshold(-1.0, torch.tensor([[0.0, 2.0, 3.0]]), 0.9) == 2.0
    assert updated_threshold(1.0, torch.tensor([[0.0, 2.0, 3.0]]), 0.9) == pytest.approx(1.1)

    sae = MatryoshkaSae(5, 6, 2, [3, 3])
    with torch.no_grad():
        sae.W_dec.copy_(W_dec)
        sae.W_enc.copy_(torch.randn(5, 6, generator=generator))
    x = torch.randn(4, 5, generator=generator)
    residual = torch.randn(4, 5, generator=generator)
    pre = sae.pre_activations(x).detach()
    dead = torch.tensor([True, False, True, True, False, False])
    loss = auxiliary_loss(sae, x, pre, residual, dead, top_k=2)
    naive = torch.zeros_like(pre)
    for row in range(4):
        dead_values = [(float(pre[row, i]), i) for i in range(6) if dead[i]]
        for value, index in sorted(dead_values, reverse=True)[:2]:
            naive[row, index] = value
    error = (residual - naive @ W_dec).pow(2).sum(1).mean()
    variance = (residual - residual.mean(0)).pow(2).sum(1).mean()
    assert_close(loss, error / variance)
    nothing_dead = torch.zeros(6, dtype=torch.bool)
    assert float(auxiliary_loss(sae, x, pre, residual, nothing_dead, 2)) == 0


def test_prefix_losses_use_nested_groups() -> None:
    sae = MatryoshkaSae(3, 4, 2, [2, 1, 1])
    with torch.no_grad():
        sae.W_dec.copy_(torch.arange(12, dtype=torch.float32).reshape(4, 3))
        sae.b_dec.copy_(torch.tensor([1.0, 0.0, -1.0]))
    x = torch.randn(5, 3)
    f = torch.rand(5, 4) * (torch.rand(5, 4) < 0.6)
    rows, features = f.nonzero(as_tuple=True)
    losses, x_hat = prefix_losses(
        x, Codes(rows, features, f[rows, features]), sae, [0.5, 0.25, 0.25]
    )
    for group, (end, weight) in enumerate([(2, 0.5), (3, 0.25), (4, 0.25)]):
        prefix = f[:, :end] @ sae.W_dec[:end] + sae.b_dec
        assert_close(losses[group], (x - prefix).pow(2).sum(1).mean() * weight)
    assert_close(x_hat, f @ sae.W_dec + sae.b_dec)


def _dense_reference_step(sae: MatryoshkaSae, x: torch.Tensor, config: TrainConfig, state) -> None:
    """dictionary_learning's step written densely: dense codes, dense masks, dense products."""
    pre = torch.relu((x - sae.b_dec) @ sae.W_enc + sae.b_enc)
    flat = pre.flatten()
    top = flat.topk(sae.k * x.shape[0], sorted=False)
    f = torch.zeros_like(flat).scatter(-1, top.indices, top.values).reshape(pre.shape)
    x_hat, losses = sae.b_dec.expand_as(x), []
    for f_group, W_group, weight in zip(
        f.split(sae.group_sizes, 1), sae.W_dec.split(sae.group_sizes), config.weights, strict=True
    ):
        x_hat = x_hat + f_group @ W_group
        losses.append((x - x_hat).pow(2).sum(-1).mean() * weight)
    state.tokens_since_fired += x.shape[0]
    state.tokens_since_fired[(f > 0).any(0)] = 0
    dead = state.tokens_since_fired >= config.dead_feature_threshold
    residual = (x - x_hat).detach()
    masked = torch.where(dead[None], pre, -torch.inf)
    aux_top = masked.topk(min(config.top_k_aux, int(dead.sum())), dim=-1, sorted=False)
    codes = torch.zeros_like(pre).scatter(-1, aux_top.indices, aux_top.values)
    error = (residual - codes @ sae.W_dec).pow(2).sum(-1).mean()
    aux = error / (residual - residual.mean(0)).pow(2).sum(-1).mean()
    (torch.stack(losses).mean() + config.auxk_alpha * aux).backward()
    remove_parallel_gradient_(sae.W_dec.data, sae.W_dec.grad)
    torch.nn.utils.clip_grad_norm_(sae.parameters(), 1.0)
    state.optimizer.step()
    state.optimizer.zero_grad(set_to_none=True)
    state.scheduler.step()
    with torch.no_grad():
        sae.W_dec /= sae.W_dec.norm(dim=1, keepdim=True) + torch.finfo(sae.W_dec.dtype).eps


def _sgd_state(sae: MatryoshkaSae, config: TrainConfig) -> TrainState:
    """Plain SGD: Adam would blow float noise in near-zero gradients up to full-size steps."""
    state = new_state(sae, config)
    state.optimizer = torch.optim.SGD(sae.parameters(), lr=config.learning_rate)
    state.scheduler = torch.optim.lr_scheduler.LambdaLR(state.optimizer, config.lr_factor)
    return state


def test_sparse_step_equals_the_dense_step() -> None:
    """The fast step (no dense code, gradients on kept entries only) is the library's step."""
    config = TrainConfig(
        dict_size=4 * D_SAE,
        k=2,
        steps=10,
        lr=1e-2,
        warmup_steps=1,
        threshold_start_step=1,
        dead_feature_threshold=400,
        top_k_aux=8,
    )
    batches = synthetic_activations(1600).split(200)
    fast, dense = (_sgd_state(init_sae(D_IN, config, batches[0] / 20), config) for _ in "ab")
    auxiliary = []
    for batch in batches[:6]:
        x = batch / 20
        auxiliary.append(train_step(fast, x, config).auxk_loss)
        _dense_reference_step(dense.sae, x, config, dense)
        for name, parameter in fast.sae.named_parameters():
            assert_close(parameter, dict(dense.sae.named_parameters())[name], rtol=1e-4, atol=1e-5)
        assert torch.equal(fast.tokens_since_fired, dense.tokens_since_fired)
    assert max(auxiliary) > 0, "no feature died, so the auxiliary path went untested"


def test_batch_top_k_selection_is_exact() -> None:
    generator = torch.Generator().manual_seed(3)
    for shape, k in (((512, 256), 4), ((64, 1000), 30), ((300, 50), 2)):
        pre = torch.randn(*shape, generator=generator).relu() * torch.rand(
            shape[1], generator=generator
        )
        expected = pre.flatten().topk(k * shape[0]).indices.sort().values
        assert torch.equal(batch_top_k_indices(pre, k).sort().values, expected)
    few_positive = torch.zeros(100, 400)
    few_positive[0, :10] = 1.0
    assert batch_top_k_indices(few_positive, 2).numel() == 200
