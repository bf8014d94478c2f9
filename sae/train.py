"""Matryoshka BatchTopK training in plain torch, following dictionary_learning's trainer.

Same recipe as saprmarks/dictionary_learning `MatryoshkaBatchTopKTrainer`: BatchTopK codes, a
reconstruction loss over nested feature prefixes, an auxiliary-k loss on dead features, a threshold
tracked as an EMA of the smallest kept activation, unit-norm decoder rows with the parallel gradient
removed, geometric-median `b_dec`, `W_enc = W_decᵀ` at init, Adam with linear warm-up and optional
linear decay. Inputs may be divided by a norm factor during training; it is folded into the biases
and threshold at the end, so the returned SAE takes raw activations.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch

from sae.model import MatryoshkaSae, batch_top_k_indices

DEFAULT_GROUP_FRACTIONS = (1 / 2, 1 / 4, 1 / 8, 1 / 16, 1 / 16)


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one training run (defaults are dictionary_learning's)."""

    dict_size: int
    """Number of features F (expansion factor × d_in)."""
    k: int = 256
    """Mean active features per token kept by BatchTopK (k · batch over the whole batch)."""
    steps: int = 10_000
    """Optimizer steps."""
    lr: float | None = None
    """Adam learning rate; None picks the library's 2e-4 / sqrt(F / 2**14)."""
    group_fractions: tuple[float, ...] = DEFAULT_GROUP_FRACTIONS
    """Matryoshka group sizes as fractions of F (sizes int(f·F), the last takes the remainder)."""
    group_weights: tuple[float, ...] | None = None
    """Weight of each nested prefix's reconstruction loss; None means equal weights."""
    auxk_alpha: float = 1 / 32
    """Weight of the auxiliary-k loss that revives dead features."""
    warmup_steps: int = 1000
    """Linear learning-rate warm-up from 0."""
    decay_start: int | None = None
    """Step where the learning rate starts to decay linearly to 0; None keeps it constant."""
    threshold_beta: float = 0.999
    """EMA decay of the inference threshold."""
    threshold_start_step: int = 1000
    """The threshold is tracked only after this step (it stays -1 until then)."""
    dead_feature_threshold: int = 10_000_000
    """A feature that has not fired for this many tokens counts as dead."""
    top_k_aux: int | None = None
    """Dead features used by the auxiliary loss per token; None means d_in // 2."""
    seed: int = 0
    """Seed for initialisation."""
    layer: int | None = None
    """Recorded in config.json: the model layer the activations came from."""
    lm_name: str = "unknown"
    """Recorded in config.json: the model the activations came from."""
    submodule_name: str | None = None
    """Recorded in config.json: the hooked module."""

    def __post_init__(self) -> None:
        if self.dict_size <= 0 or not 0 < self.k <= self.dict_size:
            raise ValueError(
                f"need dict_size > 0 and 0 < k <= dict_size, got {self.dict_size}, {self.k}"
            )
        if self.steps <= 0 or not 0 <= self.warmup_steps < self.steps:
            raise ValueError(f"need 0 <= warmup_steps ({self.warmup_steps}) < steps ({self.steps})")
        if self.decay_start is not None and not self.warmup_steps < self.decay_start < self.steps:
            raise ValueError("decay_start must lie between warmup_steps and steps")
        if not 0 <= self.threshold_start_step < self.steps - 1:
            raise ValueError(
                f"threshold_start_step ({self.threshold_start_step}) must be below steps - 1 "
                f"({self.steps - 1}), or the saved threshold would never be set"
            )
        if not math.isclose(sum(self.group_fractions), 1.0):
            raise ValueError(f"group fractions {self.group_fractions} must sum to 1")
        if any(size <= 0 for size in self.group_sizes):
            raise ValueError(f"dict_size {self.dict_size} is too small for {self.group_fractions}")
        if self.group_weights is not None and len(self.group_weights) != len(self.group_fractions):
            raise ValueError("group_weights and group_fractions must have the same length")
        if self.lr is not None and self.lr <= 0:
            raise ValueError("lr must be positive")
        if not 0 <= self.threshold_beta < 1 or self.auxk_alpha < 0:
            raise ValueError("need 0 <= threshold_beta < 1 and auxk_alpha >= 0")

    @property
    def group_sizes(self) -> list[int]:
        sizes = [int(fraction * self.dict_size) for fraction in self.group_fractions[:-1]]
        return [*sizes, self.dict_size - sum(sizes)]

    @property
    def weights(self) -> list[float]:
        count = len(self.group_fractions)
        return list(self.group_weights) if self.group_weights else [1.0 / count] * count

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else 2e-4 / math.sqrt(self.dict_size / 2**14)

    def lr_factor(self, step: int) -> float:
        """Multiplier of the learning rate at `step`: linear warm-up, then 1, then linear decay."""
        if step < self.warmup_steps:
            return step / self.warmup_steps
        if self.decay_start is not None and step >= self.decay_start:
            return (self.steps - step) / (self.steps - self.decay_start)
        return 1.0


