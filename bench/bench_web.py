"""Benchmark: server time of the feature, list and search endpoints against the bare SQL they run.

Requests go in-process through the ASGI app (httpx ASGITransport); the time counted is the app's
own, from the request entering it to the last body byte leaving it. The baseline runs, on a
plain psycopg connection, the read plan one feature's record needs (SAE; feature row with
prev/next, neighbours and explanations with scores; examples sliced from their documents: three
indexed statements in one pipelined round trip).

    maira-sae synthetic --features 32768 --examples 64 --tokens 64 --name bench
    .venv/bin/python bench/bench_web.py --sae bench [--requests 300 --warmup 30]

The database is MAIRA_SAE_DATABASE_URL (or --database-url).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psycopg

from app.main import create_app
from app.services.features import feature_by_slug
from db.driver import run_plan
from db.engine import libpq_url, resolve_database_url
from db.settings import Settings, get_settings

TARGETS_MS = {
    "feature JSON": 10,
    "feature HTML": 20,
    "list JSON": 30,
    "list HTML": 30,
    "search JSON": 30,
    "search HTML": 30,
}


class ServerTimer:
    """ASGI wrapper that records how long the app took to answer each request (wall and CPU)."""

    def __init__(self, app: Callable) -> None:
        self.app = app
        self.seconds: list[float] = []
        self.cpu_seconds: list[float] = []

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, cpu_start = time.perf_counter(), time.process_time()
        await self.app(scope, receive, send)
        self.seconds.append(time.perf_counter() - start)
        self.cpu_seconds.append(time.process_time() - cpu_start)


def percentiles(seconds: list[float], cpu_seconds: list[float] | None = None) -> dict[str, float]:
    ms = sorted(value * 1000 for value in seconds)
    row = {
        "p50": statistics.median(ms),
        "p99": ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))],
        "mean": statistics.fmean(ms),
        "n": len(ms),
    }
    if cpu_seconds:
        row["cpu_p50"] = statistics.median(value * 1000 for value in cpu_seconds)
    return row


async def feature_against_bare(
    client: httpx.AsyncClient,
    timer: ServerTimer,
    url: str,
    slug: str,
    indices: list[int],
    warmup: int,
) -> tuple[dict[str, float], dict[str, float]]:
    """Percentiles of feature JSON (the app's time) and of the bare SQL it needs, feature by
    feature on warm data.

    The bare SQL is the app's own read plan (`feature_by_slug`: its three statements, sent in one
    round trip) run on a plain psycopg connection in autocommit: the same SQL and rows, without
    the record, the JSON, the event loop or the framework. Each feature's rows are read once
    untimed first, so neither side pays for pulling them into PostgreSQL's buffers and neither
    gains from the other having done so.
    """
    app_seconds, app_cpu, bare_seconds = [], [], []
    with psycopg.connect(libpq_url(url), autocommit=True) as connection:

        def bare(index: int) -> float:
            start = time.perf_counter()
            run_plan(connection, feature_by_slug(slug, index))
            return time.perf_counter() - start

        for position, index in enumerate(indices):
            bare(index)
            timer.seconds.clear()
            timer.cpu_seconds.clear()
            (await client.get(f"/api/v1/saes/{slug}/features/{index}")).raise_for_status()
            seconds = bare(index)
            if position >= warmup:
                app_seconds += timer.seconds
                app_cpu += timer.cpu_seconds
                bare_seconds.append(seconds)
    return percentiles(app_seconds, app_cpu), percentiles(bare_seconds)


async def label_words(client: httpx.AsyncClient, slug: str) -> list[str]:
    """Words from stored labels, to build realistic text queries."""
    body = (await client.get(f"/api/v1/saes/{slug}/features?sort=-f1&limit=500")).json()
    words = {
        word.strip('.,;:()"').lower()
        for item in body["data"]
        for word in (item["label"] or "").split()
    }
    return sorted(word for word in words if len(word) > 3) or ["effusion"]


async def measure(
    client: httpx.AsyncClient, timer: ServerTimer, urls: list[str], warmup: int
) -> dict[str, float]:
    """Percentiles of the app's time over `urls` after the first `warmup` of them."""
    for url in urls[:warmup]:
        (await client.get(url)).raise_for_status()
    timer.seconds.clear()
    timer.cpu_seconds.clear()
    for url in urls[warmup:]:
        response = await client.get(url)
        if response.status_code != 200:
            raise RuntimeError(f"{url} answered {response.status_code}: {response.text[:300]}")
    return percentiles(timer.seconds, timer.cpu_seconds)


