"""One whole report seen through one feature: its values where stored example windows know them."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from app.schemas.features import FeatureReport, ReportSpan
from app.schemas.saes import SaeRef
from app.services.features import VALUE_DECIMALS, decode_values
from db.words import word_starts

# The feature and the report, found through the feature's examples (an indexed path however
# many reports are stored). A report id may recur across corpora: the first copy wins.
_REPORT = text("""
SELECT f.id AS feature_id, f.label, d.id AS document_id, d.tokens, c.slug AS corpus
FROM features f
JOIN examples e ON e.feature_id = f.id
JOIN documents d ON d.id = e.document_id AND d.external_id = :document
JOIN corpora c ON c.id = d.corpus_id
WHERE f.sae_id = :sae_id AND f.index = :index
ORDER BY d.id
LIMIT 1
""")

_WINDOWS = text("""
SELECT e.kind, e.start, e."end", e.max_position, e.values
FROM examples e
WHERE e.feature_id = :feature_id AND e.document_id = :document_id
ORDER BY e.start, e."end"
""")


def unknown_report(sae: SaeRef, index: int, document: str) -> str:
    """The 404 message for a report holding none of the feature's stored examples."""
    return (
        f"Feature {index:,} of SAE {sae.slug!r} has no stored example in a report "
        f"named {document!r}."
    )


def feature_report(
    session: Session, *, sae: SaeRef, index: int, document: str
) -> FeatureReport | None:
    """Report `document` with feature `index`'s values; None unless it holds one of its examples.

    Only the windows around the feature's stored examples have values; every other token is
    `None` (unknown, not zero: the precompute keeps no more than those windows).
    """
    found = session.execute(
        _REPORT, {"sae_id": sae.id, "index": index, "document": document}
    ).first()
    if found is None:
        return None
    tokens: list[str] = found.tokens or []
    values: list[float | None] = [None] * len(tokens)
    spans: list[ReportSpan] = []
    windows = session.execute(
        _WINDOWS, {"feature_id": found.feature_id, "document_id": found.document_id}
    ).all()
    for window in windows:
        end = min(window.end, len(tokens))
        decoded = decode_values(window.values)[: end - window.start]
        values[window.start : window.start + len(decoded)] = decoded
        spans.append(
            ReportSpan(
                start=window.start,
                end=window.start + len(decoded),
                kind=window.kind,
                sampled_position=window.max_position,
            )
        )
    known = [value for value in values if value is not None]
    return FeatureReport(
        sae=sae,
        index=index,
        label=found.label,
        document=document,
        corpus=found.corpus,
        tokens=tokens,
        values=values,
        word_starts=word_starts(tokens),
        known=spans,
        n_known=len(known),
        max_value=round(max(known), VALUE_DECIMALS) if known else None,
    )
