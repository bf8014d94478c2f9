"""End to end in Chromium: list, filters, feature page, token values, search, keyboard."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.support.factories import SeededData

pytestmark = pytest.mark.browser


def test_filter_the_list_and_open_a_feature(page: Page, live_server: str) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(f"{live_server}/saes/test-sae/features")
    expect(page.locator("#results tbody tr")).to_have_count(40)

    page.get_by_label("Lowest F1").fill("0.75")
    expect(page.locator("#results tbody tr")).to_have_count(3)
    expect(page).to_have_url(re.compile(r"/saes/test-sae/features\?min_f1=0\.75$"))

    page.get_by_label("Label contains").fill("heart")
    expect(page.locator("#results tbody tr")).to_have_count(1)
    expect(page).to_have_url(re.compile(r"q=heart"))
    expect(page.locator(".result-count")).to_contain_text("1 feature matches")

    page.get_by_role("link", name="heart size and cardiomegaly").click()
    expect(page).to_have_url(f"{live_server}/saes/test-sae/features/1")
    expect(page.locator("h1")).to_have_text("heart size and cardiomegaly")

    strongest = page.locator('.tok[data-v="2"]')
    expect(strongest).to_contain_text("<script>alert(1)</script>")  # shown as text, not run
    strongest.hover()
    tip = page.locator("#token-tip")
    expect(tip).to_be_visible()
    expect(tip).to_contain_text("“<script>alert(1)</script>”: 2")
    assert dialogs == []


def test_bad_filter_is_explained_in_place(page: Page, live_server: str) -> None:
    page.goto(f"{live_server}/saes/test-sae/features")
    page.get_by_label("Lowest F1").fill("0.9")
    page.get_by_label("Highest F1").fill("0.1")
    expect(page.get_by_role("alert")).to_contain_text("min_f1 must not exceed max_f1")


def test_token_value_on_keyboard_focus(page: Page, live_server: str) -> None:
    page.goto(f"{live_server}/saes/test-sae/features/0")
    token = page.locator('.tok[data-v="4.5"]')
    expect(token).to_contain_text("left")
    token.focus()
    expect(page.locator("#token-tip")).to_be_visible()
    expect(page.locator("#token-tip")).to_contain_text("“left”: 4.5")
    page.keyboard.press("Escape")
    expect(page.locator("#token-tip")).to_be_hidden()


def test_keyboard_navigation(page: Page, live_server: str, e2e_data) -> None:
    seeded: SeededData = e2e_data[1]
    page.goto(f"{live_server}/saes/test-sae/features/0")
    for key, index in (("j", 1), ("ArrowRight", 2), ("k", 1), ("ArrowLeft", 0)):
        page.keyboard.press(key)
        expect(page).to_have_url(f"{live_server}/saes/test-sae/features/{index}")
        page.wait_for_load_state()  # the next key needs the new page's script

    page.keyboard.press("?")
    expect(page.locator("#shortcut-help")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator("#shortcut-help")).to_be_hidden()

    page.keyboard.press("/")
    expect(page.locator("#site-search")).to_be_focused()
    page.keyboard.type(f"{seeded.sae_slug}/{seeded.d_sae - 1}")
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{live_server}/saes/test-sae/features/{seeded.d_sae - 1}")


def test_search(page: Page, live_server: str) -> None:
    page.goto(live_server)
    page.get_by_label(re.compile("Search feature labels")).fill("pleural")
    page.keyboard.press("Enter")
    expect(page.locator("h2#results-title")).to_have_text("2 labels match “pleural”")
    page.get_by_role("link", name="pleural effusion", exact=True).click()
    expect(page).to_have_url(f"{live_server}/saes/test-sae/features/0")
    expect(page.locator(".explanation.primary .explanation-text")).to_have_text("pleural effusion")


def test_show_more_top_examples(page: Page, live_server: str, e2e_data) -> None:
    """Feature 2 has 25 top examples: 20 on the page, the rest one click away (htmx)."""
    page.goto(f"{live_server}/saes/test-sae/features/2")
    examples = page.locator("#top-examples .example")
    expect(examples).to_have_count(20)
    page.get_by_role("link", name="Show 5 more top activations").click()
    expect(examples).to_have_count(25)
    expect(page).to_have_url(f"{live_server}/saes/test-sae/features/2")


def test_list_pages_back_and_forth_and_filters_frequency_in_percent(
    page: Page, live_server: str
) -> None:
    page.goto(f"{live_server}/saes/test-sae/features?sort=-f1&limit=15")
    count = page.locator(".result-count")
    expect(count).to_contain_text("40 features match · page 1 of 3")
    expect(page.get_by_role("link", name="← Previous page")).to_have_count(0)
    first_rows = page.locator("#results tbody tr td:first-child").all_inner_texts()

    page.get_by_role("link", name="Next page →").click()
    expect(count).to_contain_text("page 2 of 3")
    expect(page).to_have_url(re.compile(r"cursor="))
    page.get_by_role("link", name="← Previous page").click()
    expect(count).to_contain_text("page 1 of 3")
    assert page.locator("#results tbody tr td:first-child").all_inner_texts() == first_rows

    page.goto(f"{live_server}/saes/test-sae/features?sort=frequency")
    page.get_by_label("Lowest frequency, in percent").fill("1")
    expect(page).to_have_url(re.compile(r"min_frequency_pct=1"))
    first_shown = page.locator("#results tbody tr").first.locator("td").nth(3)
    expect(first_shown).to_have_text(re.compile(r"^1(\.\d+)?%$"))
