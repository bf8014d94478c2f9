"""Benchmark: does a page's cost grow with the SAE? Every page and its JSON twin at two sizes.

Builds (once; `--rebuild` to redo) a synthetic SAE of each size with `maira-sae synthetic`, each
in its own database so the home page sees one SAE, then times the app in-process as
bench/bench_web.py does (the app's own time per request). Reports p50/p99 per page at both sizes,
the ratio large/small of the p50s (target <= 1.3), and feature JSON against the bare SQL a
feature needs at each size (target <= 2x).

    .venv/bin/python bench/bench_scale.py --database-url postgresql+psycopg://postgres@127.0.0.1/test

Databases `<name>_scale_<N>` are created next to the one `--database-url` names (the default
is MAIRA_SAE_DATABASE_URL) and kept for later runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import psycopg
from bench_web import ServerTimer, feature_against_bare, measure
from sqlalchemy import make_url

from app.main import create_app
from db.engine import libpq_url, normalise_url, resolve_database_url
from db.settings import Settings, get_settings

TARGET_RATIO = 1.3
TARGET_BARE = 2.0
COMMON_WORD, MISSPELLING = "effusion", "efusion"
PAIRED = ("feature JSON, warm", "bare feature SQL")  # compared with each other, not across sizes
LATER_PAGE = 5  # the list page reached by following this many next cursors


def ensure_database(server_url: str, features: int, args: argparse.Namespace) -> str:
    """URL of the database holding the synthetic SAE of `features` features, built if needed."""
    base = make_url(normalise_url(server_url))
    name = f"{base.database}_scale_{features}"
    url = base.set(database=name).render_as_string(False)
    with psycopg.connect(libpq_url(server_url), autocommit=True) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
        ).fetchone()
        if exists and args.rebuild:
            connection.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists = None
        if not exists:
            connection.execute(f'CREATE DATABASE "{name}"')
    environment = {**os.environ, "MAIRA_SAE_DATABASE_URL": url}
    command = [sys.executable, "-m", "app.cli"]
    subprocess.run([*command, "db", "upgrade"], env=environment, check=True)
    with psycopg.connect(libpq_url(url)) as connection:
        built = connection.execute(
            "SELECT d_sae FROM saes WHERE slug = %s", (args.slug,)
        ).fetchone()
    if not built or built[0] != features:
        subprocess.run(
            [*command, "synthetic", "--features", str(features), "--examples",
             str(args.examples), "--tokens", str(args.tokens), "--name", args.slug],
            env=environment,
            check=True,
        )  # fmt: skip
    return url


async def page_urls(client: httpx.AsyncClient, slug: str, n: int, seed: int) -> dict[str, list]:
    """The HTML URLs of every page measured (each JSON twin is the same under /api/v1)."""
    rng = random.Random(seed)
    features = f"/saes/{slug}/features"
    cursor_url = f"/api/v1{features}?sort=-frequency"
    for _ in range(LATER_PAGE):
        cursor = (await client.get(cursor_url)).raise_for_status().json()["next_cursor"]
        cursor_url = f"/api/v1{features}?sort=-frequency&cursor={cursor}"
    d_sae = (await client.get(f"/api/v1/saes/{slug}")).raise_for_status().json()["sae"]["d_sae"]
    return {
        "home": ["/"] * n,
        "SAE overview": [f"/saes/{slug}"] * n,
        "list": [features] * n,
        "list filtered": [f"{features}?q={COMMON_WORD}&min_f1=0.5"] * n,
        "list sorted": [f"{features}?sort=-f1"] * n,
        f"list page {LATER_PAGE + 1}": [cursor_url.removeprefix("/api/v1")] * n,
        "feature": [f"{features}/{rng.randrange(d_sae)}" for _ in range(n)],
        "search": [f"/search?q={COMMON_WORD}"] * n,
        "search misspelt": [f"/search?q={MISSPELLING}"] * n,
    }


def json_twin(url: str) -> str:
    return "/api/v1/saes" if url == "/" else f"/api/v1{url}"


async def run(args: argparse.Namespace) -> dict[int, dict[str, dict[str, float]]]:
    server = args.database_url or resolve_database_url(get_settings())
    sizes = (args.small, args.large)
    urls = {size: ensure_database(server, size, args) for size in sizes}
    total = args.warmup + args.requests
    results: dict[int, dict[str, dict[str, float]]] = {size: {} for size in sizes}
    async with AsyncExitStack() as stack:
        clients: dict[int, tuple[httpx.AsyncClient, ServerTimer]] = {}
        for size in sizes:
            app = create_app(Settings(database_url=urls[size]))
            timer = ServerTimer(app)
            await stack.enter_async_context(app.router.lifespan_context(app))
            client = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=timer), base_url="http://bench"
            )
            clients[size] = (await stack.enter_async_context(client), timer)
        pages = {
            size: await page_urls(clients[size][0], args.slug, total, args.seed) for size in sizes
        }
        for name in pages[args.small]:
            for kind, to_url in (("HTML", lambda url: url), ("JSON", json_twin)):
                for size in sizes:  # sizes alternate page by page, so drift hits both alike
                    client, timer = clients[size]
                    batch = [to_url(url) for url in pages[size][name]]
                    results[size][f"{name} {kind}"] = await measure(
                        client, timer, batch, args.warmup
                    )
        for size in sizes:
            client, timer = clients[size]
            indices = [int(url.rsplit("/", 1)[1]) for url in pages[size]["feature"]]
            paired = await feature_against_bare(
                client, timer, urls[size], args.slug, indices, args.warmup
            )
            results[size]["feature JSON, warm"], results[size]["bare feature SQL"] = paired
    return results


def report(results: dict[int, dict[str, dict[str, float]]], small: int, large: int) -> bool:
    """Print the table; True when every target is met."""
    print(
        f"{'page':<24}{'p50 ' + str(small):>11}{'p99':>8}{'p50 ' + str(large):>12}{'p99':>8}"
        f"{'ratio':>8}  target <= {TARGET_RATIO}"
    )
    met = True
    for name, row in results[small].items():
        if name in PAIRED:
            continue
        big = results[large][name]
        ratio = big["p50"] / row["p50"]
        ok = ratio <= TARGET_RATIO
        met &= ok
        print(
            f"{name:<24}{row['p50']:>11.2f}{row['p99']:>8.2f}{big['p50']:>12.2f}{big['p99']:>8.2f}"
            f"{ratio:>7.2f}x  {'ok' if ok else 'GROWS'}"
        )
    for size in (small, large):
        bare = results[size]["bare feature SQL"]["p50"]
        feature = results[size]["feature JSON, warm"]["p50"]
        ok = feature / bare <= TARGET_BARE
        met &= ok
        print(
            f"feature JSON at {size}: p50 {feature:.2f} ms = {feature / bare:.2f}x the bare SQL "
            f"({bare:.2f} ms)  target <= {TARGET_BARE}x  {'ok' if ok else 'SLOW'}"
        )
    return met


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="defaults to MAIRA_SAE_DATABASE_URL")
    parser.add_argument("--small", type=int, default=32_768, help="features of the small SAE")
    parser.add_argument("--large", type=int, default=131_072, help="features of the large SAE")
    parser.add_argument("--examples", type=int, default=16, help="top examples per feature")
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--slug", default="scale")
    parser.add_argument("--requests", type=int, default=200, help="timed requests per page")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rebuild", action="store_true", help="rebuild both SAEs")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    results = asyncio.run(run(args))
    met = report(results, args.small, args.large)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    sys.exit(0 if met else 1)


if __name__ == "__main__":
    main()
