"""The feature list: filtered, keyset-paginated both ways, with a count that stays cheap.

Rows are ordered in sections: for an F1 or frequency order, the features that have the value
(by value, then index) come before those without it (by index). A cursor names a position in that
order and a direction: 'next' pages start after it, 'previous' pages end before it.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from app.schemas.features import FeatureListItem, FeatureListPage, FeatureQuery
from app.schemas.saes import SaeRef
from app.services.counts import Count, bounded_count, round_estimate
from db.aggregates import stored_feature_count

_LIST_COLUMNS = (
    'index, "group", label, f1, frequency, max_activation, review_mean, '
    "coalesce(review_state, 'unreviewed') AS review_state"
)
_SORT_COLUMNS = {"index": None, "f1": "f1", "frequency": "frequency", "review": "review_mean"}
_FILTERS = ("q", "min_f1", "max_f1", "min_frequency", "max_frequency", "review")
_REVIEW_STATES = {
    "unreviewed": "review_state IS NULL",
    "reviewed": "review_state IS NOT NULL",
    "disputed": "review_state = 'disputed'",
}
NEXT, PREVIOUS = "next", "previous"


class InvalidCursor(ValueError):
    """A cursor that is malformed or was made for another order."""


@dataclass(frozen=True)
class Position:
    """A place in the list order: in the NULL section or not, the sort value and the index."""

    nulls: bool
    value: float | None
    index: int


@dataclass(frozen=True)
class Cursor:
    """Where a page starts (direction 'next': after `position`) or ends ('previous': before)."""

    direction: str
    position: Position
    page: int


def encode_cursor(sort: str, cursor: Cursor) -> str:
    """An opaque token for `cursor` in `sort` order."""
    p = cursor.position
    raw = [sort, cursor.direction, p.nulls, p.value, p.index, cursor.page]
    data = json.dumps(raw, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def decode_cursor(token: str, sort: str) -> Cursor:
    """The cursor `token` encodes for `sort`; InvalidCursor when malformed or for another order."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        cursor_sort, direction, nulls, value, index, page = json.loads(raw)
        valid = (
            cursor_sort == sort
            and direction in (NEXT, PREVIOUS)
            and isinstance(nulls, bool)
            and isinstance(index, int)
            and isinstance(page, int)
            and page >= 1
            and (value is None or isinstance(value, int | float))
        )
    except (binascii.Error, ValueError, TypeError):
        valid = False
    if not valid:
        raise InvalidCursor(
            "The cursor is not valid for this order; start again from the first page."
        )
    return Cursor(direction, Position(nulls, value, index), page)


def filter_clauses(query: FeatureQuery) -> list[str]:
    """SQL conditions on `features` for the query's filters (parameters: `sae_id` and the
    filter names); review campaigns select features with them too."""
    clauses = ["sae_id = :sae_id"]
    if query.q:
        clauses.append("label_tsv @@ websearch_to_tsquery('english', :q)")
    for name, column, operator in (
        ("min_f1", "f1", ">="),
        ("max_f1", "f1", "<="),
        ("min_frequency", "frequency", ">="),
        ("max_frequency", "frequency", "<="),
    ):
        if getattr(query, name) is not None:
            clauses.append(f"{column} {operator} :{name}")
    if query.review is not None:
        clauses.append(_REVIEW_STATES[query.review])
    return clauses


def _section_rows(
    session: Session,
    query: FeatureQuery,
    params: dict[str, Any],
    *,
    nulls: bool,
    after: Position | None,
    forward: bool,
    limit: int,
) -> list[dict[str, Any]]:
    """Up to `limit` rows of one section, past `after` in the walking direction (list order when
    `forward`, reversed otherwise), nearest first."""
    column = _SORT_COLUMNS[query.sort.lstrip("-")]
    clauses = filter_clauses(query)
    params = {**params, "limit": limit}
    if column is None or nulls:
        if column is not None:
            clauses.append(f"{column} IS NULL")
        if after is not None:
            clauses.append("index > :after_index" if forward else "index < :after_index")
            params["after_index"] = after.index
        order = "index" if forward else "index DESC"
    else:
        clauses.append(f"{column} IS NOT NULL")
        ascending = query.sort.startswith("-") != forward
        if after is not None:
            operator = ">" if ascending else "<"
            clauses.append(f"({column}, index) {operator} (:after_value, :after_index)")
            params["after_value"], params["after_index"] = after.value, after.index
        direction = "ASC" if ascending else "DESC"
        order = f"{column} {direction}, index {direction}"
    where = " AND ".join(clauses)
    sql = f"SELECT {_LIST_COLUMNS} FROM features WHERE {where} ORDER BY {order} LIMIT :limit"
    return [dict(row) for row in session.execute(text(sql), params).mappings()]


