"""Accounts: users and their argon2 passwords, and server-side sign-in sessions.

A session cookie holds a random 256-bit token; the `sessions` table keeps only its sha256, so a
leaked table lets nobody sign in. Server-side sessions (not signed cookies) because signing out
and changing a password must end a sign-in at once, everywhere, and because no signing secret
then has to be configured and kept by every web process.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db.models import USER_ROLES, User, UserSession

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024
MAX_NAME_LENGTH = 64

_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Verified against when the user does not exist, so a missing name costs as long as a
    wrong password (no timing oracle for which names exist)."""
    return _hasher.hash("no such user: a password nobody has")


class AccountError(ValueError):
    """A name, role or password that cannot be used; the message says why, in words."""


@dataclass(frozen=True)
class UserOut:
    """A user as pages, dependencies and other services see it (no password hash)."""

    id: int
    name: str
    role: str

    def has_role(self, *roles: str) -> bool:
        """Whether the user holds one of `roles` (an admin holds them all)."""
        return self.role == "admin" or self.role in roles


def _out(user: User) -> UserOut:
    return UserOut(id=user.id, name=user.name, role=user.role)


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_password(password: str) -> None:
    """AccountError unless the password is long enough (and not absurdly long)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"The password must have at least {MIN_PASSWORD_LENGTH} characters.")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError(f"The password may have at most {MAX_PASSWORD_LENGTH} characters.")


def add_user(session: Session, *, name: str, role: str, password: str) -> UserOut:
    """Create a user; AccountError for a taken or malformed name, unknown role or weak password.
    Commits."""
    name = name.strip()
    if not 1 <= len(name) <= MAX_NAME_LENGTH or not name.isprintable():
        raise AccountError(f"A user name has 1 to {MAX_NAME_LENGTH} printable characters.")
    if role not in USER_ROLES:
        raise AccountError(f"Unknown role {role!r}; choose one of {', '.join(USER_ROLES)}.")
    check_password(password)
    user = User(name=name, role=role, password_hash=_hasher.hash(password))
    session.add(user)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise AccountError(f"There is already a user named {name!r}.") from None
    return _out(user)


def find_user(session: Session, name: str) -> UserOut | None:
    user = session.scalars(select(User).where(User.name == name)).one_or_none()
    return None if user is None else _out(user)


def get_user(session: Session, user_id: int) -> UserOut | None:
    user = session.get(User, user_id)
    return None if user is None else _out(user)


def set_password(session: Session, *, user_id: int, password: str) -> None:
    """Replace the password and end every sign-in of the user. Commits."""
    check_password(password)
    session.execute(
        update(User)
        .where(User.id == user_id)
        .values(password_hash=_hasher.hash(password), password_changed_at=func.now())
    )
    session.execute(delete(UserSession).where(UserSession.user_id == user_id))
    session.commit()


def authenticate(session: Session, *, name: str, password: str) -> UserOut | None:
    """The user when the password is right, else None; as slow for a missing user as for a
    wrong password. Rehashes a hash made with older parameters."""
    user = session.scalars(select(User).where(User.name == name)).one_or_none()
    try:
        _hasher.verify(user.password_hash if user else _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
        session.commit()
    return _out(user)


def start_session(session: Session, *, user_id: int, days: float) -> str:
    """A new sign-in of the user: returns the cookie's token (only its hash is stored). Commits."""
    token = secrets.token_urlsafe(32)
    session.execute(delete(UserSession).where(UserSession.expires_at <= func.now()))
    session.add(
        UserSession(
            token_sha256=token_sha256(token),
            user_id=user_id,
            expires_at=func.now() + timedelta(days=days),
        )
    )
    session.commit()
    return token


def session_user(session: Session, token: str) -> UserOut | None:
    """The user signed in with this cookie token, or None (unknown or expired)."""
    user = session.scalars(
        select(User)
        .join(UserSession, UserSession.user_id == User.id)
        .where(UserSession.token_sha256 == token_sha256(token), UserSession.expires_at > func.now())
    ).one_or_none()
    return None if user is None else _out(user)


def end_session(session: Session, token: str) -> None:
    """Sign out: forget this cookie token. Commits."""
    session.execute(delete(UserSession).where(UserSession.token_sha256 == token_sha256(token)))
    session.commit()
