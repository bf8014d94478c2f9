"""Search across SAEs: explanations ranked by relevance, plus exact feature references.

Relevance is the full-text rank (normalised by label length) plus, where PostgreSQL has pg_trgm,
trigram similarity of the whole label and of its closest words to the query, so "efusion" finds
"effusion" and a label equal to the query comes first. The ranking work is bounded: at most
CANDIDATES explanations per index lookup (full text, equal label, similar words) are ranked,
whatever the number of matches.
"""

from __future__ import annotations

import re

from sqlalchemy import text
from sqlalchemy.orm import Session

from app.schemas.search import FeatureJump, SearchHit, SearchResults
from app.services.counts import planner_estimate, round_estimate

CANDIDATES = 300

_FEATURE_REFERENCE = re.compile(r"^\s*(?P<sae>[A-Za-z0-9][\w.-]*)\s*[/#:]\s*(?P<index>\d{1,9})\s*$")
# Web-search syntax: a quoted phrase, an excluded word or an OR makes the query exact.
_OPERATORS = re.compile(r'"|(^|\s)-\S|\bor\b', re.IGNORECASE)

_REFERENCE = text("""
SELECT s.slug AS sae, s.d_sae,
    EXISTS (SELECT 1 FROM features f WHERE f.sae_id = s.id AND f.index = :index) AS stored
FROM saes s WHERE s.slug = :sae
""")

_INDEXES_ONLY = text(
    "SELECT current_setting('enable_seqscan'), set_config('enable_seqscan', 'off', true)"
)
_RESTORE = text("SELECT set_config('enable_seqscan', :previous, true)")
_HAS_TRIGRAMS = text("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm')")

# Each lookup ranks at most :n rows it reads from an index; nothing is ranked twice over.
_LOOKUP = """(SELECT e.id, e.feature_id, e.text, e.source, {rank} AS rank
    FROM explanations e, query WHERE {where} LIMIT :n)"""
_FULL_TEXT_RANK = "ts_rank(e.text_tsv, query.tsq, 1)"
_TRIGRAM_RANK = _FULL_TEXT_RANK + " + similarity(e.text, :q) + word_similarity(:q, e.text)"
_FULL_TEXT = "e.text_tsv @@ query.tsq"
# A label equal to the query (case aside; b-tree index), then labels with words like the query's
# (trigram GIN index).
_EXACT = "lower(e.text) = lower(:q)"
_TRIGRAM = ":q <% e.text"

_SEARCH = """
WITH query AS (SELECT websearch_to_tsquery('english', :q) AS tsq),
candidates AS ({lookups}),
hits AS (
    SELECT DISTINCT ON (id) id, feature_id, text, source, rank FROM candidates ORDER BY id
),
best AS (
    SELECT hits.*, count(*) OVER () AS found FROM hits ORDER BY rank DESC, id LIMIT :limit
)
SELECT s.slug AS sae, f.index, best.text, best.source, f.label AS feature_label,
    coalesce(best.text = f.label, false) AS is_primary, f.f1, f.frequency, best.rank, best.found
FROM best JOIN features f ON f.id = best.feature_id JOIN saes s ON s.id = f.sae_id
ORDER BY best.rank DESC, f.f1 DESC NULLS LAST, best.id
"""


def _search_sql(fuzzy: bool) -> str:
    rank = _TRIGRAM_RANK if fuzzy else _FULL_TEXT_RANK
    wheres = [_FULL_TEXT, _EXACT, *([_TRIGRAM] if fuzzy else [])]
    lookups = " UNION ALL ".join(_LOOKUP.format(rank=rank, where=where) for where in wheres)
    return _SEARCH.format(lookups=lookups)


_SEARCH_SQL = {fuzzy: text(_search_sql(fuzzy)) for fuzzy in (False, True)}
_trigram_support: dict[str, bool] = {}


def has_trigrams(session: Session) -> bool:
    """Whether the database has pg_trgm (asked once per database URL)."""
    bind = session.get_bind()
    key = str(bind.engine.url)
    if key not in _trigram_support:
        _trigram_support[key] = bool(session.execute(_HAS_TRIGRAMS).scalar_one())
    return _trigram_support[key]


def find_feature_reference(session: Session, q: str) -> tuple[FeatureJump | None, str | None]:
    """For a query like 'sae-slug/123': the feature to jump to, or why there is none.

    Returns (None, None) when `q` is not such a reference or names no SAE (then it is searched
    as words).
    """
    match = _FEATURE_REFERENCE.match(q)
    if match is None:
        return None, None
    index = int(match["index"])
    row = session.execute(_REFERENCE, {"sae": match["sae"], "index": index}).first()
    if row is None:
        return None, None
    if row.stored:
        return FeatureJump(sae=row.sae, index=index), None
    if index >= row.d_sae:
        return None, (
            f"There is no feature {index:,} in SAE {row.sae} "
            f"(it has {row.d_sae:,} features, 0 to {row.d_sae - 1:,})."
        )
    return None, f"Feature {index:,} of SAE {row.sae} has no stored data."


def search(session: Session, *, q: str, limit: int) -> SearchResults:
    """Explanations matching `q` across every SAE, best first, and a feature `q` names exactly."""
    jump, notice = find_feature_reference(session, q)
    if jump is not None or notice is not None:
        return SearchResults(q=q, jump=jump, notice=notice, data=[], count=0, total=0)
    fuzzy = has_trigrams(session) and not _OPERATORS.search(q)
    params = {"q": q, "n": CANDIDATES, "limit": limit}
    # The planner cannot tell how selective a trigram match is and may pick a sequential scan
    # "until LIMIT rows match", which reads the whole table when few do: use the indexes.
    previous = session.execute(_INDEXES_ONLY).scalar_one()
    rows = session.execute(_SEARCH_SQL[fuzzy], params).mappings().all()
    session.execute(_RESTORE, {"previous": previous})
    hits = [SearchHit.model_validate(dict(row)) for row in rows]
    found = rows[0]["found"] if rows else 0
    total, exact = found, found < CANDIDATES
    if not exact:
        estimate = planner_estimate(
            session,
            "SELECT 1 FROM explanations WHERE text_tsv @@ websearch_to_tsquery('english', :q)",
            {"q": q},
        )
        total = round_estimate(max(found, estimate))
    return SearchResults(
        q=q, jump=None, notice=None, data=hits, count=len(hits), total=total, total_exact=exact
    )
