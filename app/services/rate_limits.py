"""Fixed-window rate limits kept in PostgreSQL, so every web process counts the same requests:
one UPSERT ... RETURNING per request counts it and tells whether it is allowed."""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

_HIT = text(
    """
    INSERT INTO rate_limits AS r (bucket, subject, window_start, count)
    VALUES (:bucket, :subject,
            to_timestamp(floor(extract(epoch FROM now()) / :window) * :window), 1)
    ON CONFLICT (bucket, subject) DO UPDATE SET
        count = CASE WHEN r.window_start = excluded.window_start THEN r.count + 1 ELSE 1 END,
        window_start = excluded.window_start
    RETURNING count,
        extract(epoch FROM window_start + make_interval(secs => :window) - now()) AS left_s
    """
)


@dataclass(frozen=True)
class Verdict:
    """Whether a request may go on; else how many seconds until the window ends."""

    allowed: bool
    count: int
    retry_after_s: int


def hit(session: Session, *, bucket: str, subject: str, limit: int, window_s: int) -> Verdict:
    """Count one request of `subject` in `bucket`; allowed while the window's count is at most
    `limit`. Commits (the count stands whatever the request then does)."""
    count, left_s = session.execute(
        _HIT, {"bucket": bucket, "subject": subject, "window": window_s}
    ).one()
    session.commit()
    return Verdict(
        allowed=count <= limit, count=count, retry_after_s=max(1, math.ceil(float(left_s)))
    )
