"""The offline tiny MAIRA-2: fast, cached, deterministic, and shaped like the real checkpoint."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np
from PIL import Image
from transformers import AutoTokenizer

from workers.maira2.modeling import Maira2Config, image_feature_count
from workers.maira2.runner import Maira2Runner, Study
from workers.maira2.tiny import SYSTEM_PROMPT, build_tiny_model, ensure_tiny_model


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_build_is_fast_and_deterministic(tmp_path: Path) -> None:
    started = time.perf_counter()
    first = build_tiny_model(tmp_path / "a", seed=0)
    elapsed = time.perf_counter() - started
    second = build_tiny_model(tmp_path / "b", seed=0)
    assert elapsed < 2.0
    for name in ("model.safetensors", "tokenizer.json", "config.json", "preprocessor_config.json"):
        assert _digest(first / name) == _digest(second / name), name
    other = build_tiny_model(tmp_path / "c", seed=1)
    assert _digest(other / "model.safetensors") != _digest(first / "model.safetensors")


def test_ensure_builds_once(tmp_path: Path) -> None:
    folder = ensure_tiny_model(tmp_path / "tiny")
    weights = folder / "model.safetensors"
    stamp = weights.stat().st_mtime_ns
    assert ensure_tiny_model(tmp_path / "tiny") == folder
    assert weights.stat().st_mtime_ns == stamp
    assert not [path for path in tmp_path.iterdir() if path.name != "tiny"]


def test_an_older_layout_is_rebuilt(tmp_path: Path) -> None:
    folder = ensure_tiny_model(tmp_path / "tiny")
    (folder / "tiny-model.json").write_text(json.dumps({"seed": 0}) + "\n")
    (folder / "tokenizer.json").write_text("{}")
    assert ensure_tiny_model(tmp_path / "tiny") == folder
    assert len(AutoTokenizer.from_pretrained(folder, config=Maira2Config())) == 32_207


def test_raw_config_is_maira2_shaped(tiny_folder: Path) -> None:
    raw = json.loads((tiny_folder / "config.json").read_text())
    assert raw["model_type"] == "maira2"
    assert raw["projector_n_layers"] == 4
    config = Maira2Config.from_pretrained(tiny_folder)
    assert config.text_config.num_hidden_layers > 16
    assert config.text_config.rope_parameters["rope_type"] == "linear"
    assert config.text_config.rope_parameters["factor"] == 1.5
    assert config.vision_config.model_type == "dinov2"
    assert config.image_seq_length == 16


def test_tokenizer_has_the_released_layout(tiny_folder: Path) -> None:
    """Class, whitespace handling and special ids of microsoft/maira-2's tokenizer."""
    tokenizer = AutoTokenizer.from_pretrained(tiny_folder, config=Maira2Config())
    backend = json.loads(tokenizer.backend_tokenizer.to_str())
    assert type(tokenizer).__name__ == "LlamaTokenizer" and tokenizer.padding_side == "left"
    assert backend["normalizer"] is None
    assert backend["pre_tokenizer"] == {
        "type": "Metaspace",
        "replacement": "\u2581",
        "prepend_scheme": "first",
        "split": False,
    }
    assert backend["model"]["byte_fallback"] is True
    assert len(tokenizer) == 32_207
    assert (tokenizer.unk_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id) == (0, 1, 2)
    assert tokenizer.pad_token == "<unk>" and tokenizer.pad_token_id == 0
    assert tokenizer.convert_tokens_to_ids(
        ["<obj>", "</obj>", "<box>", "</box>", "<image>", "<lat_image>", "\u2581", "<0x0A>"]
    ) == [32000, 32001, 32202, 32203, 32204, 32206, 29871, 13]
    ids = tokenizer("<image> effusion <obj><x12><y99></obj>").input_ids
    assert ids[:2] == [tokenizer.bos_token_id, 32204]
    assert tokenizer.decode(ids, skip_special_tokens=True) == "effusion <obj><x12><y99></obj>"
    rendered = tokenizer.apply_chat_template(
        [{"role": "user", "content": [{"index": None, "text": "Hi", "type": "text"}]}],
        add_generation_prompt=True,
        tokenize=False,
    )
    assert rendered == f"{SYSTEM_PROMPT}  USER: Hi  ASSISTANT: "
    assert tokenizer(rendered).input_ids[-1] == 29871


def test_report_absorbs_the_prompts_trailing_space(tiny_folder: Path) -> None:
    """The released whitespace: prompt + report does not start with the prompt's own tokens."""
    tokenizer = AutoTokenizer.from_pretrained(tiny_folder, config=Maira2Config())
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": [{"index": None, "text": "Cough.", "type": "text"}]}],
        add_generation_prompt=True,
        tokenize=False,
    )
    prompt_ids = tokenizer(prompt).input_ids
    full_ids = tokenizer(prompt + "There is no effusion.").input_ids
    assert prompt_ids[-1] == 29871
    assert full_ids[: len(prompt_ids)] != prompt_ids
    assert tokenizer.convert_ids_to_tokens(full_ids[len(prompt_ids) - 1]) == "\u2581There"


def test_image_token_count_comes_from_the_geometry(tiny_folder: Path, tmp_path: Path) -> None:
    """(image_size / patch_size)^2 features, whatever config.json says about image_seq_length."""
    raw = json.loads((tiny_folder / "config.json").read_text())
    raw["image_seq_length"] = 999
    for name in os.listdir(tiny_folder):
        if name != "config.json":
            os.symlink(tiny_folder / name, tmp_path / name)
    (tmp_path / "config.json").write_text(json.dumps(raw))
    runner = Maira2Runner.load(tmp_path)
    assert runner.image_seq_length == 16
    image = Image.fromarray(np.arange(64 * 64, dtype=np.uint8).reshape(64, 64))
    assert runner.encode(Study(image)).input_ids.count(runner.image_token_id) == 16
    assert isinstance(runner.generate_report(Study(image), max_new_tokens=2), str)
    released = Maira2Config(
        vision_config={
            "model_type": "dinov2",
            "image_size": 518,
            "patch_size": 14,
            "reshape_hidden_states": False,
        },
        vision_feature_select_strategy="default",
    )
    assert image_feature_count(released) == 1369
    released.vision_feature_select_strategy = "full"
    assert image_feature_count(released) == 1370
