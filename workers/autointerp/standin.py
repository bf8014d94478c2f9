"""`maira-sae llm-standin`: a rule-following local stand-in for an OpenAI chat-completions server.

No LLM weights can be downloaded here, so tests, the benchmark and the demo talk to this server.
It answers `POST /v1/chat/completions` (streaming off) by these rules on the LAST user message:

- **Explanation** (the message contains `[EXPLANATION]`): counts the words inside `<<...>>`
  highlights (lower-cased, punctuation stripped, stop words and numbers left out) and answers
  `[EXPLANATION]: <w1>, <w2>` with the two most frequent (ties alphabetical; one if only one).
- **Detection** (`Latent explanation: LABEL` followed by `Example i: TEXT` lines): answers a
  list like `[1, 0, 1]`, 1 for an example iff its text contains a word of the label.
- **Fuzzing** (`Latent explanation: LABEL` with `Example i: TEXT` lines holding `<<...>>`): 1 for
  an example iff some highlighted span contains a word of the label.
- Anything else: `I do not know.`

With `logprobs: true` (and `top_logprobs` >= 2) each 0/1 of the list carries log-probabilities
of "1" and "0": P("1") = min(0.99, 0.5 + 0.2 * hits) when the rule says 1 (hits = label words
matched), else 0.05. `usage` counts whitespace-separated words (not a real tokenizer).

The model name must contain "stand-in" (404 otherwise), so every label it makes is named as a
stand-in's. Failures for tests, by header `X-Standin-Fail` or a model-name suffix `:fail-...`:
`429-once` answers 429 to the first call of each prompt and normally after; `500` always answers
500; `garbage` answers text no parser can read; `slow` answers normally after 0.1 s.
`GET /stats` gives calls and answers per prompt hash (sha256 of the messages' canonical JSON);
`POST /stats/reset` clears them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

from fastapi import FastAPI, Header
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

STANDIN_MARK = "stand-in"
DEFAULT_MODEL = "maira-sae-stand-in"
SLOW_S = 0.1
_STOP = "a an and are as at be by for from has have in is it its of on or that the this to was"
STOP_WORDS = frozenset(f"{_STOP} were with there no not".split(" "))
_HIGHLIGHT = re.compile(r"<<(.*?)>>", re.S)
_WORD = re.compile(r"[a-z][a-z\-]+")
_LABEL = re.compile(r"Latent explanation:\s*(.*)")
_EXAMPLE = re.compile(r"^Example\s+(\d+):\s*(.*)$", re.M)


class Message(BaseModel):
    """One chat message."""

    role: Literal["system", "user", "assistant"]
    content: str


class ChatRequest(BaseModel):
    """The fields of a chat-completions request the stand-in reads (others are ignored)."""

    model: str
    messages: list[Message] = Field(min_length=1)
    stream: bool = False
    logprobs: bool = False
    top_logprobs: int | None = Field(None, ge=0, le=20)
    max_tokens: int | None = None
    temperature: float | None = None


def words(text: str) -> list[str]:
    """Content words of `text`: lower-cased, stop words and numbers left out."""
    return [word for word in _WORD.findall(text.lower()) if word not in STOP_WORDS]


def prompt_hash(messages: list[dict[str, str]]) -> str:
    """sha256 of the messages' canonical JSON (what /stats counts by)."""
    canonical = json.dumps(messages, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def explain(prompt: str) -> str:
    """The two most frequent highlighted content words, as an explanation answer."""
    counts = Counter(word for span in _HIGHLIGHT.findall(prompt) for word in words(span))
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:2]
    return "[EXPLANATION]: " + ", ".join(word for word, _ in ranked)


def judge(prompt: str) -> list[int] | None:
    """Hits per example (label words found) for detection or fuzzing; None if not such a prompt."""
    label = _LABEL.search(prompt)
    examples = _EXAMPLE.findall(prompt)
    if label is None or not examples:
        return None
    label_words = set(words(label.group(1)))
    hits = []
    for _, text in sorted(examples, key=lambda item: int(item[0])):
        spans = _HIGHLIGHT.findall(text)
        looked_at = " ".join(spans) if spans else text
        hits.append(len(label_words & set(words(looked_at))))
    return hits


def _probability(hits: int) -> float:
    return min(0.99, 0.5 + 0.2 * hits) if hits else 0.05


