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
  feature's reviewers in the campaign (their count is the item's `n_ratings`), shown in its
  most frequent spelling (ties: the lowest reviewer id's); provenance {kind: 'consensus',
  campaign_id, reviewer_ids}.

Everything is set-based: one statement writes the human labels of all the features concerned,
one their summaries (rows whose values stay the same are not rewritten), then the shown labels
of the features whose human labels changed. Closing a campaign over 32,768 features with
100,000 ratings takes under 2 s (bench/bench_review_stats.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from sqlalchemy import TextClause, text
from sqlalchemy.orm import Session

from db.aggregates import refresh_sae_aggregates
from db.labels import refresh_primary_labels

VISIBLE = "(c.status = 'closed' OR NOT c.blinded)"
MIN_CONSENSUS = 2
DISPUTED_SPREAD = 2
RATINGS = range(1, 6)

_TARGET = """
    target AS (
        SELECT DISTINCT f.id, f.index
        FROM campaign_items AS i
        JOIN features AS f ON f.sae_id = :sae AND f.index = i.feature_index
        WHERE i.campaign_id = :c AND NOT i.is_decoy {only}
    )"""
"""The features to refresh: the campaign's reviewed features (or those of them in `:indices`);
the statements below start `WITH {target}`."""
_ONLY = "AND i.feature_index = ANY(CAST(:indices AS integer[]))"

_WITHIN_ONE = " + ".join(f"c{v} * (abs({v} - median) <= 1)::int" for v in RATINGS)
_COUNTS = ", ".join(f"count(*) FILTER (WHERE rating = {v}) AS c{v}" for v in RATINGS)
_SUMMARY = f"""
    WITH {{target}}, rated AS (
        SELECT t.id AS feature_id, r.rating, r.reviewer_id
        FROM target AS t
        JOIN campaigns AS c ON c.sae_id = :sae AND {VISIBLE}
        JOIN campaign_items AS i
            ON i.campaign_id = c.id AND i.feature_index = t.index AND NOT i.is_decoy
        JOIN ratings AS r ON r.item_id = i.id AND NOT r.skipped
    ), counted AS (
        SELECT feature_id, avg(rating)::float AS mean, count(*) AS n,
            count(DISTINCT reviewer_id) AS reviewers, max(rating) - min(rating) AS spread,
            percentile_cont(0.5) WITHIN GROUP (ORDER BY rating) AS median, {_COUNTS}
        FROM rated GROUP BY feature_id
    ), adjudicated AS (
        SELECT DISTINCT t.id AS feature_id
        FROM target AS t
        JOIN adjudications AS a ON a.feature_index = t.index
        JOIN campaigns AS c ON c.id = a.campaign_id AND c.sae_id = :sae AND {VISIBLE}
    ), summary AS (
        SELECT t.id,
            CASE WHEN s.spread >= {DISPUTED_SPREAD} AND adj.feature_id IS NULL THEN 'disputed'
                 WHEN s.n IS NOT NULL OR adj.feature_id IS NOT NULL THEN 'reviewed' END AS state,
            s.mean, s.n, s.reviewers, ({_WITHIN_ONE})::float / s.n AS agreement
        FROM target AS t
        LEFT JOIN counted AS s ON s.feature_id = t.id
        LEFT JOIN adjudicated AS adj ON adj.feature_id = t.id
    )
    UPDATE features AS f SET
        review_state = s.state, review_mean = s.mean, review_n = s.n,
        review_reviewers = s.reviewers, review_agreement = s.agreement
    FROM summary AS s
    WHERE f.id = s.id
      AND (f.review_state, f.review_mean, f.review_n, f.review_reviewers, f.review_agreement)
          IS DISTINCT FROM (s.state, s.mean, s.n, s.reviewers, s.agreement)
    """
_SPELLING = (
    r"regexp_replace(btrim(regexp_replace(r.corrected_label, '\s+', ' ', 'g')), "
    r"'[\s.,;:!]+$', '')"
)
"""A corrected label as shown: single-spaced, trimmed, no trailing punctuation; compared for
consensus in lower case."""
_HUMAN_LABELS = f"""
    WITH {{target}}, verdicts AS (
        SELECT t.id AS feature_id,
            CASE a.verdict WHEN 'corrected' THEN a.corrected_label
                           WHEN 'correct' THEN e.text END AS label,
            jsonb_build_object('kind', 'adjudicated', 'campaign_id', CAST(:c AS integer),
                               'adjudicator_id', a.adjudicator_id, 'verdict', a.verdict)
                AS provenance
        FROM target AS t
        JOIN adjudications AS a ON a.campaign_id = :c AND a.feature_index = t.index
        LEFT JOIN campaign_items AS i
            ON i.campaign_id = :c AND i.feature_index = t.index AND NOT i.is_decoy
        LEFT JOIN explanations AS e ON e.id = i.explanation_id
    ), answers AS (
        SELECT t.id AS feature_id, r.reviewer_id, {_SPELLING} AS spelling,
            i.n_ratings AS answered
        FROM target AS t
        JOIN campaign_items AS i
            ON i.campaign_id = :c AND i.feature_index = t.index AND NOT i.is_decoy
        JOIN ratings AS r
            ON r.item_id = i.id AND NOT r.skipped AND r.corrected_label IS NOT NULL
        WHERE NOT EXISTS (SELECT FROM verdicts AS v WHERE v.feature_id = t.id)
    ), spellings AS (
        SELECT feature_id, lower(spelling) AS norm, spelling, count(*) AS n,
            min(reviewer_id) AS first, max(answered) AS answered
        FROM answers WHERE spelling <> '' GROUP BY feature_id, spelling
    ), agreed AS (
        SELECT feature_id, norm FROM spellings GROUP BY feature_id, norm
        HAVING sum(n) >= {MIN_CONSENSUS} AND 2 * sum(n) > max(answered)
    ), agreeing AS (
        SELECT a.feature_id, jsonb_agg(a.reviewer_id ORDER BY a.reviewer_id) AS reviewer_ids
        FROM answers AS a JOIN agreed AS g
            ON g.feature_id = a.feature_id AND g.norm = lower(a.spelling)
        GROUP BY a.feature_id
    ), consensus AS (
        SELECT DISTINCT ON (s.feature_id) s.feature_id, s.spelling AS label,
            jsonb_build_object('kind', 'consensus', 'campaign_id', CAST(:c AS integer),
                               'reviewer_ids', g.reviewer_ids) AS provenance
        FROM spellings AS s
        JOIN agreed USING (feature_id, norm)
        JOIN agreeing AS g USING (feature_id)
        ORDER BY s.feature_id, s.n DESC, s.first
    ), wanted AS (
        SELECT feature_id, label, CAST(:adjudicated AS text) AS source_key, provenance
        FROM verdicts WHERE label <> '' AND CAST(:visible AS boolean)
        UNION ALL
        SELECT feature_id, label, CAST(:consensus AS text), provenance
        FROM consensus WHERE CAST(:visible AS boolean)
    ), dropped AS (
        DELETE FROM explanations AS e USING target AS t
        WHERE e.feature_id = t.id AND e.source = 'human'
          AND e.source_key IN (:adjudicated, :consensus)
          AND NOT EXISTS (SELECT FROM wanted AS w
                          WHERE w.feature_id = e.feature_id AND w.source_key = e.source_key)
        RETURNING e.feature_id
    ), written AS (
        INSERT INTO explanations (feature_id, text, source, source_key, provenance)
        SELECT feature_id, label, 'human', source_key, provenance FROM wanted
        ON CONFLICT (feature_id, source_key) DO UPDATE
        SET text = excluded.text, source = excluded.source, provenance = excluded.provenance
        WHERE (explanations.text, explanations.provenance)
            IS DISTINCT FROM (excluded.text, excluded.provenance)
        RETURNING feature_id
    )
    SELECT feature_id FROM dropped UNION SELECT feature_id FROM written
    """
"""Writes the campaign's human labels on the target features, drops those no longer due, and
returns the ids of the features whose human labels changed."""
_CAMPAIGN = text(f"SELECT c.sae_id, {VISIBLE} AS visible FROM campaigns AS c WHERE c.id = :c")


@lru_cache(maxsize=4)
def _statement(sql: str, subset: bool) -> TextClause:
    """`sql` over all the campaign's reviewed features, or (`subset`) those in `:indices`."""
    return text(sql.replace("{target}", _TARGET.format(only=_ONLY if subset else "")))


def source_key(campaign_id: int, kind: str) -> str:
    """The `source_key` of a campaign's human label of one kind ('adjudicated', 'consensus')."""
    return f"review:{campaign_id}:{kind}"


def refresh_outcomes(
    session: Session, campaign_id: int, feature_indices: Sequence[int] | None = None
) -> None:
    """Bring the review summaries and human labels of an existing campaign's features (or only
    `feature_indices`) in step after its ratings, verdicts or status changed, then the shown
    labels and, when one changed, the SAE's aggregates; in the caller's transaction."""
    sae_id, visible = session.execute(_CAMPAIGN, {"c": campaign_id}).one()
    params = {"c": campaign_id, "sae": sae_id}
    if feature_indices is not None:
        params["indices"] = sorted({int(i) for i in feature_indices})
    subset = feature_indices is not None
    keys = {kind: source_key(campaign_id, kind) for kind in ("adjudicated", "consensus")}
    labels = _statement(_HUMAN_LABELS, subset)
    changed = session.scalars(labels, params | keys | {"visible": visible}).all()
    session.execute(_statement(_SUMMARY, subset), params)
    if changed and refresh_primary_labels(session, sae_id, feature_ids=changed):
        refresh_sae_aggregates(session, sae_id)