def _walk(
    session: Session,
    query: FeatureQuery,
    params: dict[str, Any],
    *,
    start: Position | None,
    forward: bool,
    limit: int,
) -> list[dict[str, Any]]:
    """Up to `limit` rows from `start` (exclusive; None = the end walked away from), crossing
    from one section into the next as needed, nearest first."""
    if _SORT_COLUMNS[query.sort.lstrip("-")] is None:
        return _section_rows(
            session, query, params, nulls=True, after=start, forward=forward, limit=limit
        )
    sections = [False, True] if forward else [True, False]
    if start is not None:
        sections = sections[sections.index(start.nulls) :]
    rows: list[dict[str, Any]] = []
    for nulls in sections:
        after = start if start is not None and start.nulls == nulls else None
        rows += _section_rows(
            session, query, params, nulls=nulls, after=after, forward=forward,
            limit=limit - len(rows),
        )  # fmt: skip
        if len(rows) == limit:
            break
    return rows


def _position(query: FeatureQuery, row: dict[str, Any]) -> Position:
    column = _SORT_COLUMNS[query.sort.lstrip("-")]
    value = None if column is None else row[column]
    return Position(column is not None and value is None, value, row["index"])


def _count(session: Session, sae: SaeRef, query: FeatureQuery, params: dict[str, Any]) -> Count:
    """Exact from the stored aggregates without filters; else exact up to a cap, then estimated."""
    if all(getattr(query, name) is None for name in _FILTERS):
        return Count(stored_feature_count(session, sae.id), exact=True)
    where = " AND ".join(filter_clauses(query))
    count = bounded_count(session, f"FROM features WHERE {where}", params)
    return count if count.exact else Count(round_estimate(count.value), exact=False)


def list_features(session: Session, *, sae: SaeRef, query: FeatureQuery) -> FeatureListPage:
    """One page of the SAE's features matching `query`, with cursors to its neighbours."""
    params: dict[str, Any] = {"sae_id": sae.id, **query.model_dump(include=set(_FILTERS))}
    cursor = decode_cursor(query.cursor, query.sort) if query.cursor else None
    wanted = query.limit + 1
    page, has_previous, has_next = 1, False, False
    if cursor is not None and cursor.direction == PREVIOUS:
        rows = _walk(session, query, params, start=cursor.position, forward=False, limit=wanted)
        if len(rows) == wanted:
            rows = rows[: query.limit][::-1]
            page, has_previous, has_next = max(cursor.page, 2), True, True
        else:  # reached the start: show a full first page
            cursor = None
    if cursor is None or cursor.direction == NEXT:
        start = cursor.position if cursor else None
        rows = _walk(session, query, params, start=start, forward=True, limit=wanted)
        has_next = len(rows) == wanted
        rows = rows[: query.limit]
        if cursor is not None:
            page, has_previous = cursor.page, True
    next_cursor = previous_cursor = None
    if has_next:
        next_cursor = encode_cursor(query.sort, Cursor(NEXT, _position(query, rows[-1]), page + 1))
    if has_previous and rows:
        first = _position(query, rows[0])
        previous_cursor = encode_cursor(query.sort, Cursor(PREVIOUS, first, page - 1))
    count = _count(session, sae, query, params)
    pages = max(1, math.ceil(count.value / query.limit), page + (1 if has_next else 0))
    return FeatureListPage(
        sae=sae,
        data=[FeatureListItem.model_validate(row) for row in rows],
        count=count.value,
        count_exact=count.exact,
        page=page,
        pages=pages,
        next_cursor=next_cursor,
        previous_cursor=previous_cursor,
    )
