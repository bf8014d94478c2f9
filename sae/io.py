"""Read and write dictionary_learning Matryoshka BatchTopK checkpoints (`ae.pt` + `config.json`)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch

from sae.model import MatryoshkaSae

CHECKPOINT_NAME = "ae.pt"
CONFIG_NAME = "config.json"
EXPECTED_KEYS = ("W_enc", "b_enc", "W_dec", "b_dec", "k", "threshold", "group_sizes")


class SaeCheckpointError(ValueError):
    """The file is not a usable dictionary_learning Matryoshka BatchTopK checkpoint."""


def checkpoint_path(path: str | Path) -> Path:
    """`path` itself if it is a file, else `path/ae.pt`."""
    path = Path(path)
    return path / CHECKPOINT_NAME if path.is_dir() else path


def load_sae(
    path: str | Path,
    device: str | torch.device = "cpu",
    input_scale: float = 1.0,
    dtype: torch.dtype = torch.float32,
) -> MatryoshkaSae:
    """Load `ae.pt` (or a folder holding it and maybe `config.json`) into a `MatryoshkaSae`.

    Raises `SaeCheckpointError` naming the problem when the file is missing, unreadable, has the
    wrong keys or shapes, or was saved before its threshold was ever set.
    """
    file = checkpoint_path(path)
    if not file.is_file():
        raise SaeCheckpointError(f"{file}: no such checkpoint file")
    try:
        # mmap: the tensors are paged in from the file while copied into the module, so a
        # 32,768 x 4,096 checkpoint does not sit in memory twice.
        state = torch.load(file, map_location="cpu", weights_only=True, mmap=True)
    except Exception as error:
        # The unpickler raises almost anything on a damaged file (IndexError, KeyError, ...).
        raise SaeCheckpointError(
            f"{file}: not a readable torch checkpoint ({type(error).__name__}: {error})"
        ) from error
    sae = sae_from_state_dict(state, input_scale=input_scale, source=str(file))
    config_file = file.parent / CONFIG_NAME
    sae.config = read_config(config_file) if config_file.is_file() else None
    if sae.config is not None:
        check_config(sae, sae.config, str(config_file))
    return sae.to(device=device, dtype=dtype)


def sae_from_state_dict(
    state: Any, input_scale: float = 1.0, source: str = "checkpoint"
) -> MatryoshkaSae:
    """Validate a library state dict and build the module from it (on the CPU, in its dtype)."""
    if not isinstance(state, dict):
        raise SaeCheckpointError(f"{source}: expected a state dict, found {type(state).__name__}")
    missing = [key for key in EXPECTED_KEYS if key not in state]
    unexpected = sorted(str(key) for key in state if key not in EXPECTED_KEYS)
    if missing or unexpected:
        raise SaeCheckpointError(
            f"{source}: not a Matryoshka BatchTopK state dict"
            + (f"; missing keys {missing}" if missing else "")
            + (f"; unexpected keys {unexpected}" if unexpected else "")
        )
    for key in EXPECTED_KEYS:
        if not isinstance(state[key], torch.Tensor):
            raise SaeCheckpointError(
                f"{source}: {key} is a {type(state[key]).__name__}, not a tensor"
            )
    W_enc = state["W_enc"]
    if W_enc.dim() != 2:
        raise SaeCheckpointError(f"{source}: W_enc must be (d_in, d_sae), got {tuple(W_enc.shape)}")
    d_in, d_sae = W_enc.shape
    expected_shapes = {"b_enc": (d_sae,), "W_dec": (d_sae, d_in), "b_dec": (d_in,)}
    for key, shape in expected_shapes.items():
        if tuple(state[key].shape) != shape:
            raise SaeCheckpointError(
                f"{source}: {key} has shape {tuple(state[key].shape)}, expected {shape} "
                f"to match W_enc {tuple(W_enc.shape)} (d_in={d_in}, d_sae={d_sae})"
            )
    for key in ("W_enc", "b_enc", "W_dec", "b_dec"):
        if not state[key].is_floating_point():
            raise SaeCheckpointError(f"{source}: {key} has dtype {state[key].dtype}, not float")
        bad = int((~torch.isfinite(state[key])).sum())
        if bad:
            raise SaeCheckpointError(
                f"{source}: {key} holds {bad:,} NaN or infinite values; the checkpoint is "
                "damaged (or training diverged) and cannot be used"
            )
    k_tensor, threshold_tensor, group_tensor = state["k"], state["threshold"], state["group_sizes"]
    if k_tensor.numel() != 1 or k_tensor.is_floating_point():
        raise SaeCheckpointError(f"{source}: k must be an integer scalar, got {k_tensor!r}")
    k = int(k_tensor.item())
    if not 0 < k <= d_sae:
        raise SaeCheckpointError(f"{source}: k={k} is outside 1..d_sae={d_sae}")
    if threshold_tensor.numel() != 1:
        raise SaeCheckpointError(
            f"{source}: threshold must be a scalar, got shape {tuple(threshold_tensor.shape)}"
        )
    threshold = float(threshold_tensor.item())
    if not math.isfinite(threshold) or threshold <= 0:
        raise SaeCheckpointError(
            f"{source}: threshold={threshold:g} was never set. dictionary_learning starts it at -1 "
            "and sets it only after `threshold_start_step` training steps; with it the SAE would "
            "encode densely. Use a checkpoint saved later in training."
        )
    if group_tensor.dim() != 1 or group_tensor.is_floating_point() or group_tensor.numel() == 0:
        raise SaeCheckpointError(f"{source}: group_sizes must be a 1-D integer tensor")
    group_sizes = [int(size) for size in group_tensor.tolist()]
    if any(size <= 0 for size in group_sizes) or sum(group_sizes) != d_sae:
        raise SaeCheckpointError(
            f"{source}: group_sizes {group_sizes} must be positive and sum to d_sae={d_sae} "
            f"(they sum to {sum(group_sizes)})"
        )
    sae = MatryoshkaSae(d_in, d_sae, k, group_sizes, threshold=threshold, input_scale=input_scale)
    sae.to(W_enc.dtype)
    with torch.no_grad():
        for key in ("W_enc", "b_enc", "W_dec", "b_dec"):
            getattr(sae, key).copy_(state[key])
    return sae


def read_config(file: Path) -> dict[str, Any]:
    """Parse a library `config.json` ({"trainer": {...}, "buffer": {...}})."""
    try:
        config = json.loads(file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SaeCheckpointError(f"{file}: not valid JSON ({error})") from error
    if not isinstance(config, dict) or not isinstance(config.get("trainer", {}), dict):
        raise SaeCheckpointError(f'{file}: expected an object with a "trainer" object')
    return config


def check_config(sae: MatryoshkaSae, config: dict[str, Any], source: str) -> None:
    """Raise if the config's recorded sizes contradict the weights."""
    trainer = config.get("trainer", {})
    recorded = {"activation_dim": sae.d_in, "dict_size": sae.d_sae, "k": sae.k}
    for key, actual in recorded.items():
        if key in trainer and trainer[key] != actual:
            raise SaeCheckpointError(f"{source}: {key}={trainer[key]} but the weights say {actual}")


def state_dict_for_checkpoint(sae: MatryoshkaSae) -> dict[str, torch.Tensor]:
    """The library's exact state dict: fp32 weights, int32 `k`, fp32 `threshold`, int64 sizes."""
    state = {
        key: getattr(sae, key).detach().to("cpu", torch.float32).contiguous().clone()
        for key in ("W_enc", "b_enc", "W_dec", "b_dec")
    }
    state["k"] = torch.tensor(sae.k, dtype=torch.int32)
    state["threshold"] = torch.tensor(sae.threshold, dtype=torch.float32)
    state["group_sizes"] = torch.tensor(sae.group_sizes, dtype=torch.int64)
    return state


def save_sae(sae: MatryoshkaSae, folder: str | Path, config: dict[str, Any] | None = None) -> Path:
    """Write `folder/ae.pt` (plus `config.json` when `config` is given); return ae.pt's path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    file = folder / CHECKPOINT_NAME
    torch.save(state_dict_for_checkpoint(sae), file)
    if config is not None:
        (folder / CONFIG_NAME).write_text(json.dumps(config, indent=4) + "\n")
    return file
