"""The worker's procrastinate App: all task blueprints, and a connector for a database URL."""

from __future__ import annotations

from procrastinate import App, PsycopgConnector

from db.engine import libpq_url
from workers.queue.enqueue import JOBS_NAMESPACE
from workers.queue.tasks import jobs_blueprint

app = App(connector=PsycopgConnector())
app.add_tasks_from(jobs_blueprint, namespace=JOBS_NAMESPACE)


def connector_for(url: str, *, max_size: int = 10) -> PsycopgConnector:
    """An async connector on the database at `url` (a SQLAlchemy URL); its pool checks
    connections before use, so a restarted database costs no job."""
    return PsycopgConnector(
        conninfo=libpq_url(url),
        min_size=1,
        max_size=max_size,
    )
