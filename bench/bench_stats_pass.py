"""Benchmark: one-pass feature statistics (encode + update) against the bare encoder matmul.

Also times SAEDashboard's approach (re-encode every token for each 128-feature batch) on a few
feature batches and extrapolates to all of them. Random SAE with its threshold calibrated so the
mean L0 is about k; random Gaussian inputs; everything on the CPU.

    .venv/bin/python bench/bench_stats_pass.py [--tokens 12288 --batch 1024 --threads 2]
"""

from __future__ import annotations

import argparse
import time

import torch

from sae.model import MatryoshkaSae
from sae.stats import FeatureStatistics


def random_sae(d_in: int, d_sae: int, k: int, calibration: torch.Tensor) -> MatryoshkaSae:
    """A random SAE whose threshold gives mean L0 ≈ k on `calibration` inputs."""
    generator = torch.Generator().manual_seed(0)
    sae = MatryoshkaSae(d_in, d_sae, k, [d_sae])
    with torch.no_grad():
        sae.W_dec.copy_(
            torch.nn.functional.normalize(torch.randn(d_sae, d_in, generator=generator))
        )
        sae.W_enc.copy_(sae.W_dec.T)
        pre = sae.pre_activations(calibration).flatten()
        sae.threshold = float(pre.topk(k * calibration.shape[0]).values[-1])
    return sae


def timed(function) -> tuple[float, object]:
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--d-in", type=int, default=4096)
    parser.add_argument("--d-sae", type=int, default=16384)
    parser.add_argument("--k", type=int, default=256)
    parser.add_argument("--tokens", type=int, default=12288)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--feature-batch", type=int, default=128)
    parser.add_argument("--feature-batches-timed", type=int, default=2)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    x = torch.randn(args.tokens, args.d_in)
    sae = random_sae(args.d_in, args.d_sae, args.k, x[: args.batch])
    stats = FeatureStatistics(args.d_sae)
    token_ids = torch.arange(args.tokens, dtype=torch.int64)
    matmul_s = encode_s = pass_s = update_s = 0.0
    first_update_s = []
    with torch.no_grad():
        sae.encode(x[:64])  # warm up the kernels
        for start in range(0, args.tokens, args.batch):
            batch, ids = x[start : start + args.batch], token_ids[start : start + args.batch]
            matmul_s += timed(lambda batch=batch: batch @ sae.W_enc)[0]
            encode_s += timed(lambda batch=batch: sae.encode(batch))[0]
            encode_time, acts = timed(lambda batch=batch: sae.encode(batch))
            update_time = timed(lambda acts=acts, ids=ids: stats.update(acts, ids))[0]
            pass_s += encode_time + update_time
            update_s += update_time
            first_update_s.append(update_time)
        compute_s = timed(stats.compute)[0]
        pass_s += compute_s

        # SAEDashboard-style: every feature batch re-encodes all tokens and keeps its slice.
        n_feature_batches = -(-args.d_sae // args.feature_batch)
        sample_tokens = min(args.tokens, 2 * args.batch)
        per_feature_batch_s = 0.0
        for index in range(args.feature_batches_timed):
            lo = index * args.feature_batch
            for start in range(0, sample_tokens, args.batch):
                batch = x[start : start + args.batch]

                def one(batch=batch, lo=lo):
                    acts = sae.encode(batch)[:, lo : lo + args.feature_batch]
                    return acts.topk(min(64, acts.shape[0]), dim=0), (acts > 0).sum(0), acts.amax(0)

                per_feature_batch_s += timed(one)[0]
        per_token_feature_batch_s = per_feature_batch_s / (
            args.feature_batches_timed * sample_tokens
        )
        dashboard_tokens_per_s = 1 / (per_token_feature_batch_s * n_feature_batches)

    result = stats.compute()
    tokens = args.tokens
    print(
        f"d_in={args.d_in} d_sae={args.d_sae} k={args.k} tokens={tokens} batch={args.batch} "
        f"threads={torch.get_num_threads()} mean L0={float(result.count.sum()) / tokens:.1f}"
    )
    print(f"bare matmul x @ W_enc : {tokens / matmul_s:9.1f} tokens/s")
    print(f"encode (threshold)    : {tokens / encode_s:9.1f} tokens/s")
    print(
        f"encode + stats update : {tokens / pass_s:9.1f} tokens/s "
        f"(update {1000 * update_s / len(first_update_s):.1f} ms/batch, per batch "
        f"{', '.join(f'{1000 * t:.0f}' for t in first_update_s)} ms; compute {compute_s:.2f} s)"
    )
    print(
        f"ratio stats pass / bare matmul = {matmul_s / pass_s:.3f} "
        f"({matmul_s / (pass_s - compute_s):.3f} leaving out the one-off final compute)"
    )
    print(
        f"per-feature-batch (SAEDashboard-style, {args.feature_batch} features/batch, "
        f"{n_feature_batches} batches; timed {args.feature_batches_timed} on {sample_tokens} "
        f"tokens and extrapolated): {dashboard_tokens_per_s:.2f} tokens/s -> one pass is "
        f"{tokens / pass_s / dashboard_tokens_per_s:.0f}x faster"
    )


if __name__ == "__main__":
    main()
