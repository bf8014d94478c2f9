"""End to end in Chromium: the feature page's snippets by keyboard, and the report page."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.support.factories import MANY_EXAMPLES_FEATURE

pytestmark = pytest.mark.browser

MAX_TABS = 30


def _tabs_to(page: Page, selector: str, limit: int = 200) -> int:
    """Tab presses from the top of the page until focus lands inside `selector`."""
    page.locator("body").focus()
    for presses in range(1, limit + 1):
        page.keyboard.press("Tab")
        if page.evaluate(f"!!document.activeElement.closest({selector!r})"):
            return presses
    raise AssertionError(f"{selector} not reached in {limit} Tab presses")


def test_tab_reaches_the_neighbours_past_twenty_snippets(page: Page, live_server: str) -> None:
    page.goto(f"{live_server}/saes/test-sae/features/{MANY_EXAMPLES_FEATURE}")
    expect(page.locator("#top-examples .example")).to_have_count(20)
    assert _tabs_to(page, ".neighbours") <= MAX_TABS


def test_arrow_keys_move_between_words_and_snippets(page: Page, live_server: str) -> None:
    page.goto(f"{live_server}/saes/test-sae/features/3")
    first = page.locator("#top-examples .tok.sampled")
    tabs = _tabs_to(page, "#top-examples")
    expect(first).to_be_focused()
    assert tabs <= MAX_TABS
    tip = page.locator("#token-tip")
    expect(tip).to_contain_text("“fracture”: 2")

    page.keyboard.press("ArrowLeft")  # the previous highlighted word, not the previous feature
    displaced = page.locator("#top-examples .tok", has_text="displaced")
    expect(displaced).to_be_focused()
    expect(tip).to_contain_text("“p” 0.9")
    assert displaced.get_attribute("tabindex") == "0"
    assert first.get_attribute("tabindex") == "-1"
    expect(page).to_have_url(f"{live_server}/saes/test-sae/features/3")
    page.keyboard.press("End")
    expect(first).to_be_focused()

    # the interval section is the next Tab stop, on its sampled word
    page.keyboard.press("Tab")
    expect(page.locator(".interval .tok.sampled")).to_be_focused()
    expect(tip).to_contain_text("sampled token")

    page.keyboard.press("Enter")  # the whole report, scrolled to the word
    expect(page).to_have_url(f"{live_server}/saes/test-sae/features/3/reports/report-3#t5")
    expect(page.locator("h1")).to_have_text("Report report-3")
    expect(page.locator(".report .unknown").first).to_have_text("Findings:")
    expect(page.locator("#t5")).to_contain_text("displaced")
    expect(page.locator("#t5")).to_be_focused()  # the linked word, its values shown
    expect(tip).to_contain_text("“displaced”: 0.9")


def test_arrow_down_moves_to_the_next_snippet(page: Page, live_server: str) -> None:
    page.goto(f"{live_server}/saes/test-sae/features/{MANY_EXAMPLES_FEATURE}")
    snippets = page.locator("#top-examples .tokens")
    _tabs_to(page, "#top-examples")
    expect(snippets.nth(0).locator(".tok.sampled")).to_be_focused()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    expect(snippets.nth(2).locator(".tok.sampled")).to_be_focused()
    page.keyboard.press("ArrowUp")
    expect(snippets.nth(1).locator(".tok.sampled")).to_be_focused()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")  # back to the group: the word last focused
    expect(snippets.nth(1).locator(".tok.sampled")).to_be_focused()
