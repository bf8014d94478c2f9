"""Activation shards written and read back, in order and shuffled."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from sae.activation_shards import ActivationShardWriter, iter_activation_batches, read_meta


def _write(folder: Path, acts: torch.Tensor, dtype: str = "float32") -> None:
    with ActivationShardWriter(folder, 6, {"layer": 15, "hookpoint": "layers.15"}, 16, dtype) as w:
        for chunk in acts.split(7):
            w.add(chunk)


def test_round_trip_in_order(tmp_path: Path) -> None:
    acts = torch.randn(45, 6)
    _write(tmp_path, acts)
    meta = read_meta(tmp_path)
    assert meta["n_tokens"] == 45 and meta["d_in"] == 6 and meta["layer"] == 15
    assert [shard["n_tokens"] for shard in meta["shards"]] == [16, 16, 13]
    assert sorted(p.name for p in tmp_path.glob("shard_*.pt")) == [
        "shard_00000.pt",
        "shard_00001.pt",
        "shard_00002.pt",
    ]
    batches = list(iter_activation_batches(tmp_path, batch_size=10))
    assert [len(batch) for batch in batches] == [10, 10, 10, 10, 5]
    assert torch.equal(torch.cat(batches), acts)
    assert len(list(iter_activation_batches(tmp_path, 10, drop_last=True))) == 4
    large = list(iter_activation_batches(tmp_path, batch_size=40))
    assert [len(batch) for batch in large] == [40, 5]
    assert torch.equal(torch.cat(large), acts)


def test_shuffled_is_a_seeded_permutation(tmp_path: Path) -> None:
    acts = torch.arange(50 * 6, dtype=torch.float32).reshape(50, 6)
    _write(tmp_path, acts, dtype="float16")
    assert json.loads((tmp_path / "meta.json").read_text())["dtype"] == "float16"
    first = torch.cat(list(iter_activation_batches(tmp_path, 8, shuffle=True, seed=1)))
    again = torch.cat(list(iter_activation_batches(tmp_path, 8, shuffle=True, seed=1)))
    other = torch.cat(list(iter_activation_batches(tmp_path, 8, shuffle=True, seed=2)))
    reference = acts.half().float()
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert not torch.equal(first, reference)
    assert torch.equal(first[first[:, 0].argsort()], reference)


def test_writer_refuses_bad_input_and_existing_dataset(tmp_path: Path) -> None:
    _write(tmp_path, torch.randn(5, 6))
    with pytest.raises(FileExistsError):
        ActivationShardWriter(tmp_path, 6)
    writer = ActivationShardWriter(tmp_path / "new", 6)
    with pytest.raises(ValueError, match=r"\(N, 6\)"):
        writer.add(torch.zeros(3, 5))
    with pytest.raises(FileNotFoundError):
        read_meta(tmp_path / "nowhere")
