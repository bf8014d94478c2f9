"""Report reading (OpenI, MIMIC-CXR, images), the synthetic corpus, windows and the store."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from db.words import word_spans
from workers.corpus import CorpusError, read_reports
from workers.corpus.synthetic import write_synthetic_reports
from workers.precompute.config import example_window
from workers.precompute.store import (
    SparseActivationReader,
    SparseActivationWriter,
    StoreSize,
    store_size,
    truncate_store,
)
from workers.precompute.tokens import token_ids


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_openi_reports_use_findings_else_impression_and_count_skips(reports_csv: Path) -> None:
    reader = read_reports(reports_csv)
    reports = list(reader)
    assert len(reports) == 3826 and reader.n_rows == 3851
    assert reader.skipped == {"no findings or impression": 25}
    assert [report.index for report in reports[:3]] == [0, 1, 2]
    first = reports[0]
    assert first.external_id == "1" and first.text.startswith("The cardiac silhouette")
    assert first.indication == "Positive TB test" and first.comparison is None
    assert first.meta["problems"] == "normal"
    impression_only = [report for report in reports if report.section == "impression"]
    assert len(impression_only) == 3826 - 3337
    assert len(list(read_reports(reports_csv, limit=30))) == 30


def test_mimic_columns_map_by_alias(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "mimic.csv",
        ["subject_id", "study_id", "Findings", "IMPRESSION", "History", "Technique"],
        [
            ["10", "50001", "Small left effusion.", "Effusion.", "Dyspnea", "PA and lateral"],
            ["10", "50002", "", "No acute process.", "", ""],
            ["11", "50003", "", "", "Cough", ""],
            ["11", "50001", "Repeat study id.", "", "", ""],
        ],
    )
    reader = read_reports(path)
    reports = list(reader)
    assert [r.external_id for r in reports] == ["50001", "50002", "50001#2"]
    assert reports[0].text == "Small left effusion." and reports[0].section == "findings"
    assert reports[0].indication == "Dyspnea" and reports[0].technique == "PA and lateral"
    assert reports[0].meta["subject"] == "10"
    assert reports[1].text == "No acute process." and reports[1].section == "impression"
    assert reader.skipped == {"no findings or impression": 1}


def test_a_csv_without_report_columns_is_refused_clearly(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "other.csv", ["name", "value"], [["a", "1"]])
    with pytest.raises(CorpusError, match=r"expected an id column .* findings or impression"):
        list(read_reports(path))
    with pytest.raises(CorpusError, match="no such report file"):
        read_reports(tmp_path / "missing.csv")


def test_images_come_from_a_projections_csv_or_id_named_files(tmp_path: Path) -> None:
    images = tmp_path / "images"
    images.mkdir()
    for name in ("1_front.png", "1_side.png", "2.png"):
        (images / name).write_bytes(b"png")
    write_csv(
        images / "projections.csv",
        ["uid", "filename", "projection"],
        [["1", "1_front.png", "Frontal"], ["1", "1_side.png", "Lateral"]],
    )
    reports = write_csv(
        tmp_path / "reports.csv",
        ["uid", "findings"],
        [["1", "Clear lungs."], ["2", "Effusion."], ["3", "No image."]],
    )
    reader = read_reports(reports, images=images)
    found = list(reader)
    assert not reader.text_only
    assert [(r.external_id, r.frontal.name, r.lateral) for r in found[1:]] == [("2", "2.png", None)]
    assert (found[0].frontal.name, found[0].lateral.name) == ("1_front.png", "1_side.png")
    assert reader.skipped == {"no frontal image": 1}
    assert read_reports(reports).text_only


def test_synthetic_corpus_is_deterministic_and_varied(tmp_path: Path) -> None:
    first = write_synthetic_reports(tmp_path / "a.csv", n_reports=300, seed=3)
    second = write_synthetic_reports(tmp_path / "b.csv", n_reports=300, seed=3)
    assert first.read_bytes() == second.read_bytes()
    reports = list(read_reports(first))
    assert len(reports) == 300
    texts = " ".join(report.text.lower() for report in reports)
    for phrase in ("pleural effusion", "pneumothorax", "no ", "left", "right", " mm ", "catheter"):
        assert phrase in texts
    assert len({report.text for report in reports}) > 290


@pytest.mark.parametrize(
    ("position", "length", "window"),
    [(0, 100, (0, 32)), (50, 100, (26, 58)), (99, 100, (68, 100)), (3, 10, (0, 10))],
)
def test_example_window(position: int, length: int, window: tuple[int, int]) -> None:
    assert example_window(position, length) == window
    start, end = window
    assert start <= position < end


def test_sparse_store_returns_exact_values_and_truncates(tmp_path: Path) -> None:
    generator = torch.Generator().manual_seed(0)
    acts = torch.rand(12, 20, generator=generator)
    acts[acts < 0.8] = 0
    writer = SparseActivationWriter(tmp_path)
    writer.append(token_ids(3, 7), acts[:7])
    size = writer.flush()
    writer.append(token_ids(5, 5), acts[7:])
    writer.close()
    reader = SparseActivationReader(tmp_path)
    features = np.array([1, 4, 19])
    np.testing.assert_array_equal(
        reader.window_values(int(token_ids(3, 7)[2]), 4, features), acts[2:6][:, features].numpy()
    )
    np.testing.assert_array_equal(
        reader.window_values(int(token_ids(5, 5)[0]), 5, features), acts[7:][:, features].numpy()
    )
    assert not reader.window_values(int(token_ids(4, 1)[0]), 3, features).any()
    truncate_store(tmp_path, size)
    assert store_size(tmp_path) == StoreSize(7, int((acts[:7] > 0).sum()))


def test_word_spans_group_subword_tokens() -> None:
    assert word_spans([" pleural", " eff", "usion", ".", " No"]) == [0, 1, 1, 2, 3]
