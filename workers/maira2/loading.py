"""Load MAIRA-2 weights into our 5.x classes with an explicit key mapping; fail loudly on mismatch.

The released checkpoint uses the pre-4.52 LLaVA layout (`language_model.model.*`,
`language_model.lm_head.*`, `vision_tower.*`, `multi_modal_projector.*`). Without the mapping every
language-model tensor would be silently missing and randomly initialised, so `load_maira2_model`
asks `from_pretrained` for its loading report and raises `CheckpointKeyError` naming each missing,
unexpected or mis-shaped key.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import torch
from safetensors.torch import save_file

from workers.maira2.modeling import Maira2Config, Maira2ForConditionalGeneration

logger = logging.getLogger(__name__)

LEGACY_KEY_MAPPING: dict[str, str] = {
    r"^language_model\.model\.": "model.language_model.",
    r"^language_model\.lm_head\.": "lm_head.",
    r"^vision_tower\.": "model.vision_tower.",
    r"^multi_modal_projector\.": "model.multi_modal_projector.",
}
"""Checkpoint name pattern -> our parameter prefix. Keys already in our layout pass unchanged."""

_TO_LEGACY: tuple[tuple[str, str], ...] = (
    (r"^model\.language_model\.", "language_model.model."),
    (r"^lm_head\.", "language_model.lm_head."),
    (r"^model\.vision_tower\.", "vision_tower."),
    (r"^model\.multi_modal_projector\.", "multi_modal_projector."),
)
_DINOV2_TO_LEGACY: tuple[tuple[str, str], ...] = (
    (r"\.attention\.q_proj\.", ".attention.attention.query."),
    (r"\.attention\.k_proj\.", ".attention.attention.key."),
    (r"\.attention\.v_proj\.", ".attention.attention.value."),
    (r"\.attention\.o_proj\.", ".attention.output.dense."),
)
"""transformers 5.x renamed Dinov2's attention parameters; the checkpoint has the 4.x names, which
`from_pretrained` converts back through its built-in Dinov2 conversion mapping."""


class CheckpointKeyError(RuntimeError):
    """The checkpoint's tensors do not match the model: lists every offending key."""


def legacy_state_dict(model: Maira2ForConditionalGeneration) -> dict[str, torch.Tensor]:
    """The model's weights under the released checkpoint's (pre-4.52) names, contiguous copies."""
    renamed: dict[str, torch.Tensor] = {}
    for name, tensor in model.state_dict().items():
        for pattern, replacement in _TO_LEGACY:
            if re.match(pattern, name):
                name = re.sub(pattern, replacement, name, count=1)
                break
        else:
            raise ValueError(f"no legacy name for parameter {name}")
        if name.startswith("vision_tower."):
            for pattern, replacement in _DINOV2_TO_LEGACY:
                name = re.sub(pattern, replacement, name)
        renamed[name] = tensor.detach().to("cpu").contiguous().clone()
    return renamed


def save_legacy_checkpoint(model: Maira2ForConditionalGeneration, folder: Path) -> Path:
    """Write `config.json` and `model.safetensors` in the released MAIRA-2 layout."""
    folder.mkdir(parents=True, exist_ok=True)
    model.config.save_pretrained(folder)
    weights = folder / "model.safetensors"
    save_file(legacy_state_dict(model), weights, metadata={"format": "pt"})
    return weights


def load_maira2_model(
    folder: Path, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32
) -> Maira2ForConditionalGeneration:
    """Build the model from `folder/config.json` and load its weights; raise on any key mismatch.

    Weights load on the CPU first (no `accelerate` dependency), then move to `device`.
    """
    config = Maira2Config.from_pretrained(folder)
    model, info = Maira2ForConditionalGeneration.from_pretrained(
        folder,
        config=config,
        key_mapping=LEGACY_KEY_MAPPING,
        dtype=dtype,
        output_loading_info=True,
        ignore_mismatched_sizes=True,
    )
    problems = [
        *(f"missing from the checkpoint: {key}" for key in sorted(info["missing_keys"])),
        *(f"unexpected in the checkpoint: {key}" for key in sorted(info["unexpected_keys"])),
        *(f"shape mismatch: {entry}" for entry in info.get("mismatched_keys", [])),
        *(f"load error: {message}" for message in info.get("error_msgs", [])),
    ]
    if problems:
        raise CheckpointKeyError(
            f"{folder} does not match the MAIRA-2 architecture ({len(problems)} problems):\n  "
            + "\n  ".join(problems)
        )
    model.to(device).eval()
    logger.info("loaded MAIRA-2 from %s (%s, %s)", folder, device, dtype)
    return model
