"""Hostile clients against a real server over real sockets: bad input answered with a 4xx on the
same keep-alive connection, and an upload that stalls half-way timed out instead of held."""

from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.live.images import xray_png
from tests.support.factories import SeededData
from tests.support.servers import serving

STALL_TIMEOUT_S = 1.0


@pytest.fixture(scope="module")
def impatient_server(
    e2e_data: tuple[str, SeededData], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A server that gives up on a silent request body after STALL_TIMEOUT_S."""
    home: Path = tmp_path_factory.mktemp("impatient-home")
    with serving(
        e2e_data[0], home / "serve.log", home=home, body_stall_timeout_s=STALL_TIMEOUT_S
    ) as base_url:
        yield base_url


def test_hostile_requests_get_4xx_and_the_connection_stays_alive(
    live_server: str, e2e_data: tuple[str, SeededData]
) -> None:
    slug = e2e_data[1].sae_slug
    address = urlsplit(live_server)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
    hostile = [
        ("GET", f"/api/v1/saes/{slug}/features?q=%00", None, {}),
        ("GET", f"/saes/{slug}%00", None, {}),
        ("GET", "/search?q=%00", None, {}),
        ("POST", "/api/v1/steer", b'{"sae": "caf\xe9"}', {"Content-Type": "application/json"}),
        ("POST", "/api/v1/steer", b'{"sae": "\\u0000"}', {"Content-Type": "application/json"}),
    ]
    connection.connect()
    first_socket = connection.sock
    for method, path, body, headers in hostile:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        assert response.status == 400, (method, path, response.status)
        assert response.getheader("connection", "").lower() != "close"
        assert connection.sock is first_socket, f"{path} dropped the keep-alive connection"
    connection.request("GET", f"/api/v1/saes/{slug}")
    response = connection.getresponse()
    assert response.status == 200 and b'"slug"' in response.read()
    assert connection.sock is first_socket
    connection.close()


def test_an_upload_that_stalls_half_way_is_timed_out(impatient_server: str) -> None:
    address = urlsplit(impatient_server)
    image = xray_png(size=(64, 64))
    boundary = "stall-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="x.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + image
        + f"\r\n--{boundary}--\r\n".encode()
    )
    head = (
        "POST /api/v1/uploads HTTP/1.1\r\n"
        f"Host: {address.hostname}:{address.port}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    started = time.monotonic()
    with socket.create_connection((address.hostname, address.port), timeout=15) as sock:
        sock.sendall(head + body[: len(body) // 2])
        answer = b""
        while b"\r\n\r\n" not in answer or b"}" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    waited = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"no data arrived for 1 seconds" in answer
    assert STALL_TIMEOUT_S <= waited < STALL_TIMEOUT_S + 5
    fresh = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
    fresh.request("GET", "/api/v1/saes")
    assert fresh.getresponse().status == 200, "the server still serves others"
    fresh.close()


def test_a_json_body_that_stalls_is_timed_out_and_the_connection_closed(
    impatient_server: str,
) -> None:
    address = urlsplit(impatient_server)
    head = (
        "POST /api/v1/steer HTTP/1.1\r\n"
        f"Host: {address.hostname}:{address.port}\r\n"
        "Content-Type: application/json\r\nContent-Length: 400\r\n\r\n"
    ).encode()
    with socket.create_connection((address.hostname, address.port), timeout=15) as sock:
        sock.sendall(head + b'{"sae": "half')
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"no data arrived for 1 seconds" in answer
