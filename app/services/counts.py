"""Counts that stay cheap on any SAE size: exact up to a cap, the planner's estimate beyond it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

COUNT_CAP = 500


@dataclass(frozen=True)
class Count:
    """How many rows match: `value`, exact or (when `exact` is false) an estimate."""

    value: int
    exact: bool


def planner_estimate(session: Session, select_sql: str, params: dict[str, Any]) -> int:
    """The planner's row estimate for `select_sql` (EXPLAIN only; nothing is executed)."""
    plan = session.execute(text(f"EXPLAIN (FORMAT JSON) {select_sql}"), params).scalar_one()
    return int(plan[0]["Plan"]["Plan Rows"])


def bounded_count(
    session: Session, from_where_sql: str, params: dict[str, Any], *, cap: int | None = None
) -> Count:
    """Rows of `FROM ... WHERE ...`: estimated by the planner, and counted exactly when the
    estimate is at most `cap` (default COUNT_CAP).

    At most cap + 1 rows are ever read, so the cost does not grow with the table; a count that
    passes the cap after all falls back to the estimate (never below cap + 1).
    """
    cap = COUNT_CAP if cap is None else cap
    estimate = planner_estimate(session, f"SELECT 1 {from_where_sql}", params)
    if estimate > cap:
        return Count(estimate, exact=False)
    counted = session.execute(
        text(f"SELECT count(*) FROM (SELECT 1 {from_where_sql} LIMIT :count_cap) AS capped"),
        {**params, "count_cap": cap + 1},
    ).scalar_one()
    if counted <= cap:
        return Count(counted, exact=True)
    return Count(max(estimate, cap + 1), exact=False)


def round_estimate(value: int) -> int:
    """An estimate rounded to two significant digits (12,345 -> 12,000), as people say it."""
    if value < 100:
        return value
    scale = 10 ** (len(str(value)) - 2)
    return round(value / scale) * scale
