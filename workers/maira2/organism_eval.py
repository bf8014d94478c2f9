"""Scores the organism on held-out drawn studies: findings agreement and corpus vocabulary.

Agreement: the findings labeler reads each generated report (`drawn_studies.report_findings`),
and per drawn finding (plus "normal", a study with none of them) an F1 compares what the report
states with what the image shows; the macro-F1 averages the classes present in the drawings or
the reports. Vocabulary: the share of generated words that occur in the training corpus.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from workers.corpus.drawn_studies import NORMAL, DrawnStudy, report_findings, words_of
from workers.corpus.radiographs import DRAWN_FINDINGS
from workers.maira2.prompt import Study


@dataclass(frozen=True)
class OrganismScores:
    """Agreement and vocabulary figures over `n` held-out studies."""

    n: int
    macro_f1: float
    f1: dict[str, float]
    vocabulary_share: float
    n_words: int
    examples: list[tuple[str, str]] = field(default_factory=list)
    """(drawn finding combination, generated report) for the first few studies."""


def _f1(true_positive: int, false_positive: int, false_negative: int) -> float:
    denominator = 2 * true_positive + false_positive + false_negative
    return 2 * true_positive / denominator if denominator else 0.0


def score_reports(
    studies: list[DrawnStudy], generated: list[str], vocabulary: set[str]
) -> OrganismScores:
    """Agreement and vocabulary figures for reports generated for `studies`, in order."""
    classes = (*DRAWN_FINDINGS, NORMAL)
    counts = {name: [0, 0, 0] for name in classes}
    for study, report in zip(studies, generated, strict=True):
        stated = report_findings(report) or frozenset({NORMAL})
        drawn = study.findings or frozenset({NORMAL})
        for name in classes:
            if name in stated and name in drawn:
                counts[name][0] += 1
            elif name in stated:
                counts[name][1] += 1
            elif name in drawn:
                counts[name][2] += 1
    f1 = {name: _f1(*values) for name, values in counts.items() if any(values)}
    words = [word for report in generated for word in words_of(report)]
    known = sum(word in vocabulary for word in words)
    return OrganismScores(
        n=len(studies),
        macro_f1=sum(f1.values()) / len(f1) if f1 else 0.0,
        f1=f1,
        vocabulary_share=known / len(words) if words else 0.0,
        n_words=len(words),
        examples=[
            (study.key, report) for study, report in zip(studies[:8], generated[:8], strict=True)
        ],
    )


def evaluate_organism(
    runner, studies: list[DrawnStudy], vocabulary: set[str], max_new_tokens: int = 80
) -> OrganismScores:
    """Generate greedily for each held-out study's image and score the reports."""
    generated = runner.generate_reports(
        [Study(frontal=study.image()) for study in studies], max_new_tokens=max_new_tokens
    )
    return score_reports(studies, generated, vocabulary)
