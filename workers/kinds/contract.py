"""What declares a job kind: its `Params` and `Result` models, version, cache key, handler and
result page. Torch-free, so the web app (submit side, result pages) and workers share it.

A field marked `NOT_KEYED` (e.g. an upload id beside the pixels' hash) is left out of the cache
key; everything else in `Params` decides the result, so identical params share one job.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict
from pydantic_core import to_jsonable_python

NOT_KEYED: dict[str, Any] = {"x-cache-key": False}
"""`Field(json_schema_extra=NOT_KEYED)`: this field does not decide the result."""


class JobParams(BaseModel):
    """Base of every kind's `Params`: what the submit side stores and the handler reads."""

    model_config = ConfigDict(frozen=True)


class FeatureRefs(BaseModel):
    """The features of one SAE a result names (their labels are joined when it is shown)."""

    sae: str
    indices: list[int]


class JobResult(BaseModel):
    """Base of every kind's `Result`. Results hold feature indices, never labels."""

    def feature_refs(self) -> FeatureRefs | None:
        """The features this result names, for joining their current labels; None if none."""
        return None


P = TypeVar("P", bound=JobParams)
R = TypeVar("R", bound=JobResult)


def digest(payload: Any) -> str:
    """Hex sha256 of canonical JSON."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def key_payload(value: Any) -> Any:
    """`value` as JSON with the NOT_KEYED fields of every model in it left out."""
    if isinstance(value, BaseModel):
        return {
            name: key_payload(getattr(value, name))
            for name, info in type(value).model_fields.items()
            if info.json_schema_extra != NOT_KEYED
        }
    if isinstance(value, list | tuple):
        return [key_payload(item) for item in value]
    if isinstance(value, dict):
        return {str(key): key_payload(item) for key, item in value.items()}
    return to_jsonable_python(value)


class ResultMismatch(Exception):
    """A handler returned something its kind's `Result` does not describe."""


@dataclass(frozen=True)
class JobKind(Generic[P, R]):
    """One job kind. `handler` is "module:function", imported by a worker on first use, called
    as `function(ctx, params) -> Result`; `result_template` draws a succeeded job inside the job
    page; `result_page` is the route name of the kind's shareable page (or None: /jobs/{id})."""

    name: str
    version: int
    params: type[P]
    result: type[R]
    handler: str
    result_template: str
    result_page: str | None = None

    def cache_key(self, params: P) -> str:
        """Identical params (NOT_KEYED fields aside) of the same kind and version share a key."""
        return digest({"kind": self.name, "v": self.version, "params": key_payload(params)})

    def load_handler(self) -> Callable[[Any, P], R | dict[str, Any]]:
        """The handler function (imports its module: may pull in torch; workers only)."""
        module_name, _, function = self.handler.partition(":")
        return getattr(importlib.import_module(module_name), function)

    def check_result(self, value: object) -> R:
        """`value` as this kind's Result; ResultMismatch names what does not fit."""
        if isinstance(value, self.result):
            return value
        if isinstance(value, BaseModel):
            value = value.model_dump()
        try:
            return self.result.model_validate(value)
        except ValueError as error:
            raise ResultMismatch(
                f"the {self.name} handler returned a result that does not match "
                f"{self.result.__name__} (version {self.version}): {_first_errors(error)}"
            ) from None


def _first_errors(error: ValueError, limit: int = 3) -> str:
    errors = getattr(error, "errors", None)
    if errors is None:
        return str(error)
    parts = [
        f"{'.'.join(str(part) for part in item['loc']) or 'result'}: {item['msg']}"
        for item in errors()[:limit]
    ]
    return "; ".join(parts)
