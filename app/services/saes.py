"""SAE reads: lookup by slug, the list with headline counts, and summary statistics.

Counts and charts come from the stored per-SAE aggregates (`db.aggregates`), so these reads do
not grow with the number of features.
"""

from __future__ import annotations

from psycopg.rows import dict_row
from sqlalchemy import text
from sqlalchemy.orm import Session

from app.schemas.saes import SaeList, SaeListItem, SaeRef, SaeSummary
from db.aggregates import AGGREGATES_VERSION, stored_aggregates
from db.driver import Query, ReadPlan, driver_connection, run_plan

_SAE_COLUMNS = """
    s.id, s.slug, m.slug AS model, s.description, s.architecture, s.hookpoint, s.layer,
    s.d_in, s.d_sae, s.k, s.threshold, s.group_sizes, s.input_scale
"""

_FIND_SAE = text(
    f"SELECT {_SAE_COLUMNS} FROM saes s JOIN models m ON m.id = s.model_id WHERE s.slug = :slug"
)

_LIST_SAES = text(f"""
SELECT {_SAE_COLUMNS}, a.n_features, a.n_explained, (a.version = :version) AS current
FROM saes s JOIN models m ON m.id = s.model_id LEFT JOIN sae_aggregates a ON a.sae_id = s.id
ORDER BY s.slug
""")


def unknown_sae(slug: str) -> str:
    """What to say when no SAE has this slug."""
    return f"There is no SAE named {slug!r}."


def no_such_feature(sae: SaeRef, index: int) -> str:
    """What to say when `index` is past the SAE's last feature."""
    return (
        f"SAE {sae.slug!r} has {sae.d_sae:,} features (0 to {sae.d_sae - 1:,}); "
        f"there is no feature {index:,}."
    )


def find_sae(session: Session, *, slug: str) -> SaeRef | None:
    """The SAE with this slug, or None."""
    return run_plan(driver_connection(session), sae_by_slug(slug))


def sae_by_slug(slug: str) -> ReadPlan[SaeRef | None]:
    """Read plan: the SAE with this slug, or None."""
    (rows,) = yield (sae_query(slug),)
    return sae_from_rows(rows)


def sae_from_rows(rows: list[dict]) -> SaeRef | None:
    """The SAE in the rows of `sae_query`, or None when there are none."""
    return SaeRef.model_validate(rows[0]) if rows else None


def sae_query(slug: str) -> Query:
    """The query reading the SAE with this slug (no rows when there is none)."""
    return Query(_FIND_SAE, {"slug": slug}, dict_row)


def list_saes(session: Session) -> SaeList:
    """Every SAE with its feature and label counts (stored; computed once if missing)."""
    items = []
    for row in session.execute(_LIST_SAES, {"version": AGGREGATES_VERSION}).mappings().all():
        values = dict(row)
        if not values.pop("current"):
            values |= stored_aggregates(session, row["id"])
        items.append(SaeListItem.model_validate(values))
    return SaeList(data=items, count=len(items))


def sae_summary(session: Session, *, sae: SaeRef) -> SaeSummary:
    """Counts, the F1 and activation-density histograms and the frequency-vs-F1 relation."""
    return SaeSummary(sae=sae, **stored_aggregates(session, sae.id))
