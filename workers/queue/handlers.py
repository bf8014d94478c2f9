"""Job handlers by kind. Typed kinds (workers.kinds.registry) name their handler themselves;
untyped ones register `fn(ctx: JobContext) -> dict` with `@handler("kind")`.

An untyped kind maps to its module in HANDLER_MODULES. A worker imports a handler's module
when the first job of the kind arrives, so model code (torch,
transformers) costs nothing at start-up and nothing to workers that never run such a job.
Plugins (and the tests' handlers) are modules named in MAIRA_SAE_EXTRA_HANDLERS,
comma-separated, imported when the worker starts. No handler module may load a model at import:
use `ctx.resources`, which loads once per worker process.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterable
from typing import Any

from workers.kinds.registry import typed_kinds
from workers.queue.context import JobContext

log = logging.getLogger(__name__)

Handler = Callable[[JobContext], dict[str, Any]]

HANDLER_MODULES: dict[str, str] = {
    "precompute_shard": "workers.precompute.jobs",
}

_handlers: dict[str, Handler] = {}


class UnknownJobKind(LookupError):
    """No handler is registered for a job's kind."""


def handler(kind: str) -> Callable[[Handler], Handler]:
    """Register the decorated function as the handler of `kind`."""

    def register(function: Handler) -> Handler:
        existing = _handlers.get(kind)
        if existing is not None and existing is not function:
            raise ValueError(f"a handler for {kind!r} is already registered: {existing!r}")
        _handlers[kind] = function
        return function

    return register


def get_handler(kind: str) -> Handler:
    """The handler of `kind`, importing its module on first use; raises UnknownJobKind."""
    if kind not in _handlers and kind in HANDLER_MODULES:
        importlib.import_module(HANDLER_MODULES[kind])
    try:
        return _handlers[kind]
    except KeyError:
        raise UnknownJobKind(f"no handler for jobs of kind {kind!r}") from None


def known_kinds() -> list[str]:
    """Kinds registered so far or importable on demand."""
    return sorted({*_handlers, *HANDLER_MODULES, *(kind.name for kind in typed_kinds())})


def load_handlers(extra_modules: str | Iterable[str] = "") -> list[str]:
    """Import the plugin modules (comma-separated or a list); returns the known kinds."""
    if isinstance(extra_modules, str):
        extra_modules = [name.strip() for name in extra_modules.split(",")]
    for module in extra_modules:
        if module:
            importlib.import_module(module)
    kinds = known_kinds()
    log.info("job kinds: %s", ", ".join(kinds))
    return kinds


@handler("noop")
def noop(ctx: JobContext) -> dict[str, Any]:
    """Does nothing: measures queue overhead and checks that workers are serving."""
    return {}
