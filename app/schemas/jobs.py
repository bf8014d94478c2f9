"""What the API and the job page show about a job."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class JobOut(BaseModel):
    """A job's status, progress, place in the queue, timings and outcome."""

    id: uuid.UUID
    kind: str = Field(description="What the job does, e.g. `encode` or `steer`.")
    status: str = Field(description="queued, running, succeeded, failed or cancelled.")
    finished: bool = Field(description="True once succeeded, failed or cancelled.")
    progress: float = Field(ge=0, le=1, description="Share of the work done, 0 to 1.")
    progress_message: str | None = Field(description="What the job is doing now.")
    queue_position: int | None = Field(
        description="Queued jobs that will start before this one (0 = next); null unless queued."
    )
    cancel_requested: bool = Field(description="A cancel was asked for; a running job stops soon.")
    attempts: int = Field(description="Attempts started so far.")
    max_attempts: int
    created_at: datetime
    started_at: datetime | None = Field(description="Start of the current or last attempt.")
    finished_at: datetime | None
    queued_for_s: float = Field(description="Seconds spent waiting in the queue.")
    ran_for_s: float | None = Field(description="Seconds running so far (or in total).")
    result: dict[str, Any] | None = Field(description="The handler's output once succeeded.")
    error: str | None = Field(description="Why the job failed, in plain words.")
    error_kind: str | None = Field(
        description="invalid_input, internal, timeout, worker_lost or infrastructure."
    )
