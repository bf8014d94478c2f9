"""Job handlers for the queue tests, loaded by worker processes through
MAIRA_SAE_EXTRA_HANDLERS=tests.support.queue_handlers (the handler plugin setting)."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import text

from workers.kinds.contract import JobKind, JobParams, JobResult
from workers.kinds.registry import register
from workers.queue.context import JobContext, JobFailed
from workers.queue.handlers import handler


@handler("test.steps")
def steps(ctx: JobContext) -> dict[str, Any]:
    """`steps` steps of `delay` seconds each, reporting progress and honouring cancels."""
    n_steps = int(ctx.params.get("steps", 5))
    delay = float(ctx.params.get("delay", 0.1))
    for step in range(n_steps):
        ctx.raise_if_cancelled()
        time.sleep(delay)
        ctx.report_progress((step + 1) / n_steps, f"step {step + 1} of {n_steps}")
    return {"steps": n_steps, "attempt": ctx.attempt, "echo": ctx.params.get("echo")}


@handler("test.invalid")
def invalid(ctx: JobContext) -> dict[str, Any]:
    """A user error: the input is wrong, say so."""
    raise JobFailed(ctx.params.get("message", "the image could not be read"))


@handler("test.crash")
def crash(ctx: JobContext) -> dict[str, Any]:
    """A bug in a handler."""
    raise ZeroDivisionError("division by zero")


@handler("test.block")
def block(ctx: JobContext) -> dict[str, Any]:
    """A blocking call that never checks for cancellation."""
    time.sleep(float(ctx.params.get("seconds", 3.0)))
    return {"slept": True}


@handler("test.db_blip")
def db_blip(ctx: JobContext) -> dict[str, Any]:
    """On its first attempt the database drops the handler's connection mid-query."""
    with ctx.session() as session:
        if ctx.attempt == 1:
            session.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
        value = session.scalar(text("SELECT 42"))
    return {"attempt": ctx.attempt, "value": value}


class EchoParams(JobParams):
    """Text to echo; `break_result` makes the handler return a result missing a field."""

    text: str
    break_result: bool = False


class EchoResult(JobResult):
    """The text and its length."""

    text: str
    length: int


register(
    JobKind(
        name="test.echo",
        version=1,
        params=EchoParams,
        result=EchoResult,
        handler="tests.support.queue_handlers:echo",
        result_template="jobs/result_default.html",
    )
)


def echo(ctx: JobContext, params: EchoParams) -> EchoResult | dict[str, Any]:
    """A typed kind's handler: returns its Result, or (when asked) something that does not fit."""
    if params.break_result:
        return {"text": params.text}
    return EchoResult(text=params.text, length=len(params.text))
