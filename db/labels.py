"""Keeps features.label / features.f1 in step with each feature's primary explanation."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.orm import Session

from db.settings import LABEL_KINDS, get_settings

PRIMARY_SCORE_KIND = "detection"
PRIMARY_SCORE_SPLIT = "heldout"

# One set-based statement. The primary explanation of a feature is chosen by its kind first
# (adjudicated or consensus human label, from a `human` explanation's provenance.kind, or any
# other label), ranked in the order of the precedence setting; then by the highest held-out
# detection F1 (explanations without such a score rank last); ties go to the newest (created_at,
# then id). Features that lost all their explanations get NULL label and f1. Rows whose values
# do not change are not rewritten (their label_tsv is not recomputed).
# `{only_*}` are empty or fixed conditions on a list of feature ids, never user text.
_REFRESH = """
    UPDATE features AS f
    SET label = primary_explanation.text, f1 = primary_explanation.f1
    FROM features AS target
    LEFT JOIN (
        SELECT DISTINCT ON (e.feature_id) e.feature_id, e.text, s.f1
        FROM explanations AS e
        JOIN features AS owner ON owner.id = e.feature_id AND owner.sae_id = :sae_id
        LEFT JOIN scores AS s
            ON s.explanation_id = e.id AND s.kind = :kind AND s.split = :split
        WHERE true {only_owner}
        ORDER BY e.feature_id,
            CASE WHEN e.source <> 'human' THEN :rank_llm
                 WHEN e.provenance->>'kind' = 'adjudicated' THEN :rank_adjudicated
                 WHEN e.provenance->>'kind' = 'consensus' THEN :rank_consensus
                 ELSE :rank_llm END,
            s.f1 DESC NULLS LAST, e.created_at DESC, e.id DESC
    ) AS primary_explanation ON primary_explanation.feature_id = target.id
    WHERE target.sae_id = :sae_id {only_target}
      AND f.id = target.id
      AND (f.label IS DISTINCT FROM primary_explanation.text
           OR f.f1 IS DISTINCT FROM primary_explanation.f1)
    """


def refresh_primary_labels(
    session: Session,
    sae_id: int,
    *,
    feature_ids: Sequence[int] | None = None,
    precedence: Sequence[str] | None = None,
) -> int:
    """Copy each feature's primary explanation text and held-out F1 onto the feature row.

    `feature_ids` limits the refresh to those features; `precedence` orders the label kinds
    (default: the `label_precedence` setting). Returns the number of feature rows that changed.
    """
    order = list(precedence or get_settings().label_order)
    order += [kind for kind in LABEL_KINDS if kind not in order]
    params = {"sae_id": sae_id, "kind": PRIMARY_SCORE_KIND, "split": PRIMARY_SCORE_SPLIT}
    params |= {
        "rank_adjudicated": order.index("adjudicated"),
        "rank_consensus": order.index("consensus"),
        "rank_llm": order.index("llm-best"),
    }
    only_owner = only_target = ""
    if feature_ids is not None:
        only_owner, only_target = "AND owner.id = ANY(:ids)", "AND target.id = ANY(:ids)"
        params["ids"] = list(feature_ids)
    sql = _REFRESH.format(only_owner=only_owner, only_target=only_target)
    return session.execute(text(sql), params).rowcount
