"""Labeler agreement with the MeSH problem labels of the OpenI reports, and the MeSH mapping."""

from __future__ import annotations

from pathlib import Path

import pytest

from workers.findings.agreement import (
    Agreement,
    LabeledReport,
    agreement,
    label_corpus,
    macro_f1,
    mesh_observations,
    micro,
)

# Measured with bench/labeler_agreement.py on 3,734 reports: macro F1 0.822, micro F1 0.910.
MACRO_F1_FLOOR = 0.80
MICRO_F1_FLOOR = 0.89


@pytest.fixture(scope="module")
def corpus(shared_dir: Path) -> list[LabeledReport]:
    return label_corpus(shared_dir / "data" / "openi_reports.csv")


def test_agreement_with_mesh_stays_above_the_floor(corpus: list[LabeledReport]) -> None:
    assert len(corpus) > 3500
    rows = agreement(corpus)
    by_observation = {row.observation: row for row in rows}
    assert "Pleural Other" in by_observation and "Enlarged Cardiomediastinum" in by_observation
    assert macro_f1(rows) >= MACRO_F1_FLOOR
    assert micro(rows).f1 >= MICRO_F1_FLOOR
    for common in ("No Finding", "Cardiomegaly", "Lung Opacity", "Atelectasis", "Support Devices"):
        assert by_observation[common].f1 >= 0.88, common


def test_mesh_terms_map_to_chexpert_observations() -> None:
    assert mesh_observations("normal") == {"No Finding"}
    assert mesh_observations(
        "Cardiomegaly/mild;Pleural Effusion/bilateral/small;Calcified Granuloma/lung"
    ) == {"Cardiomegaly", "Pleural Effusion"}
    assert mesh_observations("Cardiac Shadow/enlarged/mild") == {"Cardiomegaly"}
    assert mesh_observations("Cardiac Shadow/obscured") == set()
    assert mesh_observations("Thickening/pleura/apex/bilateral") == {"Pleural Other"}
    assert mesh_observations("Catheters, Indwelling/right;Fractures, Bone/ribs/left") == {
        "Support Devices",
        "Fracture",
    }
    assert mesh_observations("Lung/hypoinflation;Thoracic Vertebrae/degenerative") == set()


def test_agreement_metrics() -> None:
    row = Agreement("X", reference_positive=10, labeler_positive=8, true_positive=6, total=100)
    assert row.precision == pytest.approx(0.75)
    assert row.recall == pytest.approx(0.6)
    assert row.f1 == pytest.approx(2 * 0.75 * 0.6 / 1.35)
    # observed 0.94, expected 0.1*0.08 + 0.9*0.92 = 0.836
    assert row.kappa == pytest.approx((0.94 - 0.836) / (1 - 0.836))
