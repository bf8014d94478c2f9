"""Who a web request acts for, carried on its database session, and what that one may see.

The web app records the request's `Principal` on the request's session (`Session.info`) once,
when it resolves who is asking. Rows that belong to someone (jobs, uploads) are then stamped with
their owner where they are created and hidden from anyone else where they are read (`get_job`,
`get_upload`), so no route can forget the check. A session without a principal (a worker, the
command line) acts for the system and sees everything.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.orm import Session

INFO_KEY = "principal"


@dataclass(frozen=True)
class Principal:
    """A signed-in user (`user_id`, `role`) and/or an anonymous browser (`anon`: the sha256 of
    its random cookie id; None for clients without cookies)."""

    user_id: int | None = None
    role: str | None = None
    anon: str | None = None
    api_key_id: int | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class Owned(Protocol):
    owner_user_id: int | None
    owner_anon: str | None


def anon_owner(browser_id: str) -> str:
    """What an anonymous browser's rows record: the hash of its cookie, never the cookie."""
    return hashlib.sha256(browser_id.encode()).hexdigest()


def set_principal(session: Session, principal: Principal) -> None:
    session.info[INFO_KEY] = principal


def principal_of(session: Session) -> Principal | None:
    """The principal the session acts for; None for the system (workers, command line)."""
    return session.info.get(INFO_KEY)


def owner_values(session: Session) -> dict[str, int | str | None]:
    """The owner columns for a row created now: the user, else the anonymous browser, else
    nobody (a command-line job, or an API client without a key or cookie)."""
    principal = principal_of(session)
    if principal is None:
        return {"owner_user_id": None, "owner_anon": None}
    if principal.user_id is not None:
        return {"owner_user_id": principal.user_id, "owner_anon": None}
    return {"owner_user_id": None, "owner_anon": principal.anon}


def owner_scope(session: Session) -> str:
    """A prefix that keeps identical requests of different owners apart (job cache keys)."""
    values = owner_values(session)
    if values["owner_user_id"] is not None:
        return f"user:{values['owner_user_id']}:"
    if values["owner_anon"] is not None:
        return f"anon:{values['owner_anon']}:"
    return ""


def can_see(session: Session, row: Owned) -> bool:
    """Whether the session's principal may read, cancel or delete the row: the system, an
    admin, its owner; a row without any owner is public."""
    principal = principal_of(session)
    if principal is None or principal.is_admin:
        return True
    if row.owner_user_id is not None:
        return row.owner_user_id == principal.user_id
    if row.owner_anon is not None:
        return row.owner_anon == principal.anon
    return True
