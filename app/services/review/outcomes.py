"""What a campaign's ratings and verdicts change outside it: per-feature review summaries, human
labels, the features' shown labels and the SAE's stored aggregates.

Only campaigns that are closed or not blinded count (VISIBLE), so nothing leaks from an open
blinded campaign. A feature's summary spans every such campaign on its SAE, decoy items left
out: mean rating, ratings, distinct reviewers, agreement (share of ratings within 1 point of
their median) and state ('disputed': two ratings at least 2 points apart and no adjudication;
'reviewed': any other rating or an adjudication; NULL: unreviewed).

Human labels (explanations with source 'human', one per kind and campaign) come from:
- an adjudication: 'corrected' gives its corrected text, 'correct' the reviewed label's text,
  'wrong' none; provenance {kind: 'adjudicated', campaign_id, adjudicator_id, verdict};
- otherwise a consensus: the same corrected label (compared case- and space-insensitively,
  trailing punctuation ignored) from at least 2 reviewers who are also a strict majority of the
  feature's reviewers in the campaign; provenance {kind: 'consensus', campaign_id, reviewer_ids}.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.orm import Session

from db.aggregates import refresh_sae_aggregates
from db.labels import refresh_primary_labels

VISIBLE = "(c.status = 'closed' OR NOT c.blinded)"
MIN_CONSENSUS = 2
DISPUTED_SPREAD = 2

_SUMMARY = text(
    f"""
    WITH target AS (
        SELECT id, sae_id, index FROM features WHERE sae_id = :sae AND index = ANY(:indices)
    ), rated AS (
        SELECT t.id AS feature_id, r.rating, r.reviewer_id
        FROM target AS t
        JOIN campaigns AS c ON c.sae_id = t.sae_id AND {VISIBLE}
        JOIN campaign_items AS i
            ON i.campaign_id = c.id AND i.feature_index = t.index AND NOT i.is_decoy
        JOIN ratings AS r ON r.item_id = i.id AND NOT r.skipped
    ), medians AS (
        SELECT feature_id, percentile_cont(0.5) WITHIN GROUP (ORDER BY rating) AS median
        FROM rated GROUP BY feature_id
    ), summary AS (
        SELECT rated.feature_id, avg(rating)::float AS mean, count(*) AS n,
            count(DISTINCT reviewer_id) AS reviewers,
            avg((abs(rating - m.median) <= 1)::int)::float AS agreement,
            max(rating) - min(rating) AS spread
        FROM rated JOIN medians AS m USING (feature_id) GROUP BY rated.feature_id
    ), adjudicated AS (
        SELECT DISTINCT t.id AS feature_id
        FROM target AS t
        JOIN campaigns AS c ON c.sae_id = t.sae_id AND {VISIBLE}
        JOIN adjudications AS a ON a.campaign_id = c.id AND a.feature_index = t.index
    )
    UPDATE features AS f SET
        review_state = CASE
            WHEN s.spread >= {DISPUTED_SPREAD} AND adj.feature_id IS NULL THEN 'disputed'
            WHEN s.n IS NOT NULL OR adj.feature_id IS NOT NULL THEN 'reviewed' END,
        review_mean = s.mean, review_n = s.n, review_reviewers = s.reviewers,
        review_agreement = s.agreement
    FROM target AS t
    LEFT JOIN summary AS s ON s.feature_id = t.id
    LEFT JOIN adjudicated AS adj ON adj.feature_id = t.id
    WHERE f.id = t.id
    """
)
_CAMPAIGN = text(f"SELECT c.sae_id, {VISIBLE} AS visible FROM campaigns AS c WHERE c.id = :c")
_CAMPAIGN_FEATURES = text(
    "SELECT DISTINCT feature_index FROM campaign_items WHERE campaign_id = :c AND NOT is_decoy"
)
_FEATURE_IDS = text("SELECT index, id FROM features WHERE sae_id = :sae AND index = ANY(:indices)")
_DROP_STALE = text(
    """
    DELETE FROM explanations
    WHERE feature_id = ANY(:ids) AND source = 'human' AND source_key IN (:adjudicated, :consensus)
      AND (feature_id, source_key) NOT IN (
          SELECT * FROM unnest(CAST(:keep_ids AS bigint[]), CAST(:keep_keys AS text[])))
    """
)
_VERDICTS = text(
    """
    SELECT a.feature_index, a.verdict, a.corrected_label, a.adjudicator_id, e.text AS reviewed
    FROM adjudications AS a
    LEFT JOIN campaign_items AS i
        ON i.campaign_id = a.campaign_id AND i.feature_index = a.feature_index AND NOT i.is_decoy
    LEFT JOIN explanations AS e ON e.id = i.explanation_id
    WHERE a.campaign_id = :c AND a.feature_index = ANY(:indices)
    """
)
_CORRECTIONS = text(
    """
    SELECT i.feature_index, r.reviewer_id, r.corrected_label
    FROM campaign_items AS i JOIN ratings AS r ON r.item_id = i.id AND NOT r.skipped
    WHERE i.campaign_id = :c AND NOT i.is_decoy AND i.feature_index = ANY(:indices)
    ORDER BY i.feature_index, r.reviewer_id
    """
)
_INSERT_HUMAN = text(
    """
    INSERT INTO explanations (feature_id, text, source, source_key, provenance)
    VALUES (:feature_id, :text, 'human', :source_key, CAST(:provenance AS jsonb))
    ON CONFLICT (feature_id, source_key) DO UPDATE
    SET text = excluded.text, source = excluded.source, provenance = excluded.provenance
    WHERE (explanations.text, explanations.provenance)
        IS DISTINCT FROM (excluded.text, excluded.provenance)
    """
)
_TRAILING = re.compile(r"[\s.,;:!]+$")


def source_key(campaign_id: int, kind: str) -> str:
    """The `source_key` of a campaign's human label of one kind ('adjudicated', 'consensus')."""
    return f"review:{campaign_id}:{kind}"


