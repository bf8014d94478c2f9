"""API keys: created for a user and shown once, stored as a sha256 only, named, revocable, with
the time each was last used (written at most once a minute, so a busy key costs no write per
request)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from app.services.accounts import AccountError, UserOut
from db.models import ApiKey, User

KEY_PREFIX = "msae_"
SHOWN_PREFIX_LENGTH = len(KEY_PREFIX) + 6
MAX_KEY_NAME_LENGTH = 100
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class ApiKeyOut:
    """A key as the account page lists it: never the key itself."""

    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class CreatedKey:
    """A new key: `secret` is shown to its owner once and stored nowhere."""

    key: ApiKeyOut
    secret: str


def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _out(row: ApiKey) -> ApiKeyOut:
    return ApiKeyOut(
        id=row.id,
        name=row.name,
        prefix=row.prefix,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


def create_key(session: Session, *, user_id: int, name: str) -> CreatedKey:
    """A new 256-bit key for the user; AccountError for an empty or overlong name. Commits."""
    name = name.strip()
    if not 1 <= len(name) <= MAX_KEY_NAME_LENGTH or not name.isprintable():
        raise AccountError(f"Name the key with 1 to {MAX_KEY_NAME_LENGTH} printable characters.")
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(
        user_id=user_id, name=name, prefix=secret[:SHOWN_PREFIX_LENGTH], key_sha256=_sha256(secret)
    )
    session.add(row)
    session.commit()
    session.refresh(row)
    return CreatedKey(key=_out(row), secret=secret)


def list_keys(session: Session, *, user_id: int) -> list[ApiKeyOut]:
    """The user's keys, newest first, revoked ones included."""
    rows = session.scalars(
        select(ApiKey).where(ApiKey.user_id == user_id).order_by(ApiKey.id.desc())
    )
    return [_out(row) for row in rows]


def revoke_key(session: Session, *, user_id: int, key_id: int) -> bool:
    """Revoke one of the user's keys; False when the user has no such live key. Commits."""
    revoked = session.execute(
        update(ApiKey)
        .where(ApiKey.id == key_id, ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=func.now())
        .returning(ApiKey.id)
    ).scalar_one_or_none()
    session.commit()
    return revoked is not None


def key_user(session: Session, secret: str) -> tuple[UserOut, int] | None:
    """The user and key id a live key belongs to, or None; records its use (at most once per
    minute per key, in the same statement's transaction)."""
    row = session.execute(
        select(User.id, User.name, User.role, ApiKey.id)
        .join(ApiKey, ApiKey.user_id == User.id)
        .where(ApiKey.key_sha256 == _sha256(secret), ApiKey.revoked_at.is_(None))
    ).one_or_none()
    if row is None:
        return None
    touched = session.execute(
        update(ApiKey)
        .where(
            ApiKey.id == row[3],
            or_(
                ApiKey.last_used_at.is_(None),
                ApiKey.last_used_at < func.now() - LAST_USED_RESOLUTION,
            ),
        )
        .values(last_used_at=func.now())
    )
    if touched.rowcount:
        session.commit()
    return UserOut(id=row[0], name=row[1], role=row[2]), row[3]
