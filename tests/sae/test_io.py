"""The checkpoint loader against dictionary_learning's own outputs, and its error messages."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from torch.testing import assert_close

from sae import MatryoshkaSae, SaeCheckpointError, load_sae, save_sae


@pytest.fixture(scope="module")
def fixture_dir(shared_dir: Path) -> Path:
    return shared_dir / "fixtures" / "dictionary_learning_ef4"


@pytest.fixture(scope="module")
def expected(fixture_dir: Path) -> dict[str, torch.Tensor]:
    return torch.load(fixture_dir / "expected.pt", weights_only=True)


@pytest.fixture(scope="module")
def library_state(fixture_dir: Path) -> dict[str, torch.Tensor]:
    return torch.load(fixture_dir / "ae.pt", weights_only=True)


def test_matches_dictionary_learning_outputs(fixture_dir: Path, expected: dict) -> None:
    sae = load_sae(fixture_dir)
    x = expected["x"]
    assert (sae.d_in, sae.d_sae, sae.k, sae.group_sizes) == (64, 256, 8, [128, 64, 32, 16, 16])
    assert sae.threshold > 0
    assert sae.config is not None and sae.config["trainer"]["dict_size"] == 256
    with torch.no_grad():
        assert_close(sae.encode(x), expected["features"], atol=1e-5, rtol=1e-5)
        assert_close(
            sae.encode(x, use_threshold=False),
            expected["features_batch_topk"],
            atol=1e-5,
            rtol=1e-5,
        )
        assert_close(
            sae.decode(expected["features"]), expected["reconstruction"], atol=1e-5, rtol=1e-5
        )
        assert_close(sae(x), expected["forward"], atol=1e-5, rtol=1e-5)
    assert int((sae.encode(x, use_threshold=False) > 0).sum()) == sae.k * x.shape[0]


def test_encode_raw_divides_by_input_scale(fixture_dir: Path, expected: dict) -> None:
    sae = load_sae(fixture_dir / "ae.pt", input_scale=22.34)
    x = expected["x"]
    with torch.no_grad():
        assert_close(sae.encode_raw(x * 22.34), expected["features"], atol=1e-4, rtol=1e-4)


def test_scale_biases_scales_features(fixture_dir: Path, expected: dict) -> None:
    sae = load_sae(fixture_dir)
    x = expected["x"]
    sae.scale_biases(3.0)
    with torch.no_grad():
        assert_close(sae.encode(3.0 * x), 3.0 * expected["features"], atol=1e-4, rtol=1e-5)


def test_save_writes_the_library_state_dict(
    tmp_path: Path, fixture_dir: Path, library_state
) -> None:
    sae = load_sae(fixture_dir)
    save_sae(sae, tmp_path, config={"trainer": {"dict_size": 256}})
    written = torch.load(tmp_path / "ae.pt", weights_only=True)
    assert list(written) == list(library_state)
    for key, tensor in library_state.items():
        assert written[key].dtype == tensor.dtype, key
        assert written[key].shape == tensor.shape, key
        assert torch.equal(written[key], tensor), key
    assert json.loads((tmp_path / "config.json").read_text()) == {"trainer": {"dict_size": 256}}


def _write(tmp_path: Path, state: object) -> Path:
    file = tmp_path / "ae.pt"
    torch.save(state, file)
    return file


def _edited(state: dict, **changes: object) -> dict:
    edited = dict(state)
    for key, value in changes.items():
        if value is None:
            del edited[key]
        else:
            edited[key] = value
    return edited


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"threshold": None}, r"missing keys \['threshold'\]"),
        ({"extra": torch.zeros(1)}, r"unexpected keys \['extra'\]"),
        ({"W_dec": torch.zeros(64, 256)}, r"W_dec has shape \(64, 256\), expected \(256, 64\)"),
        ({"b_enc": torch.zeros(255)}, r"b_enc has shape \(255,\)"),
        ({"group_sizes": torch.tensor([128, 64, 32, 16])}, r"sum to d_sae=256 \(they sum to 240\)"),
        ({"threshold": torch.tensor(-1.0)}, r"threshold=-1 was never set"),
        ({"k": torch.tensor(1000, dtype=torch.int32)}, r"k=1000 is outside"),
        ({"W_enc": torch.zeros(64)}, r"W_enc must be \(d_in, d_sae\)"),
    ],
)
def test_rejects_bad_state_dicts(tmp_path: Path, library_state, changes, message) -> None:
    file = _write(tmp_path, _edited(library_state, **changes))
    with pytest.raises(SaeCheckpointError, match=message):
        load_sae(file)


def test_rejects_non_state_dicts_and_non_torch_files(tmp_path: Path) -> None:
    with pytest.raises(SaeCheckpointError, match="expected a state dict, found list"):
        load_sae(_write(tmp_path, [torch.zeros(1)]))
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"definitely not a zip or pickle")
    with pytest.raises(SaeCheckpointError, match="not a readable torch checkpoint"):
        load_sae(garbage)
    real = _write(tmp_path, {"W_enc": torch.zeros(4, 8)})
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(real.read_bytes()[: real.stat().st_size // 2])
    with pytest.raises(SaeCheckpointError, match="not a readable torch checkpoint"):
        load_sae(truncated)
    with pytest.raises(SaeCheckpointError, match="no such checkpoint file"):
        load_sae(tmp_path / "missing")
    assert issubclass(SaeCheckpointError, ValueError)


def test_rejects_config_contradicting_weights(tmp_path: Path, fixture_dir: Path) -> None:
    shutil.copy(fixture_dir / "ae.pt", tmp_path / "ae.pt")
    (tmp_path / "config.json").write_text(json.dumps({"trainer": {"dict_size": 512}}))
    with pytest.raises(SaeCheckpointError, match="dict_size=512 but the weights say 256"):
        load_sae(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(SaeCheckpointError, match="not valid JSON"):
        load_sae(tmp_path)


def test_batch_top_k_needs_two_dimensional_input() -> None:
    sae = MatryoshkaSae(4, 8, 2, [4, 4], threshold=0.1)
    with pytest.raises(ValueError, match=r"\(N, d_in\)"):
        sae.encode(torch.zeros(2, 3, 4), use_threshold=False)
