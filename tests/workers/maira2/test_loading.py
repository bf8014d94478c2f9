"""Loading legacy-layout MAIRA-2 checkpoints into our 5.x classes; loud failure on mismatches."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from workers.maira2.loading import CheckpointKeyError, load_maira2_model, save_legacy_checkpoint
from workers.maira2.modeling import Maira2Config, Maira2ForConditionalGeneration


@pytest.fixture(scope="module")
def config(tiny_folder: Path) -> Maira2Config:
    return Maira2Config.from_pretrained(tiny_folder)


def _logits(model: Maira2ForConditionalGeneration, config: Maira2Config) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    text_ids = torch.randint(5, 400, (2, 7), generator=generator)
    image_ids = torch.full((2, config.image_seq_length), config.image_token_id)
    input_ids = torch.cat([text_ids[:, :3], image_ids, text_ids[:, 3:]], dim=1)
    pixels = torch.randn(2, 3, 56, 56, generator=generator)
    with torch.inference_mode():
        return model(input_ids=input_ids, pixel_values=pixels).logits


def test_legacy_checkpoint_round_trip(tmp_path: Path, config: Maira2Config) -> None:
    torch.manual_seed(7)
    original = Maira2ForConditionalGeneration(config).eval()
    save_legacy_checkpoint(original, tmp_path)
    names = set(load_file(tmp_path / "model.safetensors"))
    assert "language_model.model.layers.15.mlp.up_proj.weight" in names
    assert "language_model.lm_head.weight" in names
    assert "vision_tower.encoder.layer.1.attention.attention.query.weight" in names
    assert {f"multi_modal_projector.layers.{i}.weight" for i in (0, 2, 4, 6)} <= names
    assert not any(name.startswith("model.") for name in names)

    loaded = load_maira2_model(tmp_path)
    torch.testing.assert_close(_logits(loaded, config), _logits(original, config), rtol=0, atol=0)


def _edit_checkpoint(source: Path, target: Path, edit) -> None:
    shutil.copytree(source, target)
    tensors = load_file(target / "model.safetensors")
    edit(tensors)
    save_file(tensors, target / "model.safetensors", metadata={"format": "pt"})


def test_missing_key_is_named(tmp_path: Path, tiny_folder: Path) -> None:
    key = "language_model.model.layers.3.self_attn.q_proj.weight"
    _edit_checkpoint(tiny_folder, tmp_path / "m", lambda tensors: tensors.pop(key))
    with pytest.raises(
        CheckpointKeyError,
        match=r"missing.*model\.language_model\.layers\.3\.self_attn\.q_proj\.weight",
    ):
        load_maira2_model(tmp_path / "m")


def test_unexpected_key_is_named(tmp_path: Path, tiny_folder: Path) -> None:
    def add(tensors: dict[str, torch.Tensor]) -> None:
        tensors["language_model.model.extra_adapter.weight"] = torch.zeros(3)

    _edit_checkpoint(tiny_folder, tmp_path / "u", add)
    with pytest.raises(CheckpointKeyError, match=r"unexpected.*extra_adapter\.weight"):
        load_maira2_model(tmp_path / "u")


def test_misshaped_key_is_named(tmp_path: Path, tiny_folder: Path) -> None:
    key = "multi_modal_projector.layers.2.bias"

    def shrink(tensors: dict[str, torch.Tensor]) -> None:
        tensors[key] = tensors[key][:10].clone()

    _edit_checkpoint(tiny_folder, tmp_path / "s", shrink)
    with pytest.raises(
        (CheckpointKeyError, RuntimeError), match=r"multi_modal_projector\.layers\.2\.bias"
    ):
        load_maira2_model(tmp_path / "s")
