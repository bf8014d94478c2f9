"""Maps an autointerp CSV's header to roles by case-insensitive aliases (names are undocumented)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from db.importers import ImporterError

INDEX_ALIASES = (
    "feature",
    "feature_idx",
    "feature_index",
    "feature_id",
    "latent",
    "latent_idx",
    "latent_index",
    "latent_id",
    "neuron",
    "index",
)
LABEL_ALIASES = ("explanation", "interpretation", "label", "description")
COUNT_ALIASES = ("n", "count", "n_active", "n_examples")
SPLIT_ALIASES = {
    "train": "train",
    "val": "heldout",
    "valid": "heldout",
    "validation": "heldout",
    "test": "heldout",
    "heldout": "heldout",
    "held_out": "heldout",
}
METRIC_ALIASES = {
    "accuracy": "accuracy",
    "acc": "accuracy",
    "balanced_accuracy": "balanced_accuracy",
    "balanced_acc": "balanced_accuracy",
    "precision": "precision",
    "recall": "recall",
    "f1": "f1",
    "f1_score": "f1",
}
SPLIT_COUNT_ALIASES = {"n": "n", "count": "n", "n_examples": "n"}
METRICS = ("accuracy", "balanced_accuracy", "precision", "recall", "f1")
SPLITS = ("train", "heldout")
SCORER_PREFIXES = ("detection_", "det_")


def normalise(name: str) -> str:
    """Lower case, every run of non-alphanumerics as one underscore: 'Val F1 ' -> 'val_f1'."""
    return re.sub(r"[^0-9a-z]+", "_", name.strip().lower()).strip("_")


def _split_and_metric(name: str) -> tuple[str, str] | None:
    """('heldout', 'f1') for 'val_f1', 'f1_test', 'detection_heldout_f1_score'; None otherwise."""
    for prefix in SCORER_PREFIXES:
        name = name.removeprefix(prefix)
    known = METRIC_ALIASES | SPLIT_COUNT_ALIASES
    for alias, split in sorted(SPLIT_ALIASES.items(), key=lambda item: -len(item[0])):
        if name.startswith(alias + "_"):
            rest = name[len(alias) + 1 :]
        elif name.endswith("_" + alias):
            rest = name[: -len(alias) - 1]
        else:
            continue
        if rest in known:
            return split, known[rest]
    return None


@dataclass
class ColumnMap:
    """Which CSV column (by position) plays which role; the rest are kept as extras."""

    index: int
    label: int
    metrics: dict[tuple[str, str], int] = field(default_factory=dict)
    count: int | None = None
    extras: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def describe(self, header: list[str]) -> list[str]:
        """'column -> role' lines for the command's summary."""
        lines = [f"{header[self.index]} -> feature index", f"{header[self.label]} -> label"]
        lines += [
            f"{header[position]} -> {split} {metric}"
            for (split, metric), position in self.metrics.items()
        ]
        if self.count is not None:
            lines.append(f"{header[self.count]} -> n")
        return lines


def map_columns(header: list[str], file_name: str) -> ColumnMap:
    """Assign roles to the header's columns, or raise ImporterError naming what is missing."""
    normalised = [normalise(name) for name in header]
    index = _first_match(normalised, INDEX_ALIASES)
    label = _first_match(normalised, LABEL_ALIASES)
    if index is None or label is None:
        missing = [
            f"no {role} column (accepted: {', '.join(aliases)})"
            for role, aliases, found in (
                ("feature-index", INDEX_ALIASES, index),
                ("label", LABEL_ALIASES, label),
            )
            if found is None
        ]
        seen = ", ".join(repr(name) for name in header) or "none"
        raise ImporterError(f"{file_name}: {'; '.join(missing)}; columns seen: {seen}")
    columns = ColumnMap(index=index, label=label)
    for position, name in enumerate(normalised):
        if position in (index, label):
            continue
        role = _split_and_metric(name)
        if role is not None and role not in columns.metrics:
            columns.metrics[role] = position
        elif role is None and name in COUNT_ALIASES and columns.count is None:
            columns.count = position
        else:
            if role is not None:
                first = header[columns.metrics[role]]
                columns.notes.append(
                    f"{header[position]!r} is another {role[0]} {role[1]} column "
                    f"(using {first!r}); kept as an extra"
                )
            columns.extras[header[position] or f"column {position + 1}"] = position
    return columns


def _first_match(normalised: list[str], aliases: tuple[str, ...]) -> int | None:
    for alias in aliases:
        if alias in normalised:
            return normalised.index(alias)
    return None
