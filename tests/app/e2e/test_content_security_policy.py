"""In Chromium: the pages run under their Content-Security-Policy with no violation (htmx, our
scripts and the token shading all work), and a script injected inline is blocked."""

from __future__ import annotations

import pytest
from playwright.sync_api import ConsoleMessage, Page, expect

pytestmark = pytest.mark.browser

PAGES = [
    "/",
    "/saes/test-sae",
    "/saes/test-sae/features",
    "/saes/test-sae/features/1",
    "/search?q=effusion",
    "/encode",
    "/steer",
]


def test_pages_run_with_no_csp_violation(page: Page, live_server: str) -> None:
    violations: list[str] = []
    console: list[str] = []
    page.on("console", lambda message: console.append(_describe(message)))
    page.expose_function("reportViolation", lambda text: violations.append(text))
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation', e => "
        "window.reportViolation(e.violatedDirective + ' ' + e.blockedURI));"
    )
    for path in PAGES:
        response = page.goto(f"{live_server}{path}")
        assert response is not None and response.ok, path
        assert "script-src 'self'" in response.headers["content-security-policy"]
        page.wait_for_load_state("networkidle")
    page.goto(f"{live_server}/saes/test-sae/features")
    page.get_by_label("Label contains").fill("heart")
    expect(page.locator("#results tbody tr")).not_to_have_count(40)
    page.goto(f"{live_server}/saes/test-sae/features/1")
    page.locator('.tok[data-v="2"]').hover()
    expect(page.locator("#token-tip")).to_be_visible()
    assert violations == []
    assert [line for line in console if "Content Security Policy" in line] == []


def test_an_injected_inline_script_is_blocked(page: Page, live_server: str) -> None:
    console: list[str] = []
    page.on("console", lambda message: console.append(_describe(message)))
    page.goto(f"{live_server}/")
    page.evaluate(
        "() => { const s = document.createElement('script'); s.textContent = "
        "'window.injected = true'; document.body.appendChild(s); }"
    )
    assert page.evaluate("() => window.injected === undefined")
    assert any("Content Security Policy" in line for line in console)


def _describe(message: ConsoleMessage) -> str:
    return f"{message.type}: {message.text}"