def list_urls(prefix: str, rng: random.Random, words: list[str], n: int) -> list[str]:
    urls = []
    for _ in range(n):
        params = {"sort": rng.choice(["index", "f1", "-f1", "frequency", "-frequency"])}
        if rng.random() < 0.5:
            low = round(rng.uniform(0, 0.8), 2)
            params |= {"min_f1": low, "max_f1": round(min(1.0, low + rng.uniform(0.1, 0.5)), 2)}
        if rng.random() < 0.3:
            params["min_frequency"] = f"{10 ** rng.uniform(-5, -2):.2g}"
        if rng.random() < 0.5:
            params["q"] = rng.choice(words)
        urls.append(f"{prefix}?{httpx.QueryParams(params)}")
    return urls


async def run(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    url = args.database_url or resolve_database_url(get_settings())
    app = create_app(Settings(database_url=url))
    timer = ServerTimer(app)
    rng = random.Random(args.seed)
    results: dict[str, dict[str, float]] = {}
    transport = httpx.ASGITransport(app=timer)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://bench") as client,
    ):
        sae = (await client.get(f"/api/v1/saes/{args.sae}")).raise_for_status().json()["sae"]
        total = args.warmup + args.requests
        indices = [rng.randrange(sae["d_sae"]) for _ in range(total)]
        words = await label_words(client, args.sae)

        base = f"/api/v1/saes/{args.sae}/features"
        feature_json = [f"{base}/{index}" for index in indices]
        results["feature JSON"] = await measure(client, timer, feature_json, args.warmup)
        feature_html = [f"/saes/{args.sae}/features/{index}" for index in indices]
        results["feature HTML"] = await measure(client, timer, feature_html, args.warmup)
        lists = list_urls(base, rng, words, total)
        results["list JSON"] = await measure(client, timer, lists, args.warmup)
        pages = [u.replace("/api/v1", "", 1) for u in list_urls(base, rng, words, total)]
        results["list HTML"] = await measure(client, timer, pages, args.warmup)
        queries = [" ".join(rng.sample(words, rng.choice((1, 1, 2)))) for _ in range(total)]
        searches = [f"/api/v1/search?{httpx.QueryParams(q=q)}" for q in queries]
        results["search JSON"] = await measure(client, timer, searches, args.warmup)
        search_pages = [s.replace("/api/v1", "", 1) for s in searches]
        results["search HTML"] = await measure(client, timer, search_pages, args.warmup)
        results["feature JSON, warm"], results["bare feature SQL"] = await feature_against_bare(
            client, timer, url, args.sae, indices, args.warmup
        )
    return results


def report(results: dict[str, dict[str, float]]) -> None:
    bare = results["bare feature SQL"]["p50"]
    print(
        f"{'endpoint':<18}{'p50 ms':>9}{'p99 ms':>9}{'mean ms':>9}{'cpu p50':>9}{'target':>9}"
        "  p50 / bare SQL p50"
    )
    for name, row in results.items():
        target = TARGETS_MS.get(name)
        verdict = "" if target is None else ("ok" if row["p50"] <= target else "SLOW")
        ratio = f"{row['p50'] / bare:.1f}x" if name.startswith("feature") else ""
        target_text = f"<={target}" if target else ""
        cpu = f"{row['cpu_p50']:.2f}" if "cpu_p50" in row else ""
        print(
            f"{name:<18}{row['p50']:>9.2f}{row['p99']:>9.2f}{row['mean']:>9.2f}{cpu:>9}"
            f"{target_text:>9}  {ratio} {verdict}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sae", default="bench", help="slug of the SAE to browse")
    parser.add_argument("--database-url", help="defaults to MAIRA_SAE_DATABASE_URL")
    parser.add_argument("--requests", type=int, default=300, help="timed requests per endpoint")
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    results = asyncio.run(run(args))
    report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
