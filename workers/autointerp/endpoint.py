"""Where LLM calls go: an OpenAI-compatible server or Azure OpenAI, and whether it is on site.

Report text may not leave the site unless the deployment allows it: an endpoint whose host is
not a loopback or private address (every address it resolves to) is "remote", and remote
endpoints are refused unless `llm_allow_remote` is set.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from openai import AsyncAzureOpenAI, AsyncOpenAI

from db.settings import Settings

EndpointKind = Literal["openai", "azure"]
REMOTE_WARNING = (
    "The LLM endpoint {host} is not on a loopback or private address: report text sent for "
    "autointerp would leave the site."
)


class EndpointRefused(ValueError):
    """The endpoint is remote and the deployment forbids sending report text off site."""


@dataclass(frozen=True)
class Endpoint:
    """An LLM endpoint: its base URL, kind, key and (Azure) API version."""

    base_url: str
    kind: EndpointKind = "openai"
    api_key: str = "not-needed"
    api_version: str | None = None

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).hostname or ""

    def client(self, timeout_s: float) -> AsyncOpenAI:
        """An async client that does not retry by itself (our retries are counted)."""
        if self.kind == "azure":
            return AsyncAzureOpenAI(
                azure_endpoint=self.base_url,
                api_key=self.api_key,
                api_version=self.api_version or "2024-10-21",
                max_retries=0,
                timeout=timeout_s,
            )
        return AsyncOpenAI(
            base_url=self.base_url, api_key=self.api_key, max_retries=0, timeout=timeout_s
        )


def endpoint_from_settings(settings: Settings, base_url: str | None = None) -> Endpoint:
    """The configured endpoint (`base_url` overrides the setting's URL)."""
    return Endpoint(
        base_url=base_url or settings.llm_base_url,
        kind=settings.llm_endpoint_kind,
        api_key=settings.llm_api_key or "not-needed",
        api_version=settings.llm_api_version,
    )


def is_on_site(host: str) -> bool:
    """True when every address `host` names is loopback or private (unresolvable: False)."""
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        addresses = {ipaddress.ip_address(host)}
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, None)
        except OSError:
            return False
        addresses = {ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos}
    return bool(addresses) and all(a.is_loopback or a.is_private for a in addresses)


def remote_warning(endpoint: Endpoint) -> str | None:
    """The plain warning for a remote endpoint, or None when it is on site."""
    return None if is_on_site(endpoint.host) else REMOTE_WARNING.format(host=endpoint.host)


def check_endpoint(endpoint: Endpoint, *, allow_remote: bool) -> str | None:
    """The remote warning (None when on site); raises EndpointRefused if remote is forbidden."""
    warning = remote_warning(endpoint)
    if warning and not allow_remote:
        raise EndpointRefused(
            warning + " This deployment forbids it (set MAIRA_SAE_LLM_ALLOW_REMOTE=true to allow)."
        )
    return warning
