"""Fixtures for the precompute tests: tiny model, a small OpenI corpus, a calibrated random SAE."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from sqlalchemy import Engine

from db.engine import make_engine, make_sessionmaker
from db.importers.saes import SaeSpec, write_sae
from sae import MatryoshkaSae, save_sae
from sae.groups import feature_groups
from sae.similarity import decoder_neighbours
from workers.corpus import read_reports
from workers.maira2.runner import Maira2Runner
from workers.maira2.tiny import ensure_tiny_model
from workers.precompute.config import PrecomputeConfig
from workers.precompute.sources import RunnerSource

N_REPORTS = 30
D_SAE = 96
TARGET_L0 = 6


@pytest.fixture(scope="session")
def reports_csv(shared_dir: Path) -> Path:
    return shared_dir / "data" / "openi_reports.csv"


@pytest.fixture(scope="session")
def tiny_runner(tmp_path_factory: pytest.TempPathFactory) -> Maira2Runner:
    return Maira2Runner.load(ensure_tiny_model(tmp_path_factory.mktemp("precompute") / "tiny"))


@pytest.fixture(scope="session")
def source(tiny_runner: Maira2Runner) -> RunnerSource:
    return RunnerSource(tiny_runner, batch_size=8)


@pytest.fixture(scope="session")
def sae_folder(
    tmp_path_factory: pytest.TempPathFactory, reports_csv: Path, source: RunnerSource
) -> Path:
    """A random SAE on the tiny model's d_model whose threshold gives ~6 active features/token."""
    generator = torch.Generator().manual_seed(0)
    reports = list(read_reports(reports_csv, limit=8))
    activations = torch.cat([captured.activations for captured in source.capture(reports)])
    d_in = activations.shape[1]
    sae = MatryoshkaSae(d_in, D_SAE, k=TARGET_L0, group_sizes=[16, 32, 48])
    with torch.no_grad():
        decoder = torch.randn(D_SAE, d_in, generator=generator)
        sae.W_dec.copy_(decoder / decoder.norm(dim=1, keepdim=True))
        sae.W_enc.copy_(sae.W_dec.T)
        sae.b_dec.copy_(activations.mean(0))
        pre = sae.pre_activations(activations)
    sae.threshold = float(pre.flatten().quantile(1 - TARGET_L0 / D_SAE))
    assert sae.threshold > 0
    folder = tmp_path_factory.mktemp("sae") / "random"
    save_sae(sae, folder)
    return folder


@pytest.fixture
def make_sae_row(sae_folder: Path) -> Callable[[str, str], None]:
    """Insert an SAE row (and its features) for the random SAE under `slug` into a database."""

    def insert(url: str, slug: str) -> None:
        sae = torch.load(sae_folder / "ae.pt", weights_only=True)
        group_sizes = sae["group_sizes"].tolist()
        engine = make_engine(url)
        neighbours = decoder_neighbours(sae["W_dec"], n=8)
        spec = SaeSpec(
            slug=slug,
            layer=15,
            d_in=sae["W_dec"].shape[1],
            d_sae=D_SAE,
            k=int(sae["k"]),
            threshold=float(sae["threshold"]),
            group_sizes=group_sizes,
            weights_path=str(sae_folder / "ae.pt"),
            model_slug="maira-2-tiny",
            model_source="tiny",
        )
        with make_sessionmaker(engine)() as session:
            write_sae(
                session,
                spec,
                feature_groups(group_sizes).numpy(),
                neighbours.indices.numpy(),
                neighbours.cosines.numpy(),
            )
            session.commit()
        engine.dispose()

    return insert


@pytest.fixture
def fresh_engine(make_database: Callable[[], str]) -> Callable[[], tuple[str, Engine]]:
    engines: list[Engine] = []

    def create() -> tuple[str, Engine]:
        url = make_database()
        engine = make_engine(url)
        engines.append(engine)
        return url, engine

    yield create
    for engine in engines:
        engine.dispose()


@pytest.fixture
def small_config(reports_csv: Path) -> PrecomputeConfig:
    return PrecomputeConfig(reports=reports_csv, limit=N_REPORTS, top_k=8, batch_size=8)
