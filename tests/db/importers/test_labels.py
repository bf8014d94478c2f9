"""refresh_primary_labels: the feature row mirrors its best held-out explanation."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.labels import refresh_primary_labels
from db.models import Explanation, Feature, Sae, Score
from tests.db.importers.helpers import add_sae


def explain(
    session: Session, sae: Sae, index: int, text: str, key: str, **f1_by_split: float
) -> Explanation:
    feature_id = session.scalar(
        select(Feature.id).where(Feature.sae_id == sae.id, Feature.index == index)
    )
    explanation = Explanation(feature_id=feature_id, text=text, source="llm", source_key=key)
    explanation.scores = [
        Score(kind="detection", split=split, f1=f1) for split, f1 in f1_by_split.items()
    ]
    session.add(explanation)
    session.flush()
    return explanation


def labels(session: Session, sae: Sae) -> dict[int, tuple[str | None, float | None]]:
    rows = session.execute(
        select(Feature.index, Feature.label, Feature.f1)
        .where(Feature.sae_id == sae.id)
        .order_by(Feature.index)
    )
    return {index: (label, f1) for index, label, f1 in rows}


def test_best_heldout_f1_wins_and_unscored_features_still_get_a_label(session: Session) -> None:
    sae = add_sae(session, d_sae=4)
    explain(session, sae, 0, "effusion", "a", heldout=0.4, train=0.99)
    explain(session, sae, 0, "pleural effusion", "b", heldout=0.8, train=0.1)
    explain(session, sae, 1, "unscored", "a")
    explain(session, sae, 2, "train only", "a", train=0.9)
    explain(session, sae, 2, "held-out scored", "b", heldout=0.2)

    changed = refresh_primary_labels(session, sae.id)

    assert changed == 3
    assert labels(session, sae) == {
        0: ("pleural effusion", 0.8),
        1: ("unscored", None),
        2: ("held-out scored", 0.2),
        3: (None, None),
    }


def test_ties_go_to_the_newest_explanation(session: Session) -> None:
    sae = add_sae(session, d_sae=1)
    explain(session, sae, 0, "older", "a", heldout=0.5)
    explain(session, sae, 0, "newer", "b", heldout=0.5)
    refresh_primary_labels(session, sae.id)
    assert labels(session, sae)[0] == ("newer", 0.5)


def test_refresh_clears_labels_of_deleted_explanations_and_skips_unchanged_rows(
    session: Session,
) -> None:
    sae = add_sae(session, d_sae=2)
    kept = explain(session, sae, 0, "kept", "a", heldout=0.6)
    dropped = explain(session, sae, 1, "dropped", "a", heldout=0.7)
    refresh_primary_labels(session, sae.id)
    session.delete(dropped)
    session.flush()

    assert refresh_primary_labels(session, sae.id) == 1
    assert labels(session, sae) == {0: ("kept", 0.6), 1: (None, None)}
    assert refresh_primary_labels(session, sae.id) == 0
    assert kept.id is not None


def test_refresh_touches_only_the_given_sae(session: Session) -> None:
    first = add_sae(session, slug="first", d_sae=1)
    second = add_sae(session, slug="second", d_sae=1)
    explain(session, first, 0, "first label", "a", heldout=0.3)
    explain(session, second, 0, "second label", "a", heldout=0.3)
    refresh_primary_labels(session, first.id)
    assert labels(session, first)[0] == ("first label", 0.3)
    assert labels(session, second)[0] == (None, None)
