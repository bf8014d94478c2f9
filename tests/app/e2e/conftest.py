"""Browser fixtures: Debian's Chromium, a live `maira-sae serve` on seeded data, no internet."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import BrowserContext, Route

from tests.support.factories import SeededData, committed_explorer_data
from tests.support.servers import serving

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run browser tests last: Playwright's sync API keeps an event loop running on the main
    thread for the rest of the session, which breaks later tests that call asyncio.run()."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """The plugin's launch arguments plus the system Chromium (never `playwright install`)."""
    return {
        **browser_type_launch_args,
        "executable_path": os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"),
        "args": [*browser_type_launch_args.get("args", []), *CHROMIUM_ARGS],
    }


@pytest.fixture(scope="session")
def e2e_data(make_database: Callable[[], str]) -> tuple[str, SeededData]:
    """A fresh migrated database holding the committed explorer test data."""
    return committed_explorer_data(make_database())


@pytest.fixture(scope="session")
def live_server(
    e2e_data: tuple[str, SeededData], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """`maira-sae serve` in a subprocess on a free local port; yields its base URL."""
    log_path = tmp_path_factory.mktemp("live-server") / "serve.log"
    with serving(e2e_data[0], log_path, ready_timeout_s=20) as base_url:
        yield base_url


@pytest.fixture
def external_requests() -> list[str]:
    """URLs of requests the page tried to send off this machine (all of them were blocked)."""
    return []


@pytest.fixture
def context(
    new_context: Callable[..., BrowserContext], external_requests: list[str]
) -> Iterator[BrowserContext]:
    """A browser context that refuses every request not addressed to this machine."""
    browser_context = new_context()

    def guard(route: Route) -> None:
        if urlsplit(route.request.url).hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            external_requests.append(route.request.url)
            route.abort()

    browser_context.route("**/*", guard)
    yield browser_context
    assert external_requests == [], f"the page tried to reach the internet: {external_requests}"
