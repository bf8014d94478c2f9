"""Keeps features.label / features.f1 in step with each feature's primary explanation."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

PRIMARY_SCORE_KIND = "detection"
PRIMARY_SCORE_SPLIT = "heldout"

# One set-based statement. The primary explanation of a feature is the one with the highest
# held-out detection F1; explanations without such a score rank last; ties go to the newest
# (created_at, then id). Features that lost all their explanations get NULL label and f1. Rows whose
# values do not change are not rewritten (their label_tsv is not recomputed).
_REFRESH = text(
    """
    UPDATE features AS f
    SET label = primary_explanation.text, f1 = primary_explanation.f1
    FROM features AS target
    LEFT JOIN (
        SELECT DISTINCT ON (e.feature_id) e.feature_id, e.text, s.f1
        FROM explanations AS e
        JOIN features AS owner ON owner.id = e.feature_id AND owner.sae_id = :sae_id
        LEFT JOIN scores AS s
            ON s.explanation_id = e.id AND s.kind = :kind AND s.split = :split
        ORDER BY e.feature_id, s.f1 DESC NULLS LAST, e.created_at DESC, e.id DESC
    ) AS primary_explanation ON primary_explanation.feature_id = target.id
    WHERE target.sae_id = :sae_id
      AND f.id = target.id
      AND (f.label IS DISTINCT FROM primary_explanation.text
           OR f.f1 IS DISTINCT FROM primary_explanation.f1)
    """
)


def refresh_primary_labels(session: Session, sae_id: int) -> int:
    """Copy each feature's primary explanation text and held-out F1 onto the feature row.

    Returns the number of feature rows that changed.
    """
    result = session.execute(
        _REFRESH, {"sae_id": sae_id, "kind": PRIMARY_SCORE_KIND, "split": PRIMARY_SCORE_SPLIT}
    )
    return result.rowcount
