"""The model organism: trained briefly, its greedy reports state what the held-out images show."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from workers.corpus.drawn_studies import DrawnStudy, corpus_words
from workers.maira2 import organism
from workers.maira2.organism import (
    OrganismConfig,
    OrganismData,
    ensure_organism_model,
    organism_data,
)
from workers.maira2.organism_eval import evaluate_organism
from workers.maira2.prompt import Study
from workers.maira2.runner import Maira2Runner

QUICK = OrganismConfig(steps=200)
"""A quick configuration for the test (the demo trains 600 steps)."""
PER_KEY = 4


def _balanced(studies: list[DrawnStudy], per_key: int) -> list[DrawnStudy]:
    """Up to `per_key` held-out studies of each finding combination."""
    chosen: dict[str, list[DrawnStudy]] = {}
    for study in studies:
        chosen.setdefault(study.key, [])
        if len(chosen[study.key]) < per_key:
            chosen[study.key].append(study)
    return [study for group in chosen.values() for study in group]


@pytest.fixture(scope="module")
def trained(shared_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    reports = shared_dir / "data" / "openi_reports.csv"
    data = organism_data(reports, QUICK)
    folder = ensure_organism_model(
        tmp_path_factory.mktemp("organism") / "model", reports, QUICK, data=data
    )
    yield reports, folder, data, Maira2Runner.load(folder)
    torch.set_num_threads(threads)


def test_held_out_reports_state_the_drawn_findings_in_corpus_words(trained) -> None:
    _, _, data, runner = trained
    held_out = _balanced(data.held_out, PER_KEY)
    assert {study.key for study in held_out} >= {"normal", "Cardiomegaly", "Support Devices"}
    scores = evaluate_organism(runner, held_out, corpus_words([s.report for s in data.train]))
    assert scores.vocabulary_share >= 0.95, scores.examples
    assert scores.macro_f1 >= 0.4, (scores.f1, scores.examples)


def test_reports_depend_on_the_image(trained) -> None:
    _, _, _, runner = trained
    reports = runner.generate_reports(
        [
            Study(frontal=DrawnStudy("", "", findings, 7).image())
            for findings in (frozenset(), frozenset({"Cardiomegaly", "Support Devices"}))
        ],
        max_new_tokens=60,
    )
    assert reports[0] != reports[1]


def test_unused_vocabulary_rows_are_zero_and_the_build_is_cached(
    trained, monkeypatch: pytest.MonkeyPatch
) -> None:
    reports, folder, data, runner = trained
    rows = runner.model.lm_head.weight.detach().abs().sum(dim=1)
    assert rows.shape[0] == 32_207 and 0 < int((rows > 0).sum()) < 3_000

    def refuse(*args: object) -> None:
        raise AssertionError("a cached organism was retrained")

    monkeypatch.setattr(organism, "train_organism", refuse)
    assert ensure_organism_model(folder, reports, QUICK, data=data) == folder
    changed = dataclasses.replace(QUICK, steps=QUICK.steps + 1)
    with pytest.raises(AssertionError, match="retrained"):
        ensure_organism_model(folder, reports, changed, data=OrganismData([], []))
