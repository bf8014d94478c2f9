"""Which findings a steered report gained, lost or hedged relative to its baseline report."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from workers.findings.labeler import Label, Mention, find_mentions, label_mentions
from workers.findings.phrases import OBSERVATIONS

ChangeKind = Literal["appeared", "disappeared", "certainty_changed", "unchanged"]
KINDS: tuple[ChangeKind, ...] = ("appeared", "disappeared", "certainty_changed", "unchanged")

_PRESENT = (Label.POSITIVE, Label.UNCERTAIN)


@dataclass(frozen=True)
class FindingChange:
    """How one observation's label moved from the baseline report to the steered one."""

    observation: str
    kind: ChangeKind
    baseline: Label
    steered: Label
    baseline_sentences: tuple[str, ...]
    """Sentences of the baseline report that mention the observation."""
    steered_sentences: tuple[str, ...]

    @property
    def description(self) -> str:
        """One line for display, e.g. "Pleural Effusion appeared (uncertain)"."""
        if self.kind == "appeared":
            return f"{self.observation} appeared ({self.steered})"
        if self.kind == "disappeared":
            return f"{self.observation} disappeared (was {self.baseline})"
        if self.kind == "certainty_changed":
            return f"{self.observation}: {self.baseline} → {self.steered}"
        return f"{self.observation}: {self.baseline}"

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready dict of the fields and the description."""
        return {
            "observation": self.observation,
            "kind": self.kind,
            "baseline": str(self.baseline),
            "steered": str(self.steered),
            "description": self.description,
            "baseline_sentences": list(self.baseline_sentences),
            "steered_sentences": list(self.steered_sentences),
        }


def _kind(baseline: Label, steered: Label) -> ChangeKind:
    if baseline == steered:
        return "unchanged"
    if (baseline in _PRESENT) == (steered in _PRESENT):
        return "certainty_changed"
    return "appeared" if steered in _PRESENT else "disappeared"


def _sentences(mentions: list[Mention], observation: str) -> tuple[str, ...]:
    return tuple(
        dict.fromkeys(
            mention.sentence for mention in mentions if mention.observation == observation
        )
    )


def compare_findings(baseline_text: str, steered_text: str) -> list[FindingChange]:
    """Per-observation changes, changed ones first (appeared, disappeared, certainty changed),
    then the unchanged observations that either report mentions; CheXpert order within a kind.
    A finding is present when positive or uncertain; moving between positive and uncertain, or
    between negative and not mentioned, is a change of certainty."""
    baseline_mentions, steered_mentions = find_mentions(baseline_text), find_mentions(steered_text)
    baseline_labels = label_mentions(baseline_mentions)
    steered_labels = label_mentions(steered_mentions)
    changes = [
        FindingChange(
            observation=observation,
            kind=_kind(baseline_labels[observation], steered_labels[observation]),
            baseline=baseline_labels[observation],
            steered=steered_labels[observation],
            baseline_sentences=_sentences(baseline_mentions, observation),
            steered_sentences=_sentences(steered_mentions, observation),
        )
        for observation in OBSERVATIONS
        if baseline_labels[observation] != Label.ABSENT
        or baseline_labels[observation] != steered_labels[observation]
    ]
    return sorted(changes, key=lambda change: KINDS.index(change.kind))


def summarize(changes: list[FindingChange]) -> dict[ChangeKind, int]:
    """How many observations fall into each kind of change."""
    return {kind: sum(change.kind == kind for change in changes) for kind in KINDS}
