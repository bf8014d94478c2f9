"""Every typed job kind, by name. Adding a kind: one module declaring it, one line here."""

from __future__ import annotations

from typing import Any

from workers.kinds.autointerp import AUTOINTERP
from workers.kinds.contract import JobKind
from workers.kinds.encode import ENCODE
from workers.kinds.steer import STEER
from workers.kinds.steering_study import STEERING_STUDY_PART

_KINDS: dict[str, JobKind[Any, Any]] = {}


def register(kind: JobKind[Any, Any]) -> JobKind[Any, Any]:
    """Add a kind (plugins may call this too); a second, different kind of one name is an error."""
    existing = _KINDS.get(kind.name)
    if existing is not None and existing != kind:
        raise ValueError(f"job kind {kind.name!r} is already registered")
    _KINDS[kind.name] = kind
    return kind


def get_kind(name: str) -> JobKind[Any, Any] | None:
    """The typed kind of this name, or None (untyped kinds have only a handler)."""
    return _KINDS.get(name)


def typed_kinds() -> list[JobKind[Any, Any]]:
    """All registered kinds, by name."""
    return [_KINDS[name] for name in sorted(_KINDS)]


register(AUTOINTERP)
register(ENCODE)
register(STEER)
register(STEERING_STUDY_PART)
