"""Job handlers by kind: `@handler("kind")` registers `fn(ctx: JobContext) -> dict`.

To add a kind, decorate its function and list its module in HANDLER_MODULES (or, for plugins
and tests, name the module in MAIRA_SAE_EXTRA_HANDLERS, comma-separated). Workers import these
modules at start; a handler module must not load models at import (use `ctx.resources`).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterable
from typing import Any

from workers.queue.context import JobContext

log = logging.getLogger(__name__)

Handler = Callable[[JobContext], dict[str, Any]]

HANDLER_MODULES: list[str] = []

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
    """The handler of `kind`; raises UnknownJobKind."""
    try:
        return _handlers[kind]
    except KeyError:
        raise UnknownJobKind(f"no handler for jobs of kind {kind!r}") from None


def registered_kinds() -> list[str]:
    return sorted(_handlers)


def load_handlers(extra_modules: str | Iterable[str] = "") -> list[str]:
    """Import HANDLER_MODULES and the extra modules; returns the registered kinds."""
    if isinstance(extra_modules, str):
        extra_modules = [name.strip() for name in extra_modules.split(",")]
    for module in [*HANDLER_MODULES, *extra_modules]:
        if module:
            importlib.import_module(module)
    kinds = registered_kinds()
    log.info("job handlers: %s", ", ".join(kinds))
    return kinds


@handler("noop")
def noop(ctx: JobContext) -> dict[str, Any]:
    """Does nothing: measures queue overhead and checks that workers are serving."""
    return {}
