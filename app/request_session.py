"""One database session per request: made on first use by `get_session` (no I/O), closed by
`SessionCloser` once the response has gone."""

from __future__ import annotations

import anyio
from fastapi import Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

_KEY = "db_session"


async def get_session(request: Request) -> Session:
    """The request's session, made on first use; `SessionCloser` closes it.

    A plain dependency rather than one with `yield`: FastAPI's teardown of those (an exit stack
    entered per request) cost as much as the rest of the route's dependencies together. The
    request was admitted by `app.admission` first, so the pool has a connection free for it.
    """
    state = request.scope.setdefault("state", {})
    session = state.get(_KEY)
    if session is None:
        session = state[_KEY] = request.app.state.sessionmaker()
    return session


class SessionCloser:
    """ASGI middleware closing the request's session after its response, on every path.

    Closing one that holds a transaction (rollback, connection back to the pool) runs in the
    thread pool, shielded so that a client leaving cannot strand the connection; closing one that
    never began, or that `app.deps.run_and_close` closed already, is free and stays on the loop.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        finally:
            session: Session | None = scope.get("state", {}).pop(_KEY, None)
            if session is not None and session.in_transaction():
                with anyio.CancelScope(shield=True):
                    await run_in_threadpool(session.close)
            elif session is not None:
                session.close()
