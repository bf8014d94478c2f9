"""Benchmark: a reviewer's next item at scale, and a campaign's statistics with bootstrap.

Builds (once; `--rebuild` to redo) a database `<name>_review` next to the one `--database-url`
names, holding an SAE of 32,768 labelled features, a campaign over all of them (5 reviewers per
feature, 500 overlap items) with 100,000 ratings by 20 reviewers, and a second campaign of
2,000 features plus 222 decoys with about 10,000 ratings by 8 reviewers (700 overlap items).
Then it times, each call in its own session as a request would:

- `next_item` for random reviewers of the large campaign: p50 and p99 (target p50 <= 30 ms);
- `campaign_stats` of the 10,000-rating campaign with 1,000 bootstrap replicates, end to end
  (queries included), and the statistics alone (`summarise`); target <= 300 ms;
- closing the large campaign (review summaries of its 32,768 features, consensus human labels
  from the corrected labels on every tenth feature, shown labels, SAE aggregates), each time in
  a transaction rolled back afterwards; target <= 2 s.

    .venv/bin/python bench/bench_review_stats.py --database-url postgresql+psycopg://postgres@127.0.0.1/test
"""

from __future__ import annotations

import argparse
import random
import statistics as stdlib_statistics
import time

import numpy as np
import psycopg
from sqlalchemy import Engine, make_url, text
from sqlalchemy.orm import Session

from app.schemas.review import CampaignSpec
from app.services import review
from app.services.review import statistics
from db.aggregates import refresh_sae_aggregates
from db.engine import libpq_url, make_engine, normalise_url, resolve_database_url
from db.labels import refresh_primary_labels
from db.migrate import upgrade
from db.settings import get_settings

N_FEATURES = 32_768
BIG_REVIEWERS, BIG_PER_REVIEWER = 20, 5_000
SMALL_FEATURES, SMALL_REVIEWERS = 2_000, 8
TARGET_NEXT_MS, TARGET_STATS_MS, TARGET_CLOSE_MS = 30.0, 300.0, 2000.0

_BUILD = """
INSERT INTO users (id, name, role, password_hash)
SELECT r, 'bench-reviewer-' || r, CASE WHEN r = 1 THEN 'admin' ELSE 'reviewer' END, '!'
FROM generate_series(1, %(reviewers)s) r
UNION ALL SELECT 100 + r, 'bench-rater-' || r, 'reviewer', '!'
FROM generate_series(1, %(small_reviewers)s) r;
SELECT setval(pg_get_serial_sequence('users', 'id'), (SELECT max(id) FROM users));
INSERT INTO models (slug, name) VALUES ('bench-model', 'bench');
INSERT INTO saes (slug, model_id, hookpoint, layer, d_in, d_sae, k, threshold, group_sizes)
SELECT 'bench-review', id, 'layers.15', 15, 64, %(n)s, 8, 0, ARRAY[%(n)s] FROM models;
INSERT INTO features (sae_id, index, "group", frequency)
SELECT s.id, i, 0, (i %% 1000 + 1) / 100000.0 FROM saes s, generate_series(0, %(n)s - 1) i;
INSERT INTO explanations (feature_id, text, source, source_key)
SELECT f.id, 'label ' || f.index || ' word' || (f.index %% 97), 'csv', 'csv:bench'
FROM features f;
INSERT INTO scores (explanation_id, kind, split, f1)
SELECT e.id, 'detection', 'heldout', ((e.id * 7919) %% 1000) / 1000.0 FROM explanations e;
"""
_BIG_RATINGS = """
INSERT INTO ratings (campaign_id, item_id, reviewer_id, rating, meaningful, corrected_label)
SELECT %(c)s, i.id, r, 1 + (i.position + r) %% 5, 'yes',
       CASE WHEN i.feature_index %% 10 = 0 THEN 'corrected ' || i.feature_index END
FROM generate_series(1, %(reviewers)s) r
CROSS JOIN generate_series(0, %(per)s - 1) j
JOIN campaign_items i ON i.campaign_id = %(c)s AND i.position = (r * 1637 + j * 6) %% %(n)s
ON CONFLICT DO NOTHING;
UPDATE campaign_items i SET n_ratings = c.n
FROM (SELECT item_id, count(*) AS n FROM ratings WHERE campaign_id = %(c)s GROUP BY item_id) c
WHERE c.item_id = i.id;
"""
_SMALL_RATINGS = """
INSERT INTO ratings (campaign_id, item_id, reviewer_id, rating, meaningful)
SELECT %(c)s, i.id, 100 + r,
       least(5, greatest(1, 1 + i.feature_index %% 5 + abs(hashint4((i.id + r)::int) %% 2))),
       CASE WHEN hashint4((i.id * r)::int) %% 3 = 0 THEN 'no' ELSE 'yes' END
FROM campaign_items i CROSS JOIN generate_series(1, %(reviewers)s) r
WHERE i.campaign_id = %(c)s
  AND (i.is_overlap OR (i.position + r) %% %(reviewers)s < 3);
"""


