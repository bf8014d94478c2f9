"""Drawn studies: each image shows its findings where a reader looks, and reports pair cleanly."""

from __future__ import annotations

import numpy as np
import pytest

from workers.corpus.drawn_studies import (
    DrawnStudy,
    drawn_findings,
    report_findings,
    split_held_out,
)
from workers.corpus.radiographs import (
    CARDIOMEGALY,
    DEVICE,
    EFFUSION,
    OPACITY,
    PNEUMOTHORAX,
    SIZE,
    draw_radiograph,
)
from workers.findings.labeler import label_report

SEEDS = range(12)


def _pixels(findings: set[str], seed: int) -> np.ndarray:
    return np.asarray(draw_radiograph(frozenset(findings), seed), dtype=np.float32) / 255


def _lower_corners(image: np.ndarray) -> float:
    """The brighter costophrenic region: the lower outer quarter of either lung field."""
    band = image[int(0.62 * SIZE) : int(0.78 * SIZE)]
    return max(
        band[:, int(0.1 * SIZE) : int(0.3 * SIZE)].mean(),
        band[:, int(0.7 * SIZE) : int(0.9 * SIZE)].mean(),
    )


def test_same_seed_same_image_and_unknown_findings_refused() -> None:
    assert np.array_equal(_pixels({EFFUSION}, 3), _pixels({EFFUSION}, 3))
    with pytest.raises(ValueError, match="cannot draw"):
        draw_radiograph(frozenset({"Fracture"}), 0)


@pytest.mark.parametrize("seed", SEEDS)
def test_effusion_blunts_a_costophrenic_angle(seed: int) -> None:
    assert _lower_corners(_pixels({EFFUSION}, seed)) > _lower_corners(_pixels(set(), seed)) + 0.1


@pytest.mark.parametrize("seed", SEEDS)
def test_cardiomegaly_widens_the_cardiac_silhouette(seed: int) -> None:
    def heart_width(image: np.ndarray) -> int:
        row = image[int(0.64 * SIZE), int(0.2 * SIZE) : int(0.85 * SIZE)]
        return int((row > 0.55).sum())

    assert heart_width(_pixels({CARDIOMEGALY}, seed)) > heart_width(_pixels(set(), seed)) * 1.4


@pytest.mark.parametrize("seed", SEEDS)
def test_pneumothorax_leaves_a_lucent_rim_without_markings(seed: int) -> None:
    def lucent(image: np.ndarray) -> int:
        chest = image[int(0.18 * SIZE) : int(0.8 * SIZE), int(0.12 * SIZE) : int(0.88 * SIZE)]
        return int((chest < 0.08).sum())

    assert lucent(_pixels({PNEUMOTHORAX}, seed)) > 150 + 5 * lucent(_pixels(set(), seed))


@pytest.mark.parametrize("seed", SEEDS)
def test_device_is_a_bright_curve_and_opacity_a_bright_patch(seed: int) -> None:
    normal = _pixels(set(), seed)
    assert (_pixels({DEVICE}, seed) > 0.9).sum() > (normal > 0.9).sum() + 40
    lungs = (normal > 0.1) & (normal < 0.3)
    assert _pixels({OPACITY}, seed)[lungs].mean() > normal[lungs].mean() + 0.02


def test_reports_pair_with_what_can_be_drawn() -> None:
    assert drawn_findings(label_report("Heart size normal. Lungs clear.")) == frozenset()
    assert drawn_findings(
        label_report("Large left pleural effusion. Right lower lobe consolidation.")
    ) == frozenset({EFFUSION, OPACITY})
    assert drawn_findings(label_report("Possible small effusion.")) is None
    assert drawn_findings(label_report("Acute fracture of the left 6th rib.")) is None
    assert report_findings("There is a right pneumothorax. No effusion.") == {PNEUMOTHORAX}


def test_held_out_split_is_disjoint_and_covers_every_finding() -> None:
    keys = [frozenset(), frozenset({EFFUSION}), frozenset({CARDIOMEGALY, DEVICE})]
    studies = [
        DrawnStudy(f"r{n}", "text", keys[n % 3] if n < 60 else frozenset(), n) for n in range(90)
    ]
    train, held_out = split_held_out(studies, fraction=0.1)
    assert not {s.uid for s in train} & {s.uid for s in held_out}
    assert len(train) + len(held_out) == 90
    assert {s.findings for s in held_out} == set(keys)
    assert [s.seed for s in train] == sorted(s.seed for s in train)
