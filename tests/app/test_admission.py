"""Admission control on a real uvicorn server: bounded waits, 503 + Retry-After, disconnects."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import sessionmaker
from starlette.types import Receive, Scope, Send

from app.admission import BUSY_DETAIL, Admission
from app.main import create_app
from db.settings import Settings
from tests.support.servers import free_port


class HeldApp:
    """An ASGI app that answers at once, except `/hold`, which waits until `release` is set.

    Every request it serves is recorded with its body's length.
    """

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.served: list[tuple[str, int]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        self.served.append((scope["path"], len(body)))
        if scope["path"] == "/hold":
            await self.release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(len(body)).encode()})


@asynccontextmanager
async def admitting_server(app: HeldApp, **options: float) -> AsyncIterator[tuple[int, Admission]]:
    """Uvicorn on a free port serving `app` behind Admission (one slot unless told otherwise)."""
    defaults = {"limit": 1, "timeout_s": 30.0, "max_waiting": 100, "retry_after_s": 3}
    admission = Admission(app, **(defaults | options))
    port = free_port()
    config = uvicorn.Config(
        admission,
        host="127.0.0.1",
        port=port,
        lifespan="off",
        log_level="warning",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    await until(lambda: server.started)
    try:
        yield port, admission
    finally:
        app.release.set()
        server.should_exit = True
        await task


async def until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def hold_the_slot(client: httpx.AsyncClient, app: HeldApp) -> asyncio.Task:
    held = asyncio.create_task(client.get("/hold"))
    await until(lambda: ("/hold", 0) in app.served)
    return held


def test_a_client_that_disconnects_while_queued_never_takes_a_slot() -> None:
    async def scenario() -> None:
        app = HeldApp()
        async with admitting_server(app) as (port, admission):
            base = f"http://127.0.0.1:{port}"
            async with httpx.AsyncClient(base_url=base, timeout=10) as client:
                held = await hold_the_slot(client, app)
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(b"GET /abandoned HTTP/1.1\r\nHost: test\r\n\r\n")
                await writer.drain()
                await until(lambda: admission.waiting == 1)
                writer.close()
                await writer.wait_closed()
                # It leaves the queue while the slot is still held, not when the slot frees.
                await until(lambda: admission.waiting == 0, timeout_s=2.0)
                app.release.set()
                assert (await held).status_code == 200
                assert (await client.get("/after")).status_code == 200
        assert app.served == [("/hold", 0), ("/after", 0)]

    asyncio.run(scenario())


def test_a_request_that_waits_too_long_gets_503_with_retry_after() -> None:
    async def scenario() -> None:
        app = HeldApp()
        async with admitting_server(app, timeout_s=0.3) as (port, admission):
            base = f"http://127.0.0.1:{port}"
            async with httpx.AsyncClient(base_url=base, timeout=10) as client:
                held = await hold_the_slot(client, app)
                api = await client.get("/api/v1/saes")
                assert api.status_code == 503
                assert api.headers["retry-after"] == "3"
                assert api.json() == {"detail": BUSY_DETAIL}
                page = await client.get("/saes/x")
                assert page.status_code == 503
                assert page.headers["retry-after"] == "3"
                assert page.headers["content-type"].startswith("text/html")
                assert "busy" in page.text
                static = await client.get("/static/app.css")
                assert static.status_code == 200, "static files are never queued"
                assert admission.waiting == 0
                app.release.set()
                assert (await held).status_code == 200
        assert [path for path, _ in app.served] == ["/hold", "/static/app.css"]

    asyncio.run(scenario())


def test_a_full_queue_refuses_at_once() -> None:
    async def scenario() -> None:
        app = HeldApp()
        async with admitting_server(app, max_waiting=0) as (port, _):
            base = f"http://127.0.0.1:{port}"
            async with httpx.AsyncClient(base_url=base, timeout=10) as client:
                held = await hold_the_slot(client, app)
                start = time.monotonic()
                response = await client.get("/api/v1/saes")
                assert response.status_code == 503
                assert time.monotonic() - start < 5, "refused without waiting 30 s"
                app.release.set()
                await held

    asyncio.run(scenario())


def test_a_queued_request_keeps_its_body() -> None:
    async def scenario() -> None:
        app = HeldApp()
        async with admitting_server(app) as (port, admission):
            base = f"http://127.0.0.1:{port}"
            async with httpx.AsyncClient(base_url=base, timeout=10) as client:
                held = await hold_the_slot(client, app)
                posted = asyncio.create_task(client.post("/upload", content=b"x" * 300_000))
                await until(lambda: admission.waiting == 1)
                app.release.set()
                await held
                response = await posted
        assert response.status_code == 200
        assert response.text == "300000"
        assert app.served[-1] == ("/upload", 300_000)

    asyncio.run(scenario())


def test_the_pool_timeout_answers_503_with_retry_after() -> None:
    app = create_app(Settings(database_url="postgresql://unused/unused", busy_retry_after_s=7))
    app.state.sessionmaker = sessionmaker()  # no lifespan here; app.auth.guard opens a session

    def exhausted() -> None:
        raise PoolTimeoutError("QueuePool limit of size 5 overflow 0 reached")

    app.add_api_route("/api/v1/exhausted", exhausted)
    app.add_api_route("/exhausted", exhausted)
    client = TestClient(app)
    api = client.get("/api/v1/exhausted")
    assert (api.status_code, api.headers["retry-after"]) == (503, "7")
    assert api.json() == {"detail": BUSY_DETAIL}
    page = client.get("/exhausted")
    assert (page.status_code, page.headers["retry-after"]) == (503, "7")
    assert "busy" in page.text
