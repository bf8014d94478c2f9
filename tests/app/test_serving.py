"""`maira-sae serve` under load: no request hangs, the busy get 503 + Retry-After, N workers."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx

from tests.support.databases import temporary_database
from tests.support.factories import SeededData
from tests.support.servers import serving

CLIENTS = 200


def request_mix(seeded: SeededData, n: int) -> list[str]:
    """Feature JSON and HTML, feature lists and search, in turn."""
    slug = seeded.sae_slug
    urls = [
        f"/api/v1/saes/{slug}/features/{seeded.rich_feature}",
        f"/saes/{slug}/features/{seeded.rich_feature}",
        f"/api/v1/saes/{slug}/features?sort=-f1&limit=20",
        f"/saes/{slug}/features",
        "/api/v1/search?q=effusion",
        "/search?q=effusion",
    ]
    return [urls[i % len(urls)] for i in range(n)]


async def fire(base_url: str, urls: list[str]) -> list[httpx.Response]:
    """Send every request at once, each on its own connection; a client error propagates."""
    limits = httpx.Limits(max_connections=len(urls), max_keepalive_connections=len(urls))
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60) as client:
        return await asyncio.gather(*(client.get(url) for url in urls))


def test_many_concurrent_clients_get_an_answer_and_none_hangs(
    seeded_url: tuple[str, SeededData], tmp_path: Path
) -> None:
    url, seeded = seeded_url
    settings = {"db_pool_size": 2, "admission_timeout_s": 1.0, "busy_retry_after_s": 2}
    with serving(url, tmp_path / "serve.log", **settings) as base_url:
        start = time.monotonic()
        responses = asyncio.run(fire(base_url, request_mix(seeded, CLIENTS)))
        burst_s = time.monotonic() - start
        after = time.monotonic()
        assert httpx.get(f"{base_url}/api/v1/saes", timeout=10).status_code == 200
        after_s = time.monotonic() - after
    statuses = [response.status_code for response in responses]
    assert set(statuses) <= {200, 503}, statuses
    assert statuses.count(200) >= 1
    for response in responses:
        if response.status_code == 503:
            assert response.headers["retry-after"] == "2"
            if response.request.url.path.startswith("/api/"):
                assert set(response.json()) == {"detail"}
            else:
                assert response.headers["content-type"].startswith("text/html")
    assert burst_s < 30, f"the burst took {burst_s:.1f} s"
    assert after_s < 2, f"the first request after the burst took {after_s:.1f} s"
    log = (tmp_path / "serve.log").read_text()
    assert "QueuePool limit" not in log
    assert "Exception in ASGI application" not in log


def test_serve_runs_several_workers_on_a_fresh_database(
    postgres_server: str, tmp_path: Path
) -> None:
    log_path = tmp_path / "serve.log"
    with (
        temporary_database(postgres_server, migrate=False) as url,
        serving(url, log_path, "--workers", "2", db_pool_size=2, ready_timeout_s=60) as base,
    ):
        deadline = time.monotonic() + 60
        while log_path.read_text().count("Application startup complete") < 2:
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.2)
        responses = asyncio.run(fire(base, ["/api/v1/saes"] * 20))
        assert {response.status_code for response in responses} == {200}
        assert responses[0].json() == {"data": [], "count": 0}
    log = log_path.read_text()
    assert log.count("Started server process") == 2, log
    assert "Traceback" not in log, log