class StepMetrics(NamedTuple):
    """What one training step measured (on the normalised batch)."""

    loss: float
    """Total loss: mean weighted prefix reconstruction loss + auxk_alpha · auxiliary loss."""
    auxk_loss: float
    """Normalised auxiliary-k loss (0 while no feature is dead)."""
    fvu: float
    """Fraction of variance unexplained by the full BatchTopK reconstruction."""
    l0: float
    """Mean active features per token in the BatchTopK code."""
    dead_fraction: float
    """Share of features that have not fired for `dead_feature_threshold` tokens."""


@dataclass
class TrainState:
    """Everything that changes during training."""

    sae: MatryoshkaSae
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    tokens_since_fired: torch.Tensor
    step: int = 0
    pre: torch.Tensor | None = None
    """Buffer for the dense pre-activations, reused by every step (no 64 MB allocation each)."""
    history: list[StepMetrics] = field(default_factory=list)


class TrainResult(NamedTuple):
    sae: MatryoshkaSae
    """The trained SAE, taking raw (un-normalised) activations."""
    norm_factor: float
    """The factor the inputs were divided by during training (folded into the SAE)."""
    metrics: StepMetrics
    """Metrics of the last step."""


@torch.no_grad()
def geometric_median(points: torch.Tensor, max_iter: int = 100, tol: float = 1e-5) -> torch.Tensor:
    """(N, d) -> (d,) geometric median by Weiszfeld iterations, starting from the mean."""
    guess = points.mean(dim=0)
    for _ in range(max_iter):
        previous = guess
        weights = 1 / torch.norm(points - guess, dim=1).clamp_min(torch.finfo(points.dtype).tiny)
        guess = (weights / weights.sum()) @ points
        if torch.norm(guess - previous) < tol:
            break
    return guess


@torch.no_grad()
def estimate_norm_factor(batches: Iterable[torch.Tensor], max_batches: int = 100) -> float:
    """sqrt(mean squared L2 norm) of the activations, averaged over up to `max_batches` batches."""
    total, count = 0.0, 0
    for index, batch in enumerate(batches):
        if index >= max_batches:
            break
        total += float(batch.float().pow(2).sum(dim=1).mean())
        count += 1
    if count == 0:
        raise ValueError("no activations to estimate the norm factor from")
    return math.sqrt(total / count)


@torch.no_grad()
def normalise_decoder_(W_dec: torch.Tensor) -> None:
    """Scale each row of W_dec (d_sae, d_in) to unit norm, in place."""
    W_dec /= W_dec.norm(dim=1, keepdim=True) + torch.finfo(W_dec.dtype).eps


@torch.no_grad()
def remove_parallel_gradient_(W_dec: torch.Tensor, grad: torch.Tensor) -> None:
    """Remove from grad (d_sae, d_in) its component along each decoder row, in place."""
    unit = W_dec / (W_dec.norm(dim=1, keepdim=True) + 1e-6)
    grad -= (grad * unit).sum(dim=1, keepdim=True) * unit


def init_sae(d_in: int, config: TrainConfig, first_batch: torch.Tensor) -> MatryoshkaSae:
    """Kaiming-uniform unit decoder rows, W_enc = W_decᵀ, b_dec = geometric median of the batch."""
    generator = torch.Generator(device="cpu").manual_seed(config.seed)
    sae = MatryoshkaSae(d_in, config.dict_size, config.k, config.group_sizes)
    bound = math.sqrt(6 / d_in)  # kaiming_uniform_ with a=0 on a (dict_size, d_in) tensor
    with torch.no_grad():
        W_dec = (torch.rand(config.dict_size, d_in, generator=generator) * 2 - 1) * bound
        normalise_decoder_(W_dec)
        sae.W_dec.copy_(W_dec)
        sae.W_enc.copy_(W_dec.T)
        sae.b_dec.copy_(geometric_median(first_batch.float().cpu()))
    return sae


