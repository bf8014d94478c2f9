"""What one worker process shares between its jobs: name, database sessions, settings, models."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from db.settings import Settings
from workers.queue.resources import Resources


@dataclass(frozen=True)
class WorkerRuntime:
    """Handed to every job the worker runs (through procrastinate's additional context)."""

    name: str
    sessions: sessionmaker[Session]
    settings: Settings
    resources: Resources
    stopping: threading.Event = field(default_factory=threading.Event)
    """Set as soon as the worker is asked to stop (SIGTERM or SIGINT)."""