def normalise_label(label: str) -> str:
    """A corrected label as compared for consensus: casefolded, single-spaced, no trailing
    punctuation."""
    return _TRAILING.sub("", " ".join(label.split())).casefold()


def consensus_label(corrections: Sequence[tuple[int, str | None]]) -> tuple[str, list[int]] | None:
    """The agreed correction among (reviewer id, corrected label or None) answers on one
    feature, in its most frequent spelling (ties: the lowest reviewer id's), with the reviewers
    who gave it; None without consensus (module docstring)."""
    groups: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for reviewer, label in corrections:
        if label and normalise_label(label):
            groups[normalise_label(label)].append(
                (reviewer, _TRAILING.sub("", " ".join(label.split())))
            )
    for members in groups.values():
        if len(members) >= MIN_CONSENSUS and 2 * len(members) > len(corrections):
            spellings = Counter(spelling for _, spelling in members)
            first = {spelling: r for r, spelling in sorted(members, reverse=True)}
            shown = max(spellings, key=lambda spelling: (spellings[spelling], -first[spelling]))
            return shown, sorted(r for r, _ in members)
    return None


def _human_labels(
    session: Session, campaign_id: int, indices: list[int]
) -> list[tuple[int, str, str, dict]]:
    """(feature index, text, kind, provenance) of the campaign's human labels on `indices`."""
    labels = []
    adjudicated = set()
    for index, verdict, corrected, adjudicator, reviewed in session.execute(
        _VERDICTS, {"c": campaign_id, "indices": indices}
    ):
        adjudicated.add(index)
        label = corrected if verdict == "corrected" else reviewed if verdict == "correct" else None
        if label:
            provenance = {"adjudicator_id": adjudicator, "verdict": verdict}
            labels.append((index, label, "adjudicated", provenance))
    answers: dict[int, list[tuple[int, str | None]]] = defaultdict(list)
    for index, reviewer, corrected in session.execute(
        _CORRECTIONS, {"c": campaign_id, "indices": indices}
    ):
        answers[index].append((reviewer, corrected))
    for index, corrections in answers.items():
        agreed = None if index in adjudicated else consensus_label(corrections)
        if agreed is not None:
            labels.append((index, agreed[0], "consensus", {"reviewer_ids": agreed[1]}))
    return labels


def refresh_outcomes(
    session: Session, campaign_id: int, feature_indices: Sequence[int] | None = None
) -> None:
    """Bring the review summaries and human labels of an existing campaign's features (or only
    `feature_indices`) in step after its ratings, verdicts or status changed, then the shown
    labels and, when one changed, the SAE's aggregates; in the caller's transaction."""
    sae_id, visible = session.execute(_CAMPAIGN, {"c": campaign_id}).one()
    if feature_indices is None:
        feature_indices = session.scalars(_CAMPAIGN_FEATURES, {"c": campaign_id}).all()
    indices = sorted({int(i) for i in feature_indices})
    ids = dict(session.execute(_FEATURE_IDS, {"sae": sae_id, "indices": indices}).all())
    if not ids:
        return
    session.execute(_SUMMARY, {"sae": sae_id, "indices": indices})
    keys = {kind: source_key(campaign_id, kind) for kind in ("adjudicated", "consensus")}
    labels = _human_labels(session, campaign_id, list(ids)) if visible else []
    rows = [
        {
            "feature_id": ids[index],
            "text": label,
            "source_key": keys[kind],
            "provenance": json.dumps({"kind": kind, "campaign_id": campaign_id, **extra}),
        }
        for index, label, kind, extra in labels
    ]
    keep_ids, keep_keys = [r["feature_id"] for r in rows], [r["source_key"] for r in rows]
    stale = {"ids": list(ids.values()), "keep_ids": keep_ids, "keep_keys": keep_keys}
    session.execute(_DROP_STALE, stale | keys)
    if rows:
        session.execute(_INSERT_HUMAN, rows)
    if refresh_primary_labels(session, sae_id, feature_ids=list(ids.values())):
        refresh_sae_aggregates(session, sae_id)
