"""The model organism: its greedy reports on held-out drawn studies state what the images show.

The organism is the demo's own (default configuration), trained once into a folder under the system
temporary directory that later test sessions reuse while the version, configuration and report
file are unchanged (`ensure_organism_model`'s cache key): the first session trains it (about 3
minutes on an idle 2-core machine, 10 under heavy load).
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from pathlib import Path

import pytest
import torch

from workers.corpus.drawn_studies import NORMAL, DrawnStudy, corpus_words
from workers.corpus.radiographs import CARDIOMEGALY, DEVICE, EFFUSION, PNEUMOTHORAX
from workers.maira2 import organism
from workers.maira2.organism import (
    OrganismConfig,
    ensure_organism_model,
    organism_data,
    sampling_weights,
)
from workers.maira2.organism_eval import evaluate_organism
from workers.maira2.prompt import Study
from workers.maira2.runner import Maira2Runner

DEMO = OrganismConfig()
MACRO_F1 = 0.6
"""The target; 0.714 measured with the default configuration (bench/organism_eval.py). Support
devices are the weak finding (F1 0.0 there: the tube is seen, its varied wording is not learned),
so the per-finding floor below leaves them out; the pneumothorax has one held-out study."""
CACHE = Path(tempfile.gettempdir()) / "maira-sae-test-organism" / "model"


@pytest.fixture(scope="module")
def trained(shared_dir: Path):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    reports = shared_dir / "data" / "openi_reports.csv"
    data = organism_data(reports, DEMO)
    folder = ensure_organism_model(CACHE, reports, DEMO)
    yield reports, folder, data, Maira2Runner.load(folder)
    torch.set_num_threads(threads)


def test_held_out_reports_state_the_drawn_findings_in_corpus_words(trained) -> None:
    _, _, data, runner = trained
    assert len(data.held_out) > 200
    scores = evaluate_organism(runner, data.held_out, corpus_words([s.report for s in data.train]))
    assert scores.vocabulary_share >= 0.95, scores.examples
    assert scores.macro_f1 >= MACRO_F1, (scores.f1, scores.examples)
    assert min(scores.f1[name] for name in (CARDIOMEGALY, EFFUSION, NORMAL)) >= 0.5


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
    trained, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    reports, folder, _, runner = trained
    copy = tmp_path / "model"
    shutil.copytree(folder, copy)
    rows = runner.model.lm_head.weight.detach().abs().sum(dim=1)
    assert rows.shape[0] == 32_207 and 0 < int((rows > 0).sum()) < 3_000

    def refuse(*args: object) -> None:
        raise AssertionError("a cached organism was retrained")

    monkeypatch.setattr(organism, "train_pinned", refuse)
    assert ensure_organism_model(copy, reports, DEMO) == copy
    changed = dataclasses.replace(DEMO, steps=DEMO.steps + 1)
    with pytest.raises(AssertionError, match="retrained"):
        ensure_organism_model(copy, reports, changed)


def test_no_class_is_starved_and_a_lone_combination_is_not_memorised() -> None:
    def studies(findings: frozenset[str], n: int) -> list[DrawnStudy]:
        return [DrawnStudy(f"{sorted(findings)}{i}", "", findings, i) for i in range(n)]

    lone = DrawnStudy("lone", "", frozenset({PNEUMOTHORAX, DEVICE}), 0)
    drawn = [
        *studies(frozenset(), 900),
        *studies(frozenset({PNEUMOTHORAX}), 3),
        *studies(frozenset({DEVICE}), 40),
        lone,
    ]
    weights = sampling_weights(drawn)
    assert abs(float(weights.sum()) - 1.0) < 1e-6
    share = {
        name: float(sum(w for s, w in zip(drawn, weights, strict=True) if test(s)))
        for name, test in (
            (NORMAL, lambda s: not s.findings),
            (PNEUMOTHORAX, lambda s: PNEUMOTHORAX in s.findings),
            (DEVICE, lambda s: DEVICE in s.findings),
        )
    }
    assert all(value >= 0.25 for value in share.values()), share
    assert float(weights[-1]) < 0.2, "by combination alone the lone study would take 0.25"
