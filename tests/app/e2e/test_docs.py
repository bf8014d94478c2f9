"""End to end in Chromium: /docs renders the API's operations with every request off this
machine blocked (the `context` fixture aborts them and fails the test if any was tried)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser


def test_docs_render_operations_offline(
    page: Page, live_server: str, external_requests: list[str]
) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{live_server}/docs")
    operation = page.locator(
        ".opblock-summary-path", has_text="/api/v1/saes/{sae}/features/{index}"
    )
    expect(operation.first).to_be_visible(timeout=15_000)
    assert page.locator(".opblock").count() >= 10
    expect(page.locator(".info .title")).to_contain_text("MAIRA-2 SAE Explorer")
    assert errors == []
    assert external_requests == []
