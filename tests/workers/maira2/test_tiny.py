"""The offline tiny MAIRA-2: fast, cached, deterministic, and shaped like the real checkpoint."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from transformers import AutoTokenizer

from workers.maira2.modeling import Maira2Config
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


def test_tokenizer(tiny_folder: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_folder, config=Maira2Config())
    assert tokenizer.padding_side == "left"
    ids = tokenizer("<image> effusion <obj><x12><y99></obj>").input_ids
    assert ids[0] == tokenizer.bos_token_id
    image_id = tokenizer.convert_tokens_to_ids("<image>")
    assert ids[1] == image_id and image_id != tokenizer.unk_token_id
    text = tokenizer.decode(ids, skip_special_tokens=True)
    assert text == " effusion <obj><x12><y99></obj>"
    rendered = tokenizer.apply_chat_template(
        [{"role": "user", "content": [{"index": None, "text": "Hi", "type": "text"}]}],
        add_generation_prompt=True,
        tokenize=False,
    )
    assert rendered == f"{SYSTEM_PROMPT}  USER: Hi  ASSISTANT:"
