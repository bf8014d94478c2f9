"""Benchmark: a real `maira-sae serve` under 1 to 500 concurrent closed-loop clients on loopback.

The server runs in its own process; this process is the client (one asyncio loop, httpx with a
connection per client). After a short warm-up, each client sends one request after another, for
`--seconds` per level, from a fixed mix over random features: feature JSON, feature HTML, the
feature list (JSON or HTML, random filters) and search (JSON or HTML, words from stored labels).
A 503 is counted as shed and its Retry-After honoured. Per level: throughput of 2xx answers in
steady state (the level's last 80%), its ratio to the best level of the run, p50/p99 latency of
those answers, counts of 2xx / 503 / other statuses / timeouts / connection errors, and the
client's own CPU use (near 100% would mean the client, not the server, is the limit) and the
server's CPU milliseconds per 2xx answer (flat across levels: concurrency itself costs nothing; a
level slower at the same cost lost CPU to other processes on the machine). Then a 500-client
burst is abandoned at once (every client closes its connection mid-request) and the first
request after it is timed.

    maira-sae synthetic --features 32768 --examples 64 --tokens 64 --name bench
    .venv/bin/python bench/bench_load.py --sae bench [--seconds 10 --server-workers 1]

The database is MAIRA_SAE_DATABASE_URL (or --database-url). Targets: throughput at 50 and at 500
clients >= 0.9x the best level; no timeouts and no connection errors at any level; the first
request after the burst answers within 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import ssl
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from bench_web import label_words, list_urls, percentiles

from db.engine import resolve_database_url
from db.settings import get_settings

LEVELS = (1, 8, 50, 200, 500)
BURST_CLIENTS = 500
MIN_RATIO = 0.9
RATIO_LEVELS = (50, 500)
AFTER_BURST_TARGET_S = 1.0
# Throughput and latency count the answers of a level's last 80%: its first 20% is the ramp
# (connections opening, the admission queue filling).
RAMP_SHARE = 0.2
REPO = Path(__file__).resolve().parents[1]
MAIRA_SAE = Path(sys.executable).with_name("maira-sae")


@dataclass
class Level:
    """What the clients of one level saw."""

    clients: int
    seconds: float = 0.0
    ok_seconds: list[float] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    client_cpu: float = 0.0
    server_cpu_ms: float | None = None

    @property
    def throughput(self) -> float:
        return len(self.ok_seconds) / self.seconds if self.seconds else 0.0


def request_urls(sae: str, d_sae: int, words: list[str], rng: random.Random, n: int) -> list[str]:
    """The fixed mix: feature JSON, feature HTML, feature list and search, in equal shares."""
    lists = list_urls(f"/api/v1/saes/{sae}/features", rng, words, n)
    urls = []
    for i in range(n):
        index = rng.randrange(d_sae)
        html = rng.random() < 0.5
        kind = i % 4
        if kind == 0:
            urls.append(f"/api/v1/saes/{sae}/features/{index}")
        elif kind == 1:
            urls.append(f"/saes/{sae}/features/{index}")
        elif kind == 2:
            urls.append(lists[i].replace("/api/v1", "", 1) if html else lists[i])
        else:
            query = httpx.QueryParams(q=" ".join(rng.sample(words, rng.choice((1, 1, 2)))))
            urls.append(f"/search?{query}" if html else f"/api/v1/search?{query}")
    rng.shuffle(urls)
    return urls


async def client_loop(
    client: httpx.AsyncClient,
    urls: list[str],
    rng: random.Random,
    window: tuple[float, float],
    level: Level,
) -> None:
    """Send requests one after another until the window closes; record each outcome, and the
    latency of each 2xx answer that arrives inside the window."""
    opens, deadline = window
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        try:
            response = await client.get(rng.choice(urls))
        except httpx.TimeoutException:
            level.outcomes["timeout"] += 1
            continue
        except httpx.TransportError:
            level.outcomes["connection error"] += 1
            continue
        elapsed = time.perf_counter() - start
        if 200 <= response.status_code < 300:
            level.outcomes["2xx"] += 1
            if opens <= time.perf_counter() <= deadline:
                level.ok_seconds.append(elapsed)
        elif response.status_code == 503:
            level.outcomes["503"] += 1
            await asyncio.sleep(float(response.headers.get("retry-after", "1")))
        else:
            level.outcomes[str(response.status_code)] += 1


def http_clients(base_url: str, n: int, timeout_s: float) -> list[httpx.AsyncClient]:
    """One client, with one keep-alive connection, per simulated user.

    Separate clients keep the client side O(1) per request (httpcore's shared pool scans all its
    connections on every request); one shared TLS context keeps creating them cheap.
    """
    tls = ssl.create_default_context()
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    return [
        httpx.AsyncClient(base_url=base_url, limits=limits, timeout=timeout_s, verify=tls)
        for _ in range(n)
    ]


async def run_level(
    base_url: str,
    urls: list[str],
    clients: int,
    args: argparse.Namespace,
    seconds: float | None = None,
    server_pid: int | None = None,
) -> Level:
    """`clients` closed-loop clients for `seconds` (default `args.seconds`); in-flight requests
    finish (or time out) after it."""
    level = Level(clients)
    rng = random.Random(args.seed + clients)
    async with AsyncExitStack() as stack:
        users = [
            await stack.enter_async_context(c)
            for c in http_clients(base_url, clients, args.timeout)
        ]
        server_cpu = server_cpu_seconds(server_pid)
        cpu, start = time.process_time(), time.perf_counter()
        duration = args.seconds if seconds is None else seconds
        window = (start + RAMP_SHARE * duration, start + duration)
        await asyncio.gather(*(client_loop(user, urls, rng, window, level) for user in users))
        level.seconds = window[1] - window[0]
        level.client_cpu = (time.process_time() - cpu) / (time.perf_counter() - start)
    if server_pid is not None and level.outcomes["2xx"]:
        used = server_cpu_seconds(server_pid) - server_cpu
        level.server_cpu_ms = 1000 * used / level.outcomes["2xx"]
    return level


def server_cpu_seconds(pid: int | None) -> float:
    """CPU seconds used so far by the server process and its children (uvicorn's workers)."""
    if pid is None:
        return 0.0
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if stat.parent.name == str(pid) or fields[1] == str(pid):
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


async def after_burst(base_url: str, urls: list[str], args: argparse.Namespace) -> float:
    """Seconds the first request takes after 500 clients abandon their requests at once (inf if
    it fails or times out)."""
    level = Level(BURST_CLIENTS)
    rng = random.Random(args.seed)
    window = (0.0, time.perf_counter() + 3600)
    async with AsyncExitStack() as stack:
        users = [
            await stack.enter_async_context(c)
            for c in http_clients(base_url, BURST_CLIENTS, args.timeout)
        ]
        loops = [asyncio.create_task(client_loop(user, urls, rng, window, level)) for user in users]
        await asyncio.sleep(min(args.seconds, 5.0))
        for loop in loops:
            loop.cancel()
        await asyncio.gather(*loops, return_exceptions=True)
    async with httpx.AsyncClient(base_url=base_url, timeout=args.timeout) as probe:
        start = time.perf_counter()
        try:
            (await probe.get(urls[0])).raise_for_status()
        except httpx.HTTPError:
            return math.inf
        return time.perf_counter() - start


async def wait_until_serving(
    base_url: str, server: subprocess.Popen | None, timeout_s: float
) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(base_url=base_url, timeout=1) as client:
        while True:
            if server is not None and server.poll() is not None:
                raise RuntimeError("the server exited during start-up")
            try:
                if (await client.get("/static/app.css")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not answer within {timeout_s:.0f} s")
            await asyncio.sleep(0.2)


async def bench(base_url: str, server: subprocess.Popen | None, args: argparse.Namespace) -> dict:
    await wait_until_serving(base_url, server, 60)
    async with httpx.AsyncClient(base_url=base_url, timeout=args.timeout) as client:
        body = (await client.get(f"/api/v1/saes/{args.sae}")).raise_for_status().json()
        words = await label_words(client, args.sae)
    urls = request_urls(args.sae, body["sae"]["d_sae"], words, random.Random(args.seed), 2000)
    await run_level(base_url, urls, 8, args, seconds=args.warmup_seconds)
    print(
        f"{'clients':>7}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'2xx':>7}{'503':>6}"
        f"{'timeouts':>9}{'conn err':>9}{'other':>7}{'client CPU':>11}{'server ms':>12}"
    )
    levels = []
    for clients in args.levels:
        server_pid = server.pid if server is not None else None
        levels.append(await run_level(base_url, urls, clients, args, server_pid=server_pid))
        print_level(levels[-1])
    return {"levels": levels, "after_burst_s": await after_burst(base_url, urls, args)}


def print_level(level: Level) -> None:
    timing = percentiles(level.ok_seconds) if level.ok_seconds else {"p50": 0.0, "p99": 0.0}
    counts = [level.outcomes[key] for key in ("2xx", "503", "timeout", "connection error")]
    other = sum(level.outcomes.values()) - sum(counts)
    print(
        f"{level.clients:>7}{level.throughput:>9.1f}{timing['p50']:>9.1f}{timing['p99']:>9.1f}"
        f"{counts[0]:>7}{counts[1]:>6}{counts[2]:>9}{counts[3]:>9}{other:>7}"
        f"{100 * level.client_cpu:>10.0f}%"
        f"{'' if level.server_cpu_ms is None else f'{level.server_cpu_ms:.1f}':>12}",
        flush=True,
    )


def summarise(result: dict) -> tuple[list[dict], list[str]]:
    """Rows with the ratio to the best level, and the targets missed."""
    levels: list[Level] = result["levels"]
    best = max(level.throughput for level in levels)
    rows, missed = [], []
    for level in levels:
        ratio = level.throughput / best if best else 0.0
        timing = percentiles(level.ok_seconds) if level.ok_seconds else {}
        rows.append(
            {
                "clients": level.clients,
                "throughput": level.throughput,
                "ratio_to_best": ratio,
                "p50_ms": timing.get("p50"),
                "p99_ms": timing.get("p99"),
                "outcomes": dict(level.outcomes),
                "client_cpu": level.client_cpu,
                "server_cpu_ms_per_2xx": level.server_cpu_ms,
            }
        )
        if level.clients in RATIO_LEVELS and ratio < MIN_RATIO:
            missed.append(f"{level.clients} clients at {ratio:.2f}x the best level")
        for outcome in ("timeout", "connection error"):
            if level.outcomes[outcome]:
                missed.append(f"{level.outcomes[outcome]} {outcome}s at {level.clients} clients")
    if result["after_burst_s"] > AFTER_BURST_TARGET_S:
        missed.append(f"first request after the burst took {result['after_burst_s']:.2f} s")
    return rows, missed


@contextmanager
def serve(args: argparse.Namespace) -> Iterator[subprocess.Popen]:
    """`maira-sae serve --workers N` on loopback, in its own process; its log goes to a file."""
    url = args.database_url or resolve_database_url(get_settings())
    env = {**os.environ, "MAIRA_SAE_DATABASE_URL": url}
    command = [str(MAIRA_SAE), "serve", "--host", "127.0.0.1", "--port", str(args.port)]
    command += ["--workers", str(args.server_workers)]
    log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench_load-{args.port}.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(command, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    print(f"server log: {log_path}")
    try:
        yield server
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sae", default="bench", help="slug of the SAE to browse")
    parser.add_argument("--database-url", help="defaults to MAIRA_SAE_DATABASE_URL")
    parser.add_argument("--levels", type=int, nargs="+", default=list(LEVELS))
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each level")
    parser.add_argument(
        "--warmup-seconds", type=float, default=3.0, help="8 clients first, not reported"
    )
    parser.add_argument("--timeout", type=float, default=30.0, help="client timeout per request")
    parser.add_argument("--server-workers", type=int, default=1, help="`serve --workers`")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--base-url", help="bench a server already running there instead")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if args.base_url:
        result = asyncio.run(bench(args.base_url, None, args))
    else:
        with serve(args) as server:
            result = asyncio.run(bench(f"http://127.0.0.1:{args.port}", server, args))
    rows, missed = summarise(result)
    print("ratio of throughput to the best level: ", end="")
    print(", ".join(f"{row['clients']}: {row['ratio_to_best']:.2f}x" for row in rows))
    print(f"first request after the {BURST_CLIENTS}-client burst: {result['after_burst_s']:.3f} s")
    print("targets met" if not missed else "targets missed: " + "; ".join(missed))
    if args.json:
        summary = {"levels": rows, "after_burst_s": result["after_burst_s"], "missed": missed}
        args.json.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
