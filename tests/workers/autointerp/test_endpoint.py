"""Which endpoints are on site, and the Azure OpenAI client."""

from __future__ import annotations

import pytest
from openai import AsyncAzureOpenAI, AsyncOpenAI

from db.settings import Settings
from workers.autointerp.endpoint import (
    Endpoint,
    EndpointRefused,
    check_endpoint,
    endpoint_from_settings,
    is_on_site,
)


@pytest.mark.parametrize(
    ("host", "on_site"),
    [
        ("127.0.0.1", True),
        ("localhost", True),
        ("10.1.2.3", True),
        ("192.168.0.7", True),
        ("::1", True),
        ("8.8.8.8", False),
        ("", False),
        ("no-such-host.invalid", False),
    ],
)
def test_only_loopback_and_private_addresses_are_on_site(host: str, on_site: bool) -> None:
    assert is_on_site(host) is on_site


def test_a_remote_endpoint_is_refused_unless_allowed() -> None:
    remote = Endpoint(base_url="https://api.example.invalid/v1")
    with pytest.raises(EndpointRefused, match="would leave the site"):
        check_endpoint(remote, allow_remote=False)
    assert "would leave the site" in (check_endpoint(remote, allow_remote=True) or "")
    assert check_endpoint(Endpoint(base_url="http://127.0.0.1:8011/v1"), allow_remote=False) is None


def test_settings_choose_an_azure_client() -> None:
    settings = Settings(
        llm_base_url="https://10.0.0.5/", llm_endpoint_kind="azure", llm_api_version="2024-10-21"
    )
    endpoint = endpoint_from_settings(settings)
    assert isinstance(endpoint.client(5), AsyncAzureOpenAI)
    plain = endpoint_from_settings(Settings(), "http://127.0.0.1:1/v1")
    client = plain.client(5)
    assert isinstance(client, AsyncOpenAI) and not isinstance(client, AsyncAzureOpenAI)
    assert client.max_retries == 0
