"""`maira-sae user add` and `maira-sae user reset-password`, and the demo's two accounts."""

from __future__ import annotations

import argparse
import getpass
import os
import secrets
import sys
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from app.services.accounts import AccountError, add_user, find_user, set_password
from db.engine import make_sessionmaker

ACCOUNTS = (("admin", "admin"), ("reviewer", "reviewer"))
DEMO_ACCOUNTS_FILE = "demo-accounts.txt"


def _read_password(from_stdin: bool) -> str:
    """The new password: the first line of stdin, or typed twice at a hidden prompt."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password = getpass.getpass("New password: ")
    if getpass.getpass("Repeat it: ") != password:
        raise AccountError("The two passwords differ.")
    return password


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)  # noqa: T201
    return 2


def add_command(args: argparse.Namespace) -> int:
    """CLI target of `user add NAME --role ROLE [--password-stdin]`."""
    from db.importers.session import command_session

    try:
        password = _read_password(args.password_stdin)
        with command_session() as session:
            user = add_user(session, name=args.name, role=args.role, password=password)
    except AccountError as error:
        return _fail(str(error))
    print(f"created user {user.name!r} ({user.role}); sign in at /login")  # noqa: T201
    return 0


def reset_command(args: argparse.Namespace) -> int:
    """CLI target of `user reset-password NAME [--password-stdin]`; ends the user's sign-ins."""
    from db.importers.session import command_session

    try:
        with command_session() as session:
            user = find_user(session, args.name)
            if user is None:
                return _fail(f"There is no user named {args.name!r}.")
            set_password(session, user_id=user.id, password=_read_password(args.password_stdin))
    except AccountError as error:
        return _fail(str(error))
    print(f"password of {user.name!r} changed; their sign-ins were ended")  # noqa: T201
    return 0


def _ensure(session: Session, name: str, role: str) -> str:
    """Give the demo account a new random password, creating it when missing."""
    password = secrets.token_urlsafe(12)
    user = find_user(session, name)
    if user is None:
        add_user(session, name=name, role=role, password=password)
    else:
        set_password(session, user_id=user.id, password=password)
    return password


def ensure_demo_accounts(engine: Engine, home: Path) -> str:
    """Make sure the demo's admin and reviewer exist with passwords recorded in a file only the
    owner can read (HOME/demo-accounts.txt, mode 0600); returns a line saying where it is."""
    path = home.resolve() / DEMO_ACCOUNTS_FILE
    with make_sessionmaker(engine)() as session:
        if not path.is_file() or any(find_user(session, n) is None for n, _ in ACCOUNTS):
            lines = [f"{name} ({role}): {_ensure(session, name, role)}" for name, role in ACCOUNTS]
            path.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "w") as file:
                file.write("Sign in at /login with one of these accounts:\n")
                file.write("\n".join(lines) + "\n")
            path.chmod(0o600)
    return f"accounts  : admin and reviewer; their passwords are in {path} (sign in at /login)"
