"""Engines and sessions: resolves the database URL (server or embedded) and builds factories."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Engine, create_engine, event, exc, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

from db.embedded import start_embedded_postgres
from db.settings import Settings

# The web app pings a pooled connection before handing it out again only when it sat unused
# this long; workers and commands ping on every checkout (their requests are rare and long).
WEB_PING_AFTER_IDLE_S = 5.0
_RETURNED_AT = "returned_at"


def normalise_url(url: str) -> str:
    """Use the psycopg 3 driver whatever PostgreSQL URL form was given."""
    for prefix in ("postgresql+psycopg2://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def libpq_url(url: str) -> str:
    """A libpq connection URI for a SQLAlchemy URL (driver name dropped, query kept)."""
    return make_url(normalise_url(url)).set(drivername="postgresql").render_as_string(False)


def resolve_database_url(settings: Settings) -> str:
    """The configured server's URL, or the embedded server's when none is configured."""
    if settings.database_url:
        return normalise_url(settings.database_url)
    return start_embedded_postgres(settings.home)


def _remember_return(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    record.info[_RETURNED_AT] = time.monotonic()


def _pinger(idle_s: float) -> Any:
    """A checkout listener pinging connections unused for `idle_s` seconds (see below)."""

    def ping_if_idle(
        dbapi_connection: Any, record: ConnectionPoolEntry, proxy: PoolProxiedConnection
    ) -> None:
        returned_at = record.info.get(_RETURNED_AT)
        if returned_at is not None and time.monotonic() - returned_at >= idle_s:
            _ping(dbapi_connection)

    return ping_if_idle


def _ping(dbapi_connection: Any) -> None:
    """Check a connection that sat unused in the pool (the server may have closed it since).

    Pinging on every checkout (SQLAlchemy's `pool_pre_ping`) costs each web request one more
    round trip, as much as a whole query of the feature page. A connection returned moments ago
    was alive then, so the web app pings only one idle for `WEB_PING_AFTER_IDLE_S`; a dead one
    is replaced by the pool (DisconnectionError), and one that died in between fails its
    request once (answered 503, retry: `app.admission`) and is dropped.
    """
    try:
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        dbapi_connection.rollback()
    except Exception as error:
        raise exc.DisconnectionError(str(error)) from error


def make_engine(url: str, *, ping_after_idle_s: float = 0.0, **kwargs: Any) -> Engine:
    """A pooled engine for one database URL, pinging a connection handed out again after
    `ping_after_idle_s` seconds unused (0: every time)."""
    engine = create_engine(normalise_url(url), **kwargs)
    event.listen(engine, "checkin", _remember_return)
    event.listen(engine, "checkout", _pinger(ping_after_idle_s))
    return engine


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit."""
    return sessionmaker(engine, expire_on_commit=False)
