"""Admission control: each web process lets at most `db_pool_size` requests use the database.

Why. A request's database work hops between the event loop and the thread pool several times
(sync dependencies such as `valid_sae`, the endpoint, `session.close`) and holds one pooled
connection from its first query until its session closes. With more requests in flight than the
pool has connections, threads blocked inside SQLAlchemy waiting for a connection while the
requests holding connections waited for a thread: at ~55 clients throughput fell from ~100 to
~2 requests/s and requests timed out after the pool's 30 s.

How. Requests queue on the event loop, before any thread is involved, for one of as many slots
as the pool has connections (the pool has no overflow). Every request but static files and the
API docs takes a slot before the app sees it and gives it back after the last byte of its
response, by which time its session has closed. An admitted request therefore always finds a free
connection and never blocks a thread on the pool, however its route mixes async and sync code;
a queued request costs one coroutine. Reads that run on the event loop (`app.deps.run_read`)
take their connection from the smaller read pool instead, waiting for one on the loop.

Bounds. A request waits at most `admission_timeout_s`, and is refused at once when
`admission_max_waiting` requests already queue: either way it is answered 503 with `Retry-After`
(JSON `{"detail": ...}` under /api, a short page otherwise). A client that disconnects while
queued leaves the queue at once and never takes a slot. The pool's own `db_pool_timeout_s` stays
as a backstop, for the read pool too, and maps to the same 503.
"""

from __future__ import annotations

import enum
import logging
from collections import deque
from collections.abc import Awaitable, Callable

import anyio
import psycopg
import psycopg_pool
from fastapi import FastAPI
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import API_PREFIX
from db.settings import Settings

log = logging.getLogger(__name__)

EXEMPT_PREFIXES = ("/static/", "/docs", "/redoc", "/openapi.json")
BUSY_DETAIL = "The server is busy; please retry in a moment."
BUSY_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Busy, please retry</title>
<link rel="stylesheet" href="/static/app.css"></head>
<body><main><h1>The server is busy</h1>
<p>Too many pages are being served at this moment. Please reload this page in a few seconds.</p>
</main></body></html>
"""


class Outcome(enum.Enum):
    """How a queued request's wait ended."""

    ADMITTED = "admitted"
    TIMED_OUT = "timed out"
    GONE = "client disconnected"


def busy_response(scope: Scope, retry_after_s: int) -> Response:
    """503 with Retry-After: JSON under /api, a short HTML page elsewhere."""
    headers = {"Retry-After": str(retry_after_s)}
    if scope["path"].startswith(API_PREFIX):
        return JSONResponse({"detail": BUSY_DETAIL}, 503, headers=headers)
    return HTMLResponse(BUSY_PAGE, 503, headers=headers)


async def _read_until_disconnect(receive: Receive, received: list[Message]) -> None:
    """Return when the client disconnects; keep every message read, stop reading a streaming body.

    A request whose body is still arriving is not read further while it queues (its first chunk
    is kept, so memory stays bounded); such a request leaves the queue only by timing out.
    """
    while True:
        message = await receive()
        received.append(message)
        if message["type"] == "http.disconnect":
            return
        if message.get("more_body", False):
            await anyio.sleep_forever()


def _replaying(received: list[Message], receive: Receive) -> Receive:
    """A receive that first hands back the messages read while queued, then reads on."""
    pending = deque(received)

    async def replay() -> Message:
        return pending.popleft() if pending else await receive()

    return replay


class Admission:
    """ASGI middleware: queue each database request for one of `limit` slots, or answer 503."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        limit: int,
        timeout_s: float,
        max_waiting: int,
        retry_after_s: int,
    ) -> None:
        self.app = app
        self.slots = anyio.Semaphore(limit)
        self.timeout_s = timeout_s
        self.max_waiting = max_waiting
        self.retry_after_s = retry_after_s
        self.waiting = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(EXEMPT_PREFIXES):
            await self.app(scope, receive, send)
            return
        try:
            self.slots.acquire_nowait()
        except anyio.WouldBlock:
            outcome, received = await self._queue(receive)
            if outcome is Outcome.GONE:
                return
            if outcome is Outcome.TIMED_OUT:
                await busy_response(scope, self.retry_after_s)(scope, receive, send)
                return
            receive = _replaying(received, receive)
        try:
            await self.app(scope, receive, send)
        finally:
            self.slots.release()

    async def _queue(self, receive: Receive) -> tuple[Outcome, list[Message]]:
        """Wait for a slot, racing the client's disconnect and the timeout."""
        received: list[Message] = []
        if self.waiting >= self.max_waiting:
            return Outcome.TIMED_OUT, received
        admitted = gone = False
        self.waiting += 1
        try:
            async with anyio.create_task_group() as group:

                async def wait_for_slot() -> None:
                    nonlocal admitted
                    with anyio.move_on_after(self.timeout_s):
                        await self.slots.acquire()
                        admitted = True
                    group.cancel_scope.cancel()

                group.start_soon(wait_for_slot)
                await _read_until_disconnect(receive, received)
                gone = True
                group.cancel_scope.cancel()
        finally:
            self.waiting -= 1
        if gone:
            if admitted:
                self.slots.release()
            return Outcome.GONE, received
        return (Outcome.ADMITTED if admitted else Outcome.TIMED_OUT), received


def _busy_handler(
    reason: str, retry_after_s: int
) -> Callable[[Request, Exception], Awaitable[Response]]:
    """An exception handler logging `reason` and answering 503 with Retry-After."""

    async def handler(request: Request, exc: Exception) -> Response:
        log.warning("%s: %s", reason, exc)
        return busy_response(request.scope, retry_after_s)

    return handler


def install_admission(app: FastAPI, settings: Settings) -> None:
    """Queue database requests for the pool's connections; answer 503 when a wait runs out."""
    app.add_middleware(
        Admission,
        limit=settings.db_pool_size,
        timeout_s=settings.admission_timeout_s,
        max_waiting=settings.admission_max_waiting,
        retry_after_s=settings.busy_retry_after_s,
    )
    retry_after_s = settings.busy_retry_after_s
    timed_out = _busy_handler("no database connection within the pool timeout", retry_after_s)
    app.add_exception_handler(PoolTimeoutError, timed_out)
    app.add_exception_handler(psycopg_pool.PoolTimeout, timed_out)
    # A connection the server dropped (a restart, an administrator) fails its request once;
    # the client is told to retry, and the pool has dropped the connection by then.
    lost = _busy_handler("database connection lost or statement cancelled", retry_after_s)
    app.add_exception_handler(OperationalError, lost)
    app.add_exception_handler(psycopg.OperationalError, lost)
