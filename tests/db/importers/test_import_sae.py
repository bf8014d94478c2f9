"""import-sae on the dictionary_learning fixture: rows, groups, neighbours, re-import, bad files."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from sqlalchemy import Engine, create_engine, func, select
from sqlalchemy.orm import Session

from app.cli import main
from db.importers.saes import SaeSpec, write_sae
from db.models import Feature, LanguageModel, Sae
from db.settings import get_settings
from sae import MatryoshkaSae, save_sae


@pytest.fixture
def database(make_database: Callable[[], str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """A fresh database that the command under test uses through the settings."""
    url = make_database()
    monkeypatch.setenv("MAIRA_SAE_DATABASE_URL", url)
    get_settings.cache_clear()
    engine = create_engine(url)
    yield engine
    engine.dispose()
    get_settings.cache_clear()


@pytest.fixture
def checkpoint(shared_dir: Path, tmp_path: Path) -> Path:
    """A writable copy of the ef4 fixture folder (ae.pt + config.json)."""
    folder = tmp_path / "ef4"
    shutil.copytree(shared_dir / "fixtures" / "dictionary_learning_ef4", folder)
    (folder / "expected.pt").unlink()
    for file in folder.iterdir():
        file.chmod(0o644)
    return folder


def naive_neighbours(W_dec: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    unit = W_dec / np.linalg.norm(W_dec, axis=1, keepdims=True)
    cosines = unit @ unit.T
    np.fill_diagonal(cosines, -np.inf)
    order = np.argsort(-cosines, axis=1, kind="stable")[:, :n]
    return order, np.take_along_axis(cosines, order, axis=1)


def test_import_records_the_sae_and_all_features(
    database: Engine, checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = torch.load(checkpoint / "ae.pt", weights_only=True)

    assert main(["import-sae", str(checkpoint), "--name", "ef4", "--input-scale", "22.34"]) == 0

    assert "imported SAE 'ef4'" in capsys.readouterr().out
    with Session(database) as session:
        sae = session.scalars(select(Sae).where(Sae.slug == "ef4")).one()
        assert (sae.d_in, sae.d_sae, sae.k, sae.layer) == (64, 256, 8, 15)
        assert sae.hookpoint == "model.language_model.layers.15"
        assert sae.group_sizes == [128, 64, 32, 16, 16]
        assert sae.threshold == pytest.approx(float(state["threshold"]))
        assert sae.input_scale == 22.34
        assert sae.weights_path == str((checkpoint / "ae.pt").resolve())
        assert len(sae.weights_sha256) == 64
        assert sae.config["trainer"]["dict_size"] == 256
        assert session.scalar(
            select(LanguageModel.slug).where(LanguageModel.id == sae.model_id)
        ) == ("maira-2")
        features = session.execute(
            select(
                Feature.index, Feature.group, Feature.neighbour_indices, Feature.neighbour_cosines
            )
            .where(Feature.sae_id == sae.id)
            .order_by(Feature.index)
        ).all()
    assert [row.index for row in features] == list(range(256))
    group_counts = np.bincount([row.group for row in features])
    assert group_counts.tolist() == [128, 64, 32, 16, 16]
    assert [row.group for row in features[:130]] == [0] * 128 + [1, 1]
    expected_indices, expected_cosines = naive_neighbours(state["W_dec"].double().numpy(), 16)
    assert np.array([row.neighbour_indices for row in features]).tolist() == (
        expected_indices.tolist()
    )
    np.testing.assert_allclose(
        np.array([row.neighbour_cosines for row in features]), expected_cosines, atol=1e-5
    )


def test_reimport_is_a_no_op_and_other_weights_need_replace(
    database: Engine, checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["import-sae", str(checkpoint), "--name", "ef4", "--model", "tiny"]) == 0
    capsys.readouterr()
    assert main(["import-sae", str(checkpoint / "ae.pt"), "--name", "ef4"]) == 0
    assert "nothing to do" in capsys.readouterr().out

    state = torch.load(checkpoint / "ae.pt", weights_only=True)
    state["W_dec"] = state["W_dec"].flip(0)
    other = tmp_path / "other"
    other.mkdir()
    torch.save(state, other / "ae.pt")
    assert main(["import-sae", str(other), "--name", "ef4"]) == 2
    error = capsys.readouterr().err
    assert "already exists with different weights" in error and "--replace" in error

    assert main(["import-sae", str(other), "--name", "ef4", "--replace"]) == 0
    with Session(database) as session:
        sae = session.scalars(select(Sae).where(Sae.slug == "ef4")).one()
        assert sae.weights_path == str((other / "ae.pt").resolve())
        assert session.scalar(select(func.count()).select_from(Sae)) == 1
        assert session.scalar(select(func.count()).where(Feature.sae_id == sae.id)) == 256
        models = session.execute(select(LanguageModel.id, LanguageModel.slug)).all()
        assert sorted(slug for _, slug in models) == ["maira-2", "maira-2-tiny"]
        assert dict(models)[sae.model_id] == "maira-2"


def test_wrong_files_fail_with_one_line_and_write_nothing(
    database: Engine, checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"this is not a torch checkpoint")
    state = torch.load(checkpoint / "ae.pt", weights_only=True)
    state["W_dec"] = state["W_dec"][:, :32]
    wrong_shape = tmp_path / "wrong_shape.pt"
    torch.save(state, wrong_shape)

    state = torch.load(checkpoint / "ae.pt", weights_only=True)
    state["W_dec"][3, 5] = float("nan")
    state["W_enc"][0, 0] = float("inf")
    non_finite = tmp_path / "non_finite.pt"
    torch.save(state, non_finite)
    state = torch.load(checkpoint / "ae.pt", weights_only=True)
    state["b_enc"][7] = float("-inf")
    infinite_bias = tmp_path / "infinite_bias.pt"
    torch.save(state, infinite_bias)

    for path, expected in [
        (corrupt, "not a readable"),
        (wrong_shape, "W_dec has shape (256, 32)"),
        (non_finite, "W_enc holds 1 NaN or infinite values; the checkpoint is damaged"),
        (infinite_bias, "b_enc holds 1 NaN or infinite values"),
        (tmp_path / "missing", "no such checkpoint file"),
    ]:
        assert main(["import-sae", str(path), "--name", "broken"]) == 2
        error = capsys.readouterr().err
        assert error.startswith("error: ") and expected in error
        assert error.count("\n") == 1
    with Session(database) as session:
        assert session.scalar(select(func.count()).select_from(Sae)) == 0
        assert session.scalar(select(func.count()).select_from(LanguageModel)) == 0


def test_write_sae_copies_32768_features(session: Session) -> None:
    d_sae, n = 32_768, 16
    rng = np.random.default_rng(0)
    spec = SaeSpec(
        slug="wide",
        layer=15,
        d_in=4096,
        d_sae=d_sae,
        k=256,
        threshold=0.1,
        group_sizes=[16_384, 8192, 4096, 2048, 2048],
    )
    groups = np.repeat(np.arange(5), spec.group_sizes)
    indices = rng.integers(0, d_sae, size=(d_sae, n))
    cosines = rng.random((d_sae, n), dtype=np.float32)

    sae_id = write_sae(session, spec, groups, indices, cosines)

    row = session.execute(
        select(Feature.group, Feature.neighbour_indices, Feature.neighbour_cosines).where(
            Feature.sae_id == sae_id, Feature.index == 20_000
        )
    ).one()
    assert row.group == 1
    assert row.neighbour_indices == indices[20_000].tolist()
    np.testing.assert_array_equal(np.array(row.neighbour_cosines, np.float32), cosines[20_000])
    assert session.scalar(select(func.count()).where(Feature.sae_id == sae_id)) == d_sae


@pytest.mark.slow
def test_auto_input_scale_runs_the_tiny_model_and_prefers_the_fitting_scale(
    database: Engine,
    shared_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A ±identity SAE reconstructs the tiny model's activations well at the rms-norm scale."""
    monkeypatch.setenv("MAIRA_SAE_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    identity = torch.eye(64)
    sae = MatryoshkaSae(64, 128, k=64, group_sizes=[64, 64], threshold=0.01)
    with torch.no_grad():
        sae.W_enc.copy_(torch.cat([identity, -identity], dim=1))
        sae.W_dec.copy_(torch.cat([identity, -identity], dim=0))
    folder = tmp_path / "identity"
    save_sae(sae, folder)
    reports = shared_dir / "data" / "openi_reports.csv"

    argv = ["import-sae", str(folder), "--name", "identity", "--model", "tiny"]
    assert main([*argv, "--input-scale", "auto", "--reports", str(reports)]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines[:3]] == [
        "input scale 1",
        "input scale 22.34",
        lines[2].split(":")[0],
    ]
    assert "(rms norm / sqrt(d_in))" in lines[2]
    chosen = lines[2].split()[2]
    assert lines[3].startswith(f"chose input scale {chosen} over ")
    assert int(lines[3].split()[5]) >= 400
    with Session(database) as session:
        recorded = session.scalar(select(Sae.input_scale).where(Sae.slug == "identity"))
    assert recorded == pytest.approx(float(chosen), rel=1e-5)
    assert recorded not in (1.0, 22.34)
