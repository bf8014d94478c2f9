"""In Chromium: sign in, make an API key (shown once), use it, sign out."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session

from app.services.accounts import add_user
from db.engine import make_engine
from tests.support.factories import SeededData

pytestmark = pytest.mark.browser

PASSWORD = "a browser-typed password"


@pytest.fixture(scope="module")
def browser_user(e2e_data: tuple[str, SeededData]) -> str:
    engine = make_engine(e2e_data[0])
    with Session(engine) as session:
        add_user(session, name="carla", role="reviewer", password=PASSWORD)
    engine.dispose()
    return "carla"


def test_sign_in_and_create_an_api_key_shown_once(
    page: Page, live_server: str, browser_user: str
) -> None:
    page.goto(f"{live_server}/saes/test-sae/features")
    page.get_by_role("link", name="Sign in").click()
    page.get_by_label("User name").fill(browser_user)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong user name or password.")

    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("User name").fill(browser_user)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_server}/saes/test-sae/features")
    page.get_by_role("link", name=browser_user).click()
    expect(page.locator("h1")).to_have_text(browser_user)

    page.get_by_label("Name of a new key").fill("my notebook")
    page.get_by_role("button", name="Create API key").click()
    secret = page.locator("#new-api-key").inner_text()
    assert secret.startswith("msae_")
    bearer = {"Authorization": f"Bearer {secret}"}
    assert httpx.get(f"{live_server}/api/v1/saes", headers=bearer).status_code == 200

    page.goto(f"{live_server}/account")
    expect(page.locator("table.api-keys")).to_contain_text("my notebook")
    expect(page.locator("table.api-keys")).to_contain_text(secret[:11])
    assert secret not in page.content()

    page.get_by_role("button", name="Revoke").click()
    expect(page.locator("table.api-keys")).to_contain_text("revoked")
    assert httpx.get(f"{live_server}/api/v1/saes", headers=bearer).status_code == 401

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("link", name="Sign in")).to_be_visible()