def new_state(sae: MatryoshkaSae, config: TrainConfig) -> TrainState:
    optimizer = torch.optim.Adam(sae.parameters(), lr=config.learning_rate, betas=(0.9, 0.999))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda=config.lr_factor)
    tokens_since_fired = torch.zeros(config.dict_size, dtype=torch.int64, device=sae.W_dec.device)
    return TrainState(sae, optimizer, scheduler, tokens_since_fired)


class Codes(NamedTuple):
    """The non-zero candidates of a sparse code: token row, feature and activation of each entry."""

    rows: torch.Tensor
    features: torch.Tensor
    values: torch.Tensor


def sparse_matrix(
    major: torch.Tensor, minor: torch.Tensor, values: torch.Tensor, shape: tuple[int, int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """(CSR matrix with entry (major[i], minor[i]) = values[i], the order that sorts the entries).

    Entries must be distinct; they are sorted by row, then column, as CSR kernels expect.
    """
    order = torch.argsort(major * shape[1] + minor)
    crow = torch.zeros(shape[0] + 1, dtype=torch.int64, device=major.device)
    crow[1:] = torch.bincount(major, minlength=shape[0]).cumsum(0)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Sparse CSR tensor support is in beta")
        matrix = torch.sparse_csr_tensor(
            crow, minor[order], values[order], shape, check_invariants=False
        )
    return matrix, order


class _KeptActivations(torch.autograd.Function):
    """Kept entries of the no-grad pre-activations, given the gradient the dense encoder gives them.

    For `pre = relu((x - b_dec) @ W_enc + b_enc)` and a gradient g on the kept entries only:
    `dW_enc = (x - b_dec)ᵀ g` (a sparse product), `db_enc[j] = sum_i g_ij`,
    `db_dec = -W_enc @ db_enc`, where g is masked by the ReLU (zero where the kept value is 0).
    """

    @staticmethod
    def forward(ctx, W_enc, b_enc, b_dec, x, values, rows, features):
        ctx.save_for_backward(W_enc, b_dec, x, rows, features, values)
        return values.clone()

    @staticmethod
    def backward(ctx, grad):
        W_enc, b_dec, x, rows, features, values = ctx.saved_tensors
        grad = grad * (values > 0)
        d_sae = W_enc.shape[1]
        grad_b_enc = grad.new_zeros(d_sae).index_add_(0, features, grad)
        by_feature, _ = sparse_matrix(features, rows, grad, (d_sae, x.shape[0]))
        grad_W_enc = (by_feature @ (x - b_dec)).T
        grad_b_dec = -(W_enc @ grad_b_enc)
        return grad_W_enc, grad_b_enc, grad_b_dec, None, None, None, None


def kept_activations(
    sae: MatryoshkaSae,
    x: torch.Tensor,
    values: torch.Tensor,
    rows: torch.Tensor,
    features: torch.Tensor,
) -> torch.Tensor:
    """`values` = `pre[rows, features]`, read from the dense no-grad pre-activations, with the
    gradient autograd would give the dense `relu((x - b_dec) @ W_enc + b_enc)` at those entries
    (BatchTopK passes none to any other entry)."""
    return _KeptActivations.apply(sae.W_enc, sae.b_enc, sae.b_dec, x, values, rows, features)


class _SparseDecode(torch.autograd.Function):
    """(n_out, d_in) = S @ W_dec for the sparse S with S[out_rows[i], features[i]] = values[i].

    Backward: `dvalues[i] = <dout[out_rows[i]], W_dec[features[i]]>` (a sampled product) and
    `dW_dec = Sᵀ dout`; nothing of size (n_out, d_sae) or (entries, d_in) is ever materialised.
    """

    @staticmethod
    def forward(ctx, values, W_dec, out_rows, features, n_out):
        by_row, order = sparse_matrix(out_rows, features, values, (n_out, W_dec.shape[0]))
        ctx.save_for_backward(W_dec, out_rows, features, values, order)
        ctx.n_out = n_out
        return by_row @ W_dec

    @staticmethod
    def backward(ctx, grad):
        W_dec, out_rows, features, values, order = ctx.saved_tensors
        grad = grad.contiguous()
        grad_values = grad_W_dec = None
        if ctx.needs_input_grad[0]:
            pattern, _ = sparse_matrix(
                out_rows, features, torch.zeros_like(values), (ctx.n_out, W_dec.shape[0])
            )
            sampled = torch.sparse.sampled_addmm(pattern, grad, W_dec.T, beta=0.0).values()
            grad_values = torch.empty_like(values)
            grad_values[order] = sampled
        if ctx.needs_input_grad[1]:
            by_feature, _ = sparse_matrix(features, out_rows, values, (W_dec.shape[0], ctx.n_out))
            grad_W_dec = by_feature @ grad
        return grad_values, grad_W_dec, None, None, None


def sparse_decode(
    codes: Codes, W_dec: torch.Tensor, out_rows: torch.Tensor, n_out: int
) -> torch.Tensor:
    """(n_out, d_in): row r sums `value · W_dec[feature]` over the entries with `out_rows` r."""
    return _SparseDecode.apply(codes.values, W_dec, out_rows, codes.features, n_out)


def prefix_losses(
    x: torch.Tensor, codes: Codes, sae: MatryoshkaSae, weights: list[float]
) -> tuple[torch.Tensor, torch.Tensor]:
    """x (N, d_in) and a sparse code -> (weighted squared error per nested prefix (G,), x_hat).

    Prefix g reconstructs x from groups 0..g only; x_hat is the full reconstruction. Each entry's
    decoder contribution is added into its group's partial sum, and the prefixes are cumulative
    sums of those: `sum(f[:, :end] @ W_dec[:end])` without the zeros of the dense code.
    """
    n_groups, (n_tokens, d_in) = len(sae.group_sizes), x.shape
    ends = torch.tensor(sae.group_sizes, device=x.device).cumsum(0)
    group = torch.bucketize(codes.features, ends, right=True)
    partial = sparse_decode(codes, sae.W_dec, group * n_tokens + codes.rows, n_groups * n_tokens)
    x_hats = sae.b_dec + partial.view(n_groups, n_tokens, d_in).cumsum(0)
    per_prefix = (x - x_hats).pow(2).sum(dim=-1).mean(dim=-1)
    return per_prefix * torch.tensor(weights, device=x.device), x_hats[-1]


def auxiliary_loss(
    sae: MatryoshkaSae,
    x: torch.Tensor,
    pre: torch.Tensor,
    residual: torch.Tensor,
    dead: torch.Tensor,
    top_k: int,
) -> torch.Tensor:
    """Reconstruct the residual (N, d_in) from each token's top dead-feature pre-activations.

    `pre` (N, d_sae) are the no-grad pre-activations of x. Normalised by the residual's variance
    (OpenAI's formulation); 0 when nothing is dead.
    """
    dead_features = dead.nonzero().squeeze(1)
    if dead_features.numel() == 0:
        return residual.new_zeros(())
    top = pre.index_select(1, dead_features).topk(
        min(top_k, dead_features.numel()), dim=-1, sorted=False
    )
    rows = torch.arange(x.shape[0], device=x.device).repeat_interleave(top.indices.shape[1])
    features = dead_features[top.indices.flatten()]
    values = kept_activations(sae, x, top.values.flatten(), rows, features)
    codes = Codes(rows, features, values)
    reconstruction = sparse_decode(codes, sae.W_dec, rows, x.shape[0])
    error = (residual - reconstruction).pow(2).sum(dim=-1).mean()
    variance = (residual - residual.mean(dim=0)).pow(2).sum(dim=-1).mean()
    return (error / variance).nan_to_num(0.0)


@torch.no_grad()
def updated_threshold(threshold: float, values: torch.Tensor, beta: float) -> float:
    """EMA of the smallest positive kept activation; the first update replaces the -1 start."""
    active = values[values > 0]
    smallest = float(active.min()) if active.numel() else 0.0
    return smallest if threshold < 0 else beta * threshold + (1 - beta) * smallest


def batch_top_k_codes(sae: MatryoshkaSae, x: torch.Tensor, pre: torch.Tensor) -> Codes:
    """The BatchTopK code of x as its `k * N` kept entries, values carrying their gradient."""
    flat_indices = batch_top_k_indices(pre, sae.k)
    rows, features = flat_indices // sae.d_sae, flat_indices % sae.d_sae
    values = pre.view(-1).index_select(0, flat_indices)
    return Codes(rows, features, kept_activations(sae, x, values, rows, features))


def train_step(state: TrainState, x: torch.Tensor, config: TrainConfig) -> StepMetrics:
    """One optimizer step on a normalised batch x (N, d_in).

    The dense (N, d_sae) pre-activations are computed once without autograd into a buffer reused
    across steps; everything that needs a gradient touches only the `k * N` kept entries (and the
    auxiliary loss's dead-feature entries) through sparse (CSR) products, so the step costs one
    dense matrix product instead of five and allocates no dense code, mask or gradient of that size.
    """
    sae = state.sae
    with torch.no_grad():
        if state.pre is None or state.pre.shape != (x.shape[0], sae.d_sae):
            state.pre = x.new_empty(x.shape[0], sae.d_sae)
        pre = torch.addmm(sae.b_enc, x - sae.b_dec, sae.W_enc, out=state.pre).relu_()
    codes = batch_top_k_codes(sae, x, pre)
    if state.step > config.threshold_start_step:
        sae.threshold = updated_threshold(sae.threshold, codes.values, config.threshold_beta)
    losses, x_hat = prefix_losses(x, codes, sae, config.weights)
    active = codes.values.detach() > 0
    state.tokens_since_fired += x.shape[0]
    state.tokens_since_fired[codes.features[active]] = 0
    dead = state.tokens_since_fired >= config.dead_feature_threshold
    top_k_aux = config.top_k_aux or sae.d_in // 2
    aux = auxiliary_loss(sae, x, pre, (x - x_hat).detach(), dead, top_k_aux)
    loss = losses.sum() / len(losses) + config.auxk_alpha * aux
    loss.backward()
    remove_parallel_gradient_(sae.W_dec.data, sae.W_dec.grad)
    torch.nn.utils.clip_grad_norm_(sae.parameters(), 1.0)
    state.optimizer.step()
    state.optimizer.zero_grad(set_to_none=True)
    state.scheduler.step()
    normalise_decoder_(sae.W_dec.data)
    state.step += 1
    with torch.no_grad():
        fvu = (x - x_hat).pow(2).sum() / (x - x.mean(dim=0)).pow(2).sum()
    metrics = StepMetrics(
        float(loss.detach()),
        float(aux.detach()),
        float(fvu),
        float(active.sum()) / x.shape[0],
        float(dead.float().mean()),
    )
    state.history.append(metrics)
    return metrics


def train_sae(
    batches: Iterable[torch.Tensor],
    config: TrainConfig,
    norm_factor: float = 1.0,
    device: str | torch.device = "cpu",
    on_step: Callable[[int, StepMetrics], None] | None = None,
) -> TrainResult:
    """Train on `config.steps` batches (N, d_in) of raw activations divided by `norm_factor`.

    `batches` must yield at least `config.steps` batches; `on_step(step, metrics)` is called
    after every step. The returned SAE has the norm factor folded in (it takes raw inputs).
    """
    torch.manual_seed(config.seed)
    iterator = iter(batches)
    state: TrainState | None = None
    metrics: StepMetrics | None = None
    for step in range(config.steps):
        try:
            batch = next(iterator)
        except StopIteration:
            raise ValueError(f"batches ran out after {step} of {config.steps} steps") from None
        x = batch.to(device, torch.float32) / norm_factor
        if state is None:
            state = new_state(init_sae(x.shape[1], config, x).to(device), config)
        metrics = train_step(state, x, config)
        if on_step is not None:
            on_step(step, metrics)
    assert state is not None and metrics is not None
    state.sae.scale_biases(norm_factor)
    return TrainResult(state.sae, norm_factor, metrics)


def library_config(
    config: TrainConfig,
    sae: MatryoshkaSae,
    norm_factor: float,
    buffer: dict[str, Any] | None = None,
    device: str = "cpu",
) -> dict[str, Any]:
    """config.json in dictionary_learning's shape, plus the norm factor the library forgets."""
    trainer = {
        "trainer_class": "MatryoshkaBatchTopKTrainer",
        "dict_class": "MatryoshkaBatchTopKSAE",
        "lr": config.learning_rate,
        "steps": config.steps,
        "auxk_alpha": config.auxk_alpha,
        "warmup_steps": config.warmup_steps,
        "decay_start": config.decay_start,
        "threshold_beta": config.threshold_beta,
        "threshold_start_step": config.threshold_start_step,
        "top_k_aux": config.top_k_aux or sae.d_in // 2,
        "seed": config.seed,
        "activation_dim": sae.d_in,
        "dict_size": sae.d_sae,
        "group_fractions": list(config.group_fractions),
        "group_weights": config.weights,
        "group_sizes": sae.group_sizes,
        "k": sae.k,
        "device": device,
        "layer": config.layer,
        "lm_name": config.lm_name,
        "wandb_name": "MatryoshkaBatchTopKSAE",
        "submodule_name": config.submodule_name,
        "norm_factor": norm_factor,
        "dead_feature_threshold": config.dead_feature_threshold,
    }
    return {"trainer": trainer, "buffer": dict(buffer or {})}
