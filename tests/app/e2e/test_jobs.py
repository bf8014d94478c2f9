"""The job page in Chromium, fed by a real worker: it polls itself to the end, and cancels."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.support.factories import SeededData
from tests.support.workers import WorkerStarter
from workers.queue.submit import submit_job

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def worker(
    e2e_data: tuple[str, SeededData], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    starter = WorkerStarter(e2e_data[0], Path(tmp_path_factory.mktemp("e2e-workers")))
    starter.start()
    yield
    starter.close()


def test_job_page_shows_progress_then_the_result_and_stops_polling(
    page: Page, live_server: str, e2e_data: tuple[str, SeededData], worker: None
) -> None:
    job = submit_job(e2e_data[0], "test.steps", {"steps": 12, "delay": 0.25, "echo": "e2e"})
    page.goto(f"{live_server}/jobs/{job.id}")
    panel = page.locator("#job-panel")
    expect(panel.locator(".job-state")).to_have_text("Running", timeout=10_000)
    expect(panel.locator(".job-message")).to_contain_text("of 12")
    expect(panel.locator(".job-state")).to_have_text("Done", timeout=15_000)
    expect(panel.locator(".job-result")).to_contain_text('"echo": "e2e"')
    polls: list[str] = []
    page.on("request", lambda request: polls.append(request.url))
    page.wait_for_timeout(1500)
    assert [url for url in polls if url.endswith("/panel")] == []


def test_cancel_button_stops_a_running_job(
    page: Page, live_server: str, e2e_data: tuple[str, SeededData], worker: None
) -> None:
    job = submit_job(e2e_data[0], "test.steps", {"steps": 400, "delay": 0.05})
    page.goto(f"{live_server}/jobs/{job.id}")
    panel = page.locator("#job-panel")
    expect(panel.locator(".job-state")).to_have_text("Running", timeout=10_000)
    panel.get_by_role("button", name="Cancel").click()
    expect(panel.locator(".job-state")).to_have_text("Cancelled", timeout=5_000)
    expect(panel.get_by_role("button", name="Cancel")).to_have_count(0)
