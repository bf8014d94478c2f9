"""LLM calls for a run: a concurrency limit, retries with backoff on 429 and 5xx, a token budget,
and a PostgreSQL response cache keyed by the request's hash, so no call is ever paid twice."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
import uuid
from dataclasses import dataclass
from typing import Any

import openai
from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, sessionmaker

from db.models import LlmResponse
from workers.autointerp.endpoint import Endpoint

log = logging.getLogger(__name__)

MAX_TOKENS = 300
TOP_LOGPROBS = 5
RETRYABLE = (openai.RateLimitError, openai.InternalServerError, openai.APIConnectionError)


@dataclass(frozen=True)
class Reply:
    """An answer (text, and logprobs content when returned), or why there is none."""

    text: str | None
    logprobs: list[dict[str, Any]] | None = None
    error: str | None = None
    cached: bool = False

    @property
    def failed(self) -> bool:
        return self.text is None


def request_key(model: str, messages: list[dict[str, str]], logprobs: bool) -> str:
    """sha256 of everything that decides the answer (model, messages, sampling settings)."""
    payload = {
        "model": model,
        "messages": messages,
        "logprobs": logprobs,
        "top_logprobs": TOP_LOGPROBS if logprobs else None,
        "max_tokens": MAX_TOKENS,
        "temperature": 0,
    }
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


_SPEND = text(
    """
    UPDATE autointerp_runs
    SET n_calls = n_calls + :calls, n_cached = n_cached + :cached,
        n_failed_calls = n_failed_calls + :failed,
        prompt_tokens = prompt_tokens + :prompt, completion_tokens = completion_tokens + :completion
    WHERE id = :run_id
    RETURNING prompt_tokens + completion_tokens
    """
)


class CallsStopped(Exception):
    """The client was told to start no more calls (the run is being stopped)."""


class LlmClient:
    """Calls one endpoint for one run; every answer goes through the cache first."""

    def __init__(
        self,
        endpoint: Endpoint,
        sessions: sessionmaker[Session],
        run_id: uuid.UUID,
        *,
        concurrency: int = 16,
        token_budget: int | None = None,
        spent: int = 0,
        max_attempts: int = 5,
        backoff_s: float = 0.5,
        timeout_s: float = 120.0,
        extra_headers: dict[str, str] | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.sessions = sessions
        self.run_id = run_id
        self.semaphore = asyncio.Semaphore(concurrency)
        self.token_budget = token_budget
        self.spent = spent
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.extra_headers = extra_headers or {}
        self._client = endpoint.client(timeout_s)
        self._waiting: dict[str, list[asyncio.Future[Reply | None]]] = {}
        self._lookups: set[asyncio.Task[None]] = set()
        self._unrecorded = {"cached": 0, "failed": 0}
        self._stopped = False
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def stopped(self) -> bool:
        return self._stopped

    def stop_starting(self) -> None:
        """Start no more calls: `complete` raises CallsStopped unless its answer is cached or
        its call is already in flight."""
        self._stopped = True

    async def drain(self, timeout_s: float) -> bool:
        """Wait (at most `timeout_s`) until no call is in flight, every answer that arrived being
        cached; True if none is left."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    async def close(self) -> None:
        """Record the counts not yet written and close the HTTP client."""
        await self.flush()
        await self._client.close()

    async def flush(self) -> None:
        """Write the cache hits and failed calls counted since the last flush to the run."""
        counts, self._unrecorded = self._unrecorded, {"cached": 0, "failed": 0}
        if any(counts.values()):
            await asyncio.to_thread(self._record, **counts)

    async def complete(
        self, model: str, messages: list[dict[str, str]], *, logprobs: bool = False
    ) -> Reply:
        """The answer to `messages`: from the cache, else from the endpoint (then cached)."""
        key = request_key(model, messages, logprobs)
        hit = await self._lookup(key)
        if hit is not None:
            self._unrecorded["cached"] += 1
            return hit
        async with self.semaphore:
            if self._stopped:
                raise CallsStopped
            if self.token_budget is not None and self.spent >= self.token_budget:
                self._unrecorded["failed"] += 1
                return Reply(None, error=f"token budget of {self.token_budget} spent")
            self._in_flight += 1
            self._idle.clear()
            try:
                reply, usage = await self._call(model, messages, logprobs)
                # Stored before the slot is freed: at most `concurrency` paid answers are ever
                # outside the cache, which bounds what a SIGKILLed run can pay twice.
                if reply.failed:
                    await asyncio.to_thread(self._record, calls=1, failed=1)
                else:
                    await asyncio.to_thread(self._store, key, model, reply, usage)
            finally:
                self._in_flight -= 1
                if not self._in_flight:
                    self._idle.set()
        return reply

    async def _lookup(self, key: str) -> Reply | None:
        """The cached answer, if any. Keys asked for in the same turn of the event loop are
        looked up together in one query."""
        future: asyncio.Future[Reply | None] = asyncio.get_running_loop().create_future()
        if not self._waiting:
            task = asyncio.create_task(self._look_up_waiting())
            self._lookups.add(task)
            task.add_done_callback(self._lookups.discard)
        self._waiting.setdefault(key, []).append(future)
        return await future

    async def _look_up_waiting(self) -> None:
        await asyncio.sleep(0)
        waiting, self._waiting = self._waiting, {}
        try:
            found = await asyncio.to_thread(self._cached, list(waiting))
        except Exception as error:
            for futures in waiting.values():
                for future in futures:
                    future.set_exception(error)
            return
        for key, futures in waiting.items():
            for future in futures:
                future.set_result(found.get(key))

    async def _call(
        self, model: str, messages: list[dict[str, str]], logprobs: bool
    ) -> tuple[Reply, tuple[int, int]]:
        options: dict[str, Any] = (
            {"logprobs": True, "top_logprobs": TOP_LOGPROBS} if logprobs else {}
        )
        for attempt in range(1, self.max_attempts + 1):
            try:
                response = await self._client.chat.completions.create(
                    model=model,
                    messages=messages,  # type: ignore[arg-type]
                    max_tokens=MAX_TOKENS,
                    temperature=0,
                    stream=False,
                    extra_headers=self.extra_headers or None,
                    **options,
                )
            except RETRYABLE as error:
                if attempt == self.max_attempts:
                    return Reply(None, error=_describe(error)), (0, 0)
                delay = self.backoff_s * 2 ** (attempt - 1) * (1 + random.random() / 2)
                log.info("LLM call: %s; retry %d in %.2f s", _describe(error), attempt, delay)
                await asyncio.sleep(delay)
                continue
            except openai.OpenAIError as error:
                return Reply(None, error=_describe(error)), (0, 0)
            return _reply(response), _usage(response)
        raise AssertionError("unreachable")

    def _cached(self, keys: list[str]) -> dict[str, Reply]:
        with self.sessions() as session:
            rows = session.execute(
                select(LlmResponse.key, LlmResponse.response).where(LlmResponse.key.in_(keys))
            ).all()
        return {
            key: Reply(response["text"], response.get("logprobs"), cached=True)
            for key, response in rows
        }

    def _store(self, key: str, model: str, reply: Reply, usage: tuple[int, int]) -> None:
        with self.sessions() as session:
            session.execute(
                insert(LlmResponse)
                .values(
                    key=key,
                    model=model,
                    response={"text": reply.text, "logprobs": reply.logprobs},
                    prompt_tokens=usage[0],
                    completion_tokens=usage[1],
                )
                .on_conflict_do_nothing(index_elements=["key"])
            )
            self._record_in(session, calls=1, prompt=usage[0], completion=usage[1])
            session.commit()

    def _record(self, *, calls: int = 0, cached: int = 0, failed: int = 0) -> None:
        with self.sessions() as session:
            self._record_in(session, calls=calls, cached=cached, failed=failed)
            session.commit()

    def _record_in(
        self,
        session: Session,
        *,
        calls: int = 0,
        cached: int = 0,
        failed: int = 0,
        prompt: int = 0,
        completion: int = 0,
    ) -> None:
        spent = session.execute(
            _SPEND,
            {
                "run_id": self.run_id,
                "calls": calls,
                "cached": cached,
                "failed": failed,
                "prompt": prompt,
                "completion": completion,
            },
        ).scalar()
        if spent is not None:
            self.spent = int(spent)


def _describe(error: Exception) -> str:
    status = getattr(error, "status_code", None)
    name = type(error).__name__
    return f"{name} (HTTP {status})" if status else name


def _reply(response: Any) -> Reply:
    choice = response.choices[0]
    content = choice.message.content or ""
    logprobs = None
    if choice.logprobs is not None and choice.logprobs.content:
        logprobs = [item.model_dump() for item in choice.logprobs.content]
    return Reply(content, logprobs)


def _usage(response: Any) -> tuple[int, int]:
    usage = response.usage
    if usage is None:
        return 0, 0
    return int(usage.prompt_tokens or 0), int(usage.completion_tokens or 0)
