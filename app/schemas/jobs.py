"""What the API and the job page show about a job: one schema per typed kind (its `result` is
that kind's Result), joined in a union by `kind`; untyped kinds show their result as is."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, Discriminator, Field, Tag, TypeAdapter, create_model

from workers.kinds.contract import JobKind
from workers.kinds.registry import typed_kinds

Problem = Literal["no_worker", "worker_lost"]


class StudyImage(BaseModel):
    """One image of the job's study, as stored (pixels only)."""

    role: Literal["frontal", "lateral", "prior_frontal"]
    upload_id: uuid.UUID
    available: bool = Field(description="False once the upload has expired or was deleted.")


class JobBase(BaseModel):
    """A job's status, progress, place in the queue, timings, outcome and liveness."""

    id: uuid.UUID
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
    error: str | None = Field(description="Why the job failed, in plain words.")
    error_kind: str | None = Field(
        description="invalid_input, internal, timeout, worker_lost or infrastructure."
    )
    workers_alive: int = Field(description="Model workers running now (fresh heartbeat).")
    problem: Problem | None = Field(
        description="Why an unfinished job is not moving: `no_worker` (no model worker is "
        "running, so it cannot start) or `worker_lost` (its worker stopped responding)."
    )
    notice: str | None = Field(description="The problem, or a re-queue, in plain words.")
    feature_labels: dict[int, str | None] = Field(
        description="The current label of each feature the result names (joined when read, so "
        "a relabelled feature shows its new label)."
    )
    images: list[StudyImage] = Field(description="The study's images (study kinds only).")


class OtherJobOut(JobBase):
    """A job of an untyped kind (precompute shards, plugins): its result as the handler gave it."""

    kind: str = Field(
        description="What the job does (any kind without a schema of its own).",
        json_schema_extra={"not": {"enum": [kind.name for kind in typed_kinds()]}},
    )
    result: dict[str, Any] | None = Field(description="The handler's output once succeeded.")


def _typed_out(kind: JobKind[Any, Any]) -> type[JobBase]:
    name = "".join(part.title() for part in kind.name.replace(".", "_").split("_"))
    return create_model(
        f"{name}JobOut",
        __base__=JobBase,
        __doc__=f"A `{kind.name}` job (version {kind.version}).",
        kind=(Literal[kind.name], Field(description="What the job does.")),
        result=(kind.result | None, Field(description="The result once succeeded.")),
    )


TYPED_OUTS: dict[str, type[JobBase]] = {kind.name: _typed_out(kind) for kind in typed_kinds()}
OTHER = "other"


def _tag(value: Any) -> str:
    kind = value.get("kind") if isinstance(value, dict) else getattr(value, "kind", None)
    return kind if kind in TYPED_OUTS else OTHER


_MEMBERS = (
    *(Annotated[model, Tag(name)] for name, model in TYPED_OUTS.items()),
    Annotated[OtherJobOut, Tag(OTHER)],
)
JobOut = Annotated[Union[_MEMBERS], Discriminator(_tag)]  # noqa: UP007 (built from the registry)
JOB_OUT: TypeAdapter[Any] = TypeAdapter(JobOut)