def _logprob_entry(token: str, p_one: float | None, top: int) -> dict[str, Any]:
    """A logprobs entry: a certain punctuation token (p_one None), or a verdict with both
    digits among its top alternatives."""
    if p_one is None:
        return {"token": token, "logprob": 0.0, "bytes": list(token.encode()), "top_logprobs": []}
    options = sorted(
        [("1", math.log(p_one)), ("0", math.log(1 - p_one))], key=lambda item: -item[1]
    )
    return {
        "token": token,
        "logprob": dict(options)[token],
        "bytes": list(token.encode()),
        "top_logprobs": [
            {"token": t, "logprob": lp, "bytes": list(t.encode())} for t, lp in options[:top]
        ],
    }


def answer(prompt: str, *, with_logprobs: bool, top: int) -> tuple[str, list[dict] | None]:
    """The reply text (and logprobs content when asked) for the last user message."""
    if "[EXPLANATION]" in prompt:
        return explain(prompt), None
    hits = judge(prompt)
    if hits is None:
        return "I do not know.", None
    verdicts = ["1" if h else "0" for h in hits]
    text = "[" + ", ".join(verdicts) + "]"
    if not with_logprobs:
        return text, None
    content = [_logprob_entry("[", None, top)]
    for index, (verdict, h) in enumerate(zip(verdicts, hits, strict=True)):
        content.append(_logprob_entry(verdict, _probability(h), top))
        content.append(_logprob_entry(", " if index < len(hits) - 1 else "]", None, top))
    return text, content


class Counts:
    """Calls and successful answers per prompt hash (thread-safe)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self.answered: Counter[str] = Counter()

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "calls": sum(self.calls.values()),
                "answered": sum(self.answered.values()),
                "calls_by_prompt": dict(self.calls),
                "answered_by_prompt": dict(self.answered),
            }


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": "stand_in", "code": status}}, status)


def create_standin_app() -> FastAPI:
    """The stand-in server's application (a fresh call counter per app)."""
    app = FastAPI(title="maira-sae LLM stand-in", docs_url=None, redoc_url=None)
    counts = Counts()

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": DEFAULT_MODEL, "object": "model"}]}

    @app.get("/stats")
    def stats() -> dict[str, Any]:
        return counts.snapshot()

    @app.post("/stats/reset")
    def reset() -> dict[str, Any]:
        with counts.lock:
            counts.calls.clear()
            counts.answered.clear()
        return counts.snapshot()

    @app.post("/v1/chat/completions", response_model=None)
    def complete(
        request: ChatRequest, x_standin_fail: str | None = Header(None)
    ) -> dict[str, Any] | JSONResponse:
        model, _, suffix = request.model.partition(":fail-")
        failure = x_standin_fail or suffix or None
        if STANDIN_MARK not in model:
            return _error(404, f"model {model!r} not served: the stand-in's names say 'stand-in'")
        if request.stream:
            return _error(400, "the stand-in does not stream")
        messages = [m.model_dump() for m in request.messages]
        key = prompt_hash(messages)
        with counts.lock:
            counts.calls[key] += 1
            first_call = counts.calls[key] == 1
        if failure == "500":
            return _error(500, "injected failure")
        if failure == "429-once" and first_call:
            return _error(429, "injected rate limit")
        prompt = next(m.content for m in reversed(request.messages) if m.role == "user")
        if failure == "slow":
            time.sleep(SLOW_S)
        if failure == "garbage":
            text, logprobs = "~~ no idea, sorry ~~", None
        else:
            text, logprobs = answer(
                prompt,
                with_logprobs=request.logprobs,
                top=max(2, request.top_logprobs or 2),
            )
        with counts.lock:
            counts.answered[key] += 1
        prompt_words = sum(len(m.content.split()) for m in request.messages)
        completion_words = len(text.split())
        return {
            "id": f"chatcmpl-standin-{key[:16]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "logprobs": None if logprobs is None else {"content": logprobs},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt_words,
                "completion_tokens": completion_words,
                "total_tokens": prompt_words + completion_words,
            },
        }

    return app


@contextmanager
def serve_in_thread(host: str = "127.0.0.1") -> Iterator[str]:
    """The stand-in on a free port of `host` in a background thread; yields its base URL
    (ending in /v1) and stops it on exit."""
    import uvicorn

    with socket.socket() as probe:
        probe.bind((host, 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_standin_app(), host=host, port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the stand-in LLM did not start")
        time.sleep(0.05)
    try:
        yield f"http://{host}:{port}/v1"
    finally:
        server.should_exit = True
        thread.join(10)


def command(args: argparse.Namespace) -> int:
    """`maira-sae llm-standin [--host] [--port]`: serve the stand-in until stopped."""
    import uvicorn

    uvicorn.run(create_standin_app(), host=args.host, port=args.port, log_level="warning")
    return 0
