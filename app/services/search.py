"""Search across SAEs: ranked full-text search over explanations, plus exact feature references."""

from __future__ import annotations

import re

from sqlalchemy import text
from sqlalchemy.orm import Session

from app.schemas.search import FeatureJump, SearchHit, SearchResults

_FEATURE_REFERENCE = re.compile(r"^\s*(?P<sae>[A-Za-z0-9][\w.-]*)\s*[/#:]\s*(?P<index>\d{1,9})\s*$")

_JUMP = text("""
SELECT s.slug AS sae, f.index FROM features f JOIN saes s ON s.id = f.sae_id
WHERE s.slug = :sae AND f.index = :index
""")

# Rank the best matches first, then join: ts_rank runs on every match, the joins on `limit` rows.
_SEARCH = text("""
WITH query AS (SELECT websearch_to_tsquery('english', :q) AS tsq),
hits AS (
    SELECT e.id, e.feature_id, e.text, e.source, ts_rank(e.text_tsv, query.tsq) AS rank,
        count(*) OVER () AS total
    FROM explanations e, query
    WHERE e.text_tsv @@ query.tsq
    ORDER BY rank DESC, e.id
    LIMIT :limit
)
SELECT s.slug AS sae, f.index, hits.text, hits.source, f.label AS feature_label,
    (hits.text = f.label) AS is_primary, f.f1, f.frequency, hits.rank, hits.total
FROM hits JOIN features f ON f.id = hits.feature_id JOIN saes s ON s.id = f.sae_id
ORDER BY hits.rank DESC, f.f1 DESC NULLS LAST, hits.id
""")


def find_feature_reference(session: Session, q: str) -> FeatureJump | None:
    """The stored feature an exact reference like 'sae-slug/123' names, or None."""
    match = _FEATURE_REFERENCE.match(q)
    if match is None:
        return None
    params = {"sae": match["sae"], "index": int(match["index"])}
    row = session.execute(_JUMP, params).mappings().first()
    return FeatureJump(**row) if row else None


def search(session: Session, *, q: str, limit: int) -> SearchResults:
    """Explanations matching `q` across every SAE, best first, and a feature `q` names exactly."""
    jump = find_feature_reference(session, q)
    rows = session.execute(_SEARCH, {"q": q, "limit": limit}).mappings().all()
    hits = [SearchHit.model_validate(dict(row)) for row in rows]
    total = rows[0]["total"] if rows else 0
    return SearchResults(q=q, jump=jump, data=hits, count=len(hits), total=total)
