"""The newcomer's path for commands: on a brand-new database and a fresh MAIRA_SAE_HOME, each
command works without a prior `maira-sae db upgrade` and fails in words, not tracebacks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from sqlalchemy import create_engine, text

from sae import MatryoshkaSae, save_sae
from tests.support.cli import maira_sae
from tests.support.databases import temporary_database

TINY_D_MODEL = 64


@pytest.fixture
def empty_database(postgres_server: str) -> Iterator[str]:
    """A database that exists but holds no table at all (never migrated)."""
    with temporary_database(postgres_server, migrate=False) as url:
        yield url


def tables(url: str) -> set[str]:
    engine = create_engine(url)
    with engine.connect() as connection:
        names = connection.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        ).scalars()
        found = set(names)
    engine.dispose()
    return found


@pytest.mark.parametrize(
    ("arguments", "status", "words"),
    [
        (["db", "upgrade"], 0, ""),
        (
            [
                "synthetic",
                "--features",
                "32",
                "--examples",
                "2",
                "--tokens",
                "8",
                "--name",
                "syn",
                "--d-in",
                "16",
            ],
            0,
            "",
        ),
        (["import-autointerp", "{csv}", "--sae", "nope"], 2, "error: no SAE named 'nope'"),
        (["precompute", "--sae", "nope", "--reports", "{reports}", "--limit", "2"], 2, "nope"),
    ],
    ids=["db-upgrade", "synthetic", "import-autointerp", "precompute"],
)
def test_each_command_works_first_on_a_fresh_database(
    empty_database: str,
    tmp_path: Path,
    shared_dir: Path,
    arguments: list[str],
    status: int,
    words: str,
) -> None:
    csv = tmp_path / "labels.csv"
    csv.write_text("feature,label\n0,effusion\n", encoding="utf-8")
    reports = shared_dir / "data" / "openi_reports.csv"
    filled = [argument.format(csv=csv, reports=reports) for argument in arguments]
    assert "saes" not in tables(empty_database)

    done = maira_sae(empty_database, tmp_path / "home", *filled)

    assert done.returncode == status, done.stderr
    assert "Traceback" not in done.stderr and "UndefinedTable" not in done.stderr
    assert words in done.stderr
    assert {"saes", "features", "uploads", "alembic_version"} <= tables(empty_database)


def test_import_sae_then_labels_then_precompute_on_a_fresh_database(
    empty_database: str, tmp_path: Path, shared_dir: Path
) -> None:
    home = tmp_path / "home"
    sae = MatryoshkaSae(TINY_D_MODEL, 32, k=4, group_sizes=[8, 24], threshold=0.01)
    with torch.no_grad():
        sae.W_dec.copy_(torch.nn.functional.normalize(torch.randn(32, TINY_D_MODEL), dim=1))
        sae.W_enc.copy_(sae.W_dec.T)
    checkpoint = save_sae(sae, tmp_path / "sae")
    csv = tmp_path / "labels.csv"
    csv.write_text("feature,label,val_f1\n0,effusion,0.8\n1,cardiomegaly,0.6\n", encoding="utf-8")
    reports = shared_dir / "data" / "openi_reports.csv"

    steps = [
        ["import-sae", str(checkpoint), "--name", "tiny", "--model", "tiny"],
        ["import-autointerp", str(csv), "--sae", "tiny"],
        ["precompute", "--sae", "tiny", "--reports", str(reports), "--limit", "3"],
        ["db", "upgrade"],
    ]
    for step in steps:
        done = maira_sae(empty_database, home, *step)
        assert done.returncode == 0, (step, done.stderr)
        assert "Traceback" not in done.stderr
    assert (
        "imported 2 of 2 rows"
        in maira_sae(empty_database, home, "import-autointerp", str(csv), "--sae", "tiny").stdout
    )
