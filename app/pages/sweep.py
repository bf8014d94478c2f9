"""The alpha-sweep chart of a steer result: on- and off-target finding changes at each step."""

from __future__ import annotations

from typing import Any

from app.pages.charts import Chart, paired_bars
from workers.kinds.steer import SteerResult


def step_label(alphas: list[float]) -> str:
    """A step's alphas as an axis label ("10" or "10/-5" for two features)."""
    return "/".join(f"{alpha:g}" for alpha in alphas)


def sweep_chart(result: Any) -> Chart | None:
    """Bars of how many target and other observations changed at each step (None for one)."""
    if not isinstance(result, SteerResult) or len(result.runs) < 2:
        return None
    return paired_bars(
        [(step_label(run.alphas), len(run.on_target), len(run.off_target)) for run in result.runs],
        names=("on-target changes", "off-target changes"),
        description="Observations whose finding changed at each alpha: on-target (solid) and "
        "off-target (faded).",
        x_label="alpha",
        y_label="observations changed",
    )
