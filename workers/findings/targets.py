"""A steering target: the CheXpert observations a feature's label names, and whether a steered
report's finding changes hit them (on-target), missed them (off-target), both or neither."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from workers.findings.labeler import find_mentions
from workers.findings.phrases import NO_FINDING, OBSERVATIONS

Outcome = Literal["on_only", "off_only", "both", "none"]
OUTCOMES: tuple[Outcome, ...] = ("on_only", "off_only", "both", "none")


def label_observations(label: str | None) -> list[str]:
    """The observations a label names ("small left pleural effusion" -> Pleural Effusion),
    negated or not, in CheXpert order; [] when it names none."""
    if not label:
        return []
    named = {mention.observation for mention in find_mentions(label)}
    return [observation for observation in OBSERVATIONS if observation in named]


def split_changes(changed: Iterable[str], targets: Iterable[str]) -> tuple[list[str], list[str]]:
    """(on-target, off-target) changed observations. "No Finding" flips whenever any finding
    appears or disappears, so it counts only when it is itself a target."""
    wanted = set(targets)
    on, off = [], []
    for observation in changed:
        if observation in wanted:
            on.append(observation)
        elif observation != NO_FINDING:
            off.append(observation)
    return on, off


def outcome(on_target: bool, off_target: bool) -> Outcome:
    """The paper's four outcome classes of one steered report."""
    if on_target and off_target:
        return "both"
    if on_target:
        return "on_only"
    return "off_only" if off_target else "none"
