"""Fixtures for the MAIRA-2 runner tests: one tiny model per session, test X-rays, one thread.

The tiny model's matrices are so small that thread start-up dominates, and on a shared 2-core
machine several torch threads per process slow a generate from 0.3 s to 9 s.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from workers.maira2.runner import Maira2Runner
from workers.maira2.tiny import ensure_tiny_model


@pytest.fixture(autouse=True)
def single_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tiny_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ensure_tiny_model(tmp_path_factory.mktemp("maira2") / "tiny")


@pytest.fixture(scope="session")
def runner(tiny_folder: Path) -> Maira2Runner:
    return Maira2Runner.load(tiny_folder)


def _xray(seed: int, size: tuple[int, int] = (72, 64)) -> Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 256, size=size, dtype=np.uint8)
    return Image.fromarray(pixels)


@pytest.fixture
def frontal() -> Image.Image:
    return _xray(1)


@pytest.fixture
def lateral() -> Image.Image:
    return _xray(2, (60, 80))


@pytest.fixture
def prior() -> Image.Image:
    return _xray(3)