def _run(url: str, script: str, parameters: dict[str, object]) -> None:
    """Run each statement of `script` in one transaction."""
    with psycopg.connect(libpq_url(url)) as connection:
        for statement in filter(str.strip, script.split(";\n")):
            connection.execute(statement, parameters)


def _campaign(session: Session, sae_id: int, name: str, **spec: object) -> int:
    return review.create_campaign(
        session,
        sae_id=sae_id,
        spec=CampaignSpec.model_validate({"name": name, **spec}),
        created_by=1,
    ).id


def ensure_database(server_url: str, rebuild: bool) -> str:
    """URL of the benchmark database, built if absent (or when `rebuild`)."""
    base = make_url(normalise_url(server_url))
    name = f"{base.database}_review"
    url = base.set(database=name).render_as_string(False)
    with psycopg.connect(libpq_url(server_url), autocommit=True) as connection:
        query = "SELECT 1 FROM pg_database WHERE datname = %s"
        exists = connection.execute(query, (name,)).fetchone() is not None
        if exists and rebuild:
            connection.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        if rebuild or not exists:
            connection.execute(f'CREATE DATABASE "{name}"')
    upgrade(url)
    with psycopg.connect(libpq_url(url)) as connection:
        built = "SELECT count(DISTINCT campaign_id) FROM ratings"
        if connection.execute(built).fetchone()[0] == 2:
            return url
    users = {"reviewers": BIG_REVIEWERS, "small_reviewers": SMALL_REVIEWERS}
    _run(url, _BUILD, {"n": N_FEATURES, **users})
    engine = make_engine(url)
    with Session(engine) as session, session.begin():
        sae_id = session.execute(text("SELECT id FROM saes")).scalar_one()
        refresh_primary_labels(session, sae_id)
        refresh_sae_aggregates(session, sae_id)
        big = _campaign(
            session, sae_id, "bench-big",
            selection={"kind": "explicit", "indices": list(range(N_FEATURES))},
            label_source="csv:bench", reviewers_per_feature=5, overlap_size=500, decoy_share=0,
        )  # fmt: skip
        small = _campaign(
            session, sae_id, "bench-small",
            selection={"kind": "stratified", "size": SMALL_FEATURES},
            label_source="csv:bench", reviewers_per_feature=3, overlap_size=700,
            decoy_share=0.1,
        )  # fmt: skip
    engine.dispose()
    parameters = {"reviewers": BIG_REVIEWERS, "per": BIG_PER_REVIEWER, "n": N_FEATURES}
    _run(url, _BIG_RATINGS, {"c": big, **parameters})
    _run(url, _SMALL_RATINGS, {"c": small, "reviewers": SMALL_REVIEWERS})
    with psycopg.connect(libpq_url(url), autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE")  # as autovacuum would have by the time anyone asks
    return url


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def time_close(engine: Engine, campaign_id: int, repeats: int) -> tuple[list[float], int, int]:
    """Milliseconds to close the campaign, each time rolled back (and the tables vacuumed
    before); the features it marked reviewed or disputed and the human labels it wrote (on the
    last run)."""
    timings = []
    for _ in range(repeats):
        with engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT").execute(
                text("VACUUM (ANALYZE) features, explanations")
            )
        with Session(engine) as session:
            start = time.perf_counter()
            review.set_status(session, campaign_id, "closed")
            timings.append((time.perf_counter() - start) * 1000)
            reviewed = session.execute(
                text("SELECT count(*) FROM features WHERE review_state IS NOT NULL")
            ).scalar_one()
            labels = session.execute(
                text("SELECT count(*) FROM explanations WHERE source = 'human'")
            ).scalar_one()
            session.rollback()
    return timings, reviewed, labels


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--close-repeats", type=int, default=3)
    args = parser.parse_args()
    url = ensure_database(args.database_url or resolve_database_url(get_settings()), args.rebuild)
    engine = make_engine(url)
    with Session(engine) as session:
        ids = dict(session.execute(text("SELECT name, id FROM campaigns")).all())
        n_ratings = session.execute(
            text("SELECT campaign_id, count(*) FROM ratings GROUP BY 1")
        ).all()
    counts = dict(n_ratings)
    rng = random.Random(0)
    timings = []
    for call in range(args.calls + 20):
        reviewer = rng.randint(1, BIG_REVIEWERS)
        with Session(engine) as session:
            start = time.perf_counter()
            item = review.next_item(session, campaign_id=ids["bench-big"], reviewer_id=reviewer)
            elapsed = (time.perf_counter() - start) * 1000
        assert item is not None
        if call >= 20:
            timings.append(elapsed)
    p50, p99 = percentile(timings, 50), percentile(timings, 99)
    print(
        f"next_item: {N_FEATURES:,} items, {counts[ids['bench-big']]:,} ratings, "
        f"{args.calls} calls: p50 {p50:.1f} ms, p99 {p99:.1f} ms "
        f"(target p50 <= {TARGET_NEXT_MS:.0f} ms: {'met' if p50 <= TARGET_NEXT_MS else 'MISSED'})"
    )

    small = ids["bench-small"]
    end_to_end = []
    for _ in range(args.repeats):
        with Session(engine) as session:
            start = time.perf_counter()
            stats = review.campaign_stats(session, small, n_boot=1000)
            end_to_end.append((time.perf_counter() - start) * 1000)
    rng_np = np.random.default_rng(0)
    with Session(engine) as session:
        rows = session.execute(
            text(
                "SELECT i.position, r.reviewer_id, r.rating, i.is_decoy FROM ratings r "
                "JOIN campaign_items i ON i.id = r.item_id WHERE r.campaign_id = :c"
            ),
            {"c": small},
        ).all()
        n_items = session.execute(
            text("SELECT n_items FROM campaigns WHERE id = :c"), {"c": small}
        ).scalar_one()
    data = np.array(rows, dtype=np.int64)
    is_decoy = np.zeros(n_items, bool)
    is_decoy[data[data[:, 3] == 1, 0]] = True
    ratings = statistics.Ratings(
        unit=data[:, 0],
        reviewer=data[:, 1],
        rating=data[:, 2],
        meaningful=rng_np.integers(0, 3, len(data)),
        is_decoy=is_decoy,
        f1=rng_np.random(n_items),
    )
    pure, cpu = [], []
    for _ in range(args.repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        statistics.summarise(ratings, n_boot=1000)
        pure.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    median, pure_median = stdlib_statistics.median(end_to_end), stdlib_statistics.median(pure)
    verdict = "met" if median <= TARGET_STATS_MS else "MISSED"
    print(
        f"campaign_stats: {stats.n_ratings:,} ratings, {len(stats.pairwise_kappa)} reviewer "
        f"pairs, 1,000 bootstrap replicates: {median:.0f} ms end to end, {pure_median:.0f} ms "
        f"statistics alone ({stdlib_statistics.median(cpu):.0f} ms CPU time) "
        f"(target <= {TARGET_STATS_MS:.0f} ms: {verdict})"
    )

    big = ids["bench-big"]
    closing, reviewed, labels = time_close(engine, big, args.close_repeats)
    close_median = stdlib_statistics.median(closing)
    verdict = "met" if close_median <= TARGET_CLOSE_MS else "MISSED"
    print(
        f"close campaign: {N_FEATURES:,} features, {counts[big]:,} ratings, "
        f"{reviewed:,} features reviewed, {labels:,} human labels: {close_median:.0f} ms "
        f"(median of {args.close_repeats}, each rolled back) "
        f"(target <= {TARGET_CLOSE_MS:.0f} ms: {verdict})"
    )
    engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
