"""`maira-sae user add` / `user reset-password`, the demo's accounts, and a rate limit shared by
two real `maira-sae serve` processes."""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path

import httpx
from sqlalchemy.orm import Session

from app.services.accounts import (
    add_user,
    authenticate,
    find_user,
    session_user,
    start_session,
)
from app.services.api_keys import create_key
from app.users import ensure_demo_accounts
from db.engine import make_engine
from tests.support.cli import maira_sae
from tests.support.servers import serving


def _run(url: str, home: Path, stdin: str, command: str) -> tuple[int, str]:
    """`maira-sae COMMAND --password-stdin` with the password on stdin; status and output."""
    done = maira_sae(url, home, *command.split(), "--password-stdin", stdin=stdin)
    return done.returncode, done.stdout + done.stderr


def test_user_add_and_reset_password(make_database: Callable[[], str], tmp_path: Path) -> None:
    url = make_database()
    code, out = _run(url, tmp_path, "first password!\n", "user add rita --role reviewer")
    assert code == 0, out
    assert "created user 'rita' (reviewer)" in out
    code, out = _run(url, tmp_path, "other password\n", "user add rita --role admin")
    assert code == 2 and "already a user named 'rita'" in out
    code, out = _run(url, tmp_path, "short\n", "user add sam --role admin")
    assert code == 2 and "at least 10 characters" in out
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            user = find_user(session, "rita")
            assert user is not None and user.role == "reviewer"
            token = start_session(session, user_id=user.id, days=1)
        code, out = _run(url, tmp_path, "second password\n", "user reset-password rita")
        assert code == 0, out
        with Session(engine) as session:
            assert authenticate(session, name="rita", password="second password") is not None
            assert authenticate(session, name="rita", password="first password!") is None
            assert session_user(session, token) is None  # signed out everywhere
        code, out = _run(url, tmp_path, "whatever12345\n", "user reset-password nobody")
        assert code == 2 and "no user named 'nobody'" in out
    finally:
        engine.dispose()


def test_the_demo_accounts_are_kept_in_a_private_file(
    make_database: Callable[[], str], tmp_path: Path
) -> None:
    engine = make_engine(make_database())
    try:
        line = ensure_demo_accounts(engine, tmp_path)
        path = tmp_path / "demo-accounts.txt"
        assert str(path) in line
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        passwords = dict(entry.split(": ", 1) for entry in path.read_text().splitlines()[1:])
        assert set(passwords) == {"admin (admin)", "reviewer (reviewer)"}
        with Session(engine) as session:
            assert authenticate(session, name="admin", password=passwords["admin (admin)"])
            reviewer = authenticate(
                session, name="reviewer", password=passwords["reviewer (reviewer)"]
            )
            assert reviewer is not None and reviewer.role == "reviewer"
        before = path.read_text()
        ensure_demo_accounts(engine, tmp_path)  # a second start keeps them
        assert path.read_text() == before
    finally:
        engine.dispose()


def test_the_rate_limit_is_shared_by_two_serve_processes(
    make_database: Callable[[], str], tmp_path: Path
) -> None:
    url = make_database()
    engine = make_engine(url)
    with Session(engine) as session:
        user = add_user(session, name="ada", role="researcher", password="a long password")
        secret = create_key(session, user_id=user.id, name="script").secret
    engine.dispose()
    bearer = {"Authorization": f"Bearer {secret}"}
    limits = {"rate_limits": '{"uploads": 3}'}
    with (
        serving(url, tmp_path / "a.log", **limits) as first,
        serving(url, tmp_path / "b.log", **limits) as second,
    ):
        answers = [
            httpx.post(f"{base}/api/v1/uploads", headers=bearer, timeout=30)
            for base in (first, second, first, second)
        ]
    assert [answer.status_code for answer in answers] == [422, 422, 422, 429]
    assert int(answers[-1].headers["retry-after"]) >= 1
