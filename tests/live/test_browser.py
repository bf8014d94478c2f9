"""In Chromium: upload an X-ray on /encode, wait for the report, click a word and read its
features; then steer the same study and see both reports side by side."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.app.e2e.conftest import (  # noqa: F401 (the browser fixtures of the e2e tests)
    browser_type_launch_args,
    context,
    external_requests,
)
from tests.live.conftest import SAE_SLUG, LiveSetup
from tests.live.images import xray_png
from tests.workers.queue.conftest import WorkerProcess

pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def live_site(live_setup: LiveSetup, live_worker: WorkerProcess) -> Iterator[str]:
    """`maira-sae serve` on the live database and data folder, with the worker running."""
    port = _free_port()
    env = {
        **os.environ,
        "MAIRA_SAE_DATABASE_URL": live_setup.url,
        "MAIRA_SAE_HOME": str(live_setup.home),
    }
    command = [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, "the server exited early"
            try:
                if httpx.get(f"{base_url}/static/live.js", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not answer within 30 s"
            time.sleep(0.1)
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_upload_encode_click_a_word_then_steer(page: Page, live_site: str) -> None:
    page.goto(f"{live_site}/encode")
    page.get_by_label("SAE", exact=True).select_option(SAE_SLUG)
    page.get_by_label("Frontal image", exact=True).set_input_files(
        {"name": "frontal.png", "mimeType": "image/png", "buffer": xray_png(seed=77)}
    )
    page.get_by_label("Indication").fill("Cough.")
    page.get_by_label("Longest report (tokens)").fill("8")
    page.get_by_role("button", name="Write the report and encode it").click()
    expect(page).to_have_url(re.compile(rf"{live_site}/encode/[0-9a-f-]+$"))

    words = page.locator("#report-tokens .live-tok:not([data-f=''])")
    expect(words.first).to_be_visible(timeout=90_000)
    panel = page.locator("#token-panel")
    expect(panel.get_by_text("Click or focus a word in the report.")).to_be_visible()
    words.first.click()
    expect(words.first).to_have_attribute("aria-pressed", "true")
    listed = panel.locator(".token-features:not([hidden]) a")
    expect(listed.first).to_be_visible()
    expect(listed.first).to_have_attribute("href", re.compile(rf"^/saes/{SAE_SLUG}/features/\d+$"))

    words.nth(1).focus()
    expect(words.nth(1)).to_have_attribute("aria-pressed", "true")
    expect(words.first).to_have_attribute("aria-pressed", "false")

    page.get_by_role("link", name="Steer this study").click()
    expect(
        page.get_by_text(re.compile(r"Using uploaded image \w{8} from the earlier job")).first
    ).to_be_visible()
    expect(page.get_by_label("Indication")).to_have_value("Cough.")
    page.get_by_label("Feature index 1").fill("2")
    page.get_by_label("Alpha 1").fill("30")
    page.get_by_label("Longest report (tokens, at most 300)").fill("8")
    page.get_by_role("button", name="Steer", exact=True).click()
    expect(page).to_have_url(re.compile(rf"{live_site}/steer/[0-9a-f-]+$"))
    expect(page.get_by_role("heading", name="Steered report")).to_be_visible(timeout=90_000)
    expect(page.get_by_role("heading", name="Findings (CheXpert observations)")).to_be_visible()
    expect(page.get_by_role("link", name=re.compile(r"#2 tiny feature 2"))).to_be_visible()


def test_a_form_error_keeps_the_upload_and_the_result_shows_the_image(
    page: Page, live_site: str
) -> None:
    page.goto(f"{live_site}/encode")
    wide = page.locator(".field-wide").first.bounding_box()
    assert wide is not None and wide["height"] < 90  # label + input, no empty space below
    page.get_by_label("SAE", exact=True).select_option(SAE_SLUG)
    page.get_by_label("Frontal image", exact=True).set_input_files(
        {"name": "frontal.png", "mimeType": "image/png", "buffer": xray_png(seed=78)}
    )
    page.get_by_label("Indication").fill("Kept after the error.")
    page.get_by_label("Longest report (tokens)").fill("999")
    page.locator("form.live-form").evaluate("form => { form.noValidate = true; }")
    page.get_by_role("button", name="Write the report and encode it").click()

    expect(page.locator("#form-errors")).to_contain_text("less than or equal to 300")
    expect(page.get_by_text(re.compile(r"Using uploaded image \w{8}\."))).to_be_visible()
    thumbnail = page.locator("[data-kept-upload] img")
    expect(thumbnail).to_be_visible()
    assert thumbnail.evaluate("img => img.naturalWidth") == 72
    expect(page.get_by_label("Indication")).to_have_value("Kept after the error.")
    expect(page.get_by_label("Longest report (tokens)")).to_have_value("999")
    expect(page.get_by_label("Frontal image", exact=True)).to_be_hidden()

    page.get_by_label("Longest report (tokens)").fill("6")
    page.get_by_role("button", name="Write the report and encode it").click()
    expect(page).to_have_url(re.compile(rf"{live_site}/encode/[0-9a-f-]+$"))
    figure = page.locator("figure.study-image")
    expect(figure.get_by_text("Frontal image")).to_be_visible(timeout=90_000)
    image = figure.locator("img[data-wl-image]")
    expect(image).to_be_visible()
    expect(page.get_by_text("Kept after the error.").first).to_be_attached()
    page.wait_for_function("() => document.querySelector('[data-wl-image]').naturalWidth > 0")

    figure.get_by_label("Window").fill("32")
    canvas = figure.locator("canvas[data-wl-canvas]")
    expect(canvas).to_be_visible()
    expect(image).to_be_hidden()
    expect(figure.locator("[data-wl-value='window']")).to_have_text("32")
    levels = canvas.evaluate(
        "c => Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)"
        ".filter((_, i) => i % 4 === 0)"
    )
    # A 32-wide window around 128 maps almost every random grey level to pure black or white.
    assert sum(value in (0, 255) for value in levels) > 0.8 * len(levels)
