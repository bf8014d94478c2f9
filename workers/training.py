"""`maira-sae train`: train a Matryoshka BatchTopK SAE on a folder of saved activations."""

from __future__ import annotations

import argparse
import logging
import math
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import torch

from sae import save_sae
from sae.activation_shards import iter_activation_batches, read_meta
from sae.model import MatryoshkaSae
from sae.train import TrainConfig, estimate_norm_factor, library_config, train_sae

logger = logging.getLogger(__name__)

EVAL_TOKENS = 16384
SMALL_MODEL_WEIGHTS = 1 << 20
"""Below this many encoder weights, training runs on one thread: thread hand-offs would cost
more than the tiny matrix products gain (20x slower on a busy 2-core machine)."""


def default_steps(n_tokens: int, batch_size: int) -> int:
    """About ten passes over the data, at least 300 and at most 20,000 steps."""
    return max(300, min(20_000, math.ceil(10 * n_tokens / batch_size)))


def endless_batches(folder: Path, batch_size: int, seed: int) -> Iterator[torch.Tensor]:
    """Shuffled full batches, epoch after epoch (a new shuffle each epoch)."""
    epoch = 0
    while True:
        yield from iter_activation_batches(
            folder, batch_size, shuffle=True, seed=seed + epoch, drop_last=True
        )
        epoch += 1


def build_config(args: argparse.Namespace, meta: dict, d_in: int, batch_size: int) -> TrainConfig:
    """A TrainConfig scaled to the run's length (library defaults for long runs)."""
    steps = args.steps or default_steps(meta["n_tokens"], batch_size)
    layer = meta.get("layer")
    return TrainConfig(
        dict_size=args.expansion * d_in,
        k=args.k,
        steps=steps,
        lr=args.lr,
        warmup_steps=min(1000, steps // 10),
        threshold_start_step=min(1000, steps // 5),
        dead_feature_threshold=min(10_000_000, max(batch_size, steps * batch_size // 10)),
        seed=args.seed,
        layer=int(layer) if layer is not None else None,
        lm_name=str(meta.get("lm_name", "unknown")),
        submodule_name=meta.get("hookpoint"),
    )


@torch.no_grad()
def evaluate(sae: MatryoshkaSae, folder: Path) -> tuple[float, float, float]:
    """(FVU, mean L0, dead fraction) in threshold mode over the dataset's first tokens."""
    batches = []
    seen = 0
    for batch in iter_activation_batches(folder, 4096):
        batches.append(batch[: EVAL_TOKENS - seen])
        seen += batches[-1].shape[0]
        if seen >= EVAL_TOKENS:
            break
    x = torch.cat(batches)
    features = sae.encode(x)
    fvu = float((x - sae.decode(features)).pow(2).sum() / (x - x.mean(0)).pow(2).sum())
    active = features > 0
    return fvu, float(active.sum(1).float().mean()), float((~active.any(0)).float().mean())


def command(args: argparse.Namespace) -> int:
    """CLI target: train, save `ae.pt` + `config.json` under --out, print a summary."""
    folder: Path = args.activations
    try:
        meta = read_meta(folder)
        if meta["n_tokens"] < 2:
            raise ValueError(f"{folder} holds {meta['n_tokens']} tokens; training needs more")
        d_in = int(meta["d_in"])
        batch_size = min(args.batch_size, int(meta["n_tokens"]))
        config = build_config(args, meta, d_in, batch_size)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)  # noqa: T201
        return 2
    if d_in * config.dict_size <= SMALL_MODEL_WEIGHTS:
        torch.set_num_threads(1)
    norm_factor = estimate_norm_factor(iter_activation_batches(folder, batch_size))
    logger.info(
        "training %d x %d SAE, k=%d, %d steps of %d tokens (%d tokens on disk), norm factor %.4g",
        d_in,
        config.dict_size,
        config.k,
        config.steps,
        batch_size,
        meta["n_tokens"],
        norm_factor,
    )
    started = time.monotonic()
    log_every = max(1, config.steps // 10)

    def report(step: int, metrics) -> None:
        if step % log_every == 0 or step == config.steps - 1:
            logger.info(
                "step %d/%d loss %.4g fvu %.3f dead %.1f%% (%.1f s)",
                step + 1,
                config.steps,
                metrics.loss,
                metrics.fvu,
                100 * metrics.dead_fraction,
                time.monotonic() - started,
            )

    result = train_sae(
        endless_batches(folder, batch_size, args.seed), config, norm_factor, on_step=report
    )
    buffer = {
        "activations": str(folder),
        "n_tokens": meta["n_tokens"],
        "dtype": meta["dtype"],
        "out_batch_size": batch_size,
    }
    save_sae(result.sae, args.out, library_config(config, result.sae, norm_factor, buffer))
    fvu, l0, dead = evaluate(result.sae, folder)
    n_eval = min(EVAL_TOKENS, meta["n_tokens"])
    print(  # noqa: T201
        f"trained {args.out}: d_in={d_in} d_sae={config.dict_size} k={config.k} "
        f"steps={config.steps} in {time.monotonic() - started:.1f} s; on {n_eval} tokens: "
        f"FVU {fvu:.3f}, L0 {l0:.1f}, dead {100 * dead:.1f}%, "
        f"threshold {result.sae.threshold:.4g}"
    )
    return 0
