"""Jobs and uploads belong to their creator: nobody else (but an admin) can read, cancel or
delete them, or see a job's free text through /encode?from=; per-user upload quota."""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import func
from sqlalchemy.orm import Session

from app.auth import BROWSER_COOKIE
from app.schemas.live import EncodeRequest
from app.services.accounts import UserOut
from app.services.live import study_params, submit_kind
from app.services.uploads import RequestRejected, prepare_upload, store_upload
from db.models import Job, Upload
from db.ownership import Principal, anon_owner, set_principal
from db.settings import Settings
from tests.app.accounts.conftest import sign_in
from tests.support.csrf import csrf_headers, form_token
from tests.support.factories import SeededData
from workers.kinds.encode import ENCODE, EncodeParams
from workers.kinds.study import StudyParams, UploadRef

SECRET_TEXT = "private indication of patient 4711"


def _as(session: Session, principal: Principal | None) -> None:
    if principal is None:
        session.info.pop("principal", None)
    else:
        set_principal(session, principal)


def _encode_job(session: Session, owner: Principal) -> Job:
    """An encode job whose study holds free text, created as `owner` would."""
    params = EncodeParams(
        model="tiny",
        sae="test-sae",
        sae_weights_sha256=None,
        study=StudyParams(
            frontal=UploadRef(id=uuid.uuid4(), sha256="0" * 64), indication=SECRET_TEXT
        ),
        max_new_tokens=8,
    )
    _as(session, owner)
    try:
        return submit_kind(session, ENCODE, params).job
    finally:
        _as(session, None)


def _upload(session: Session, owner: Principal) -> Upload:
    _as(session, owner)
    try:
        upload = Upload(
            sha256="1" * 64,
            path="x.png",
            width=1,
            height=1,
            n_bytes=100,
            expires_at=func.now() + timedelta(hours=1),
            owner_user_id=owner.user_id,
            owner_anon=None if owner.user_id else owner.anon,
        )
        session.add(upload)
        session.commit()
        return upload
    finally:
        _as(session, None)


@pytest.fixture
def people(
    make_client: Callable[..., TestClient], make_user: Callable[..., UserOut]
) -> dict[str, tuple[TestClient, Principal]]:
    """Signed-in clients of an owner, another researcher and an admin."""
    found = {}
    for name, role in (("owner", "researcher"), ("other", "researcher"), ("boss", "admin")):
        user = make_user(name, role)
        client = make_client()
        sign_in(client, name)
        found[name] = (client, Principal(user_id=user.id, role=role))
    return found


def test_only_the_owner_or_an_admin_can_read_or_cancel_a_job(
    people: dict[str, tuple[TestClient, Principal]],
    make_client: Callable[..., TestClient],
    session: Session,
) -> None:
    owner, other, boss = (people[name][0] for name in ("owner", "other", "boss"))
    job = _encode_job(session, people["owner"][1])
    anonymous = make_client()
    for client in (other, anonymous):
        assert client.get(f"/api/v1/jobs/{job.id}").status_code == 404
        assert client.get(f"/jobs/{job.id}").status_code == 404
        assert client.get(f"/encode/{job.id}").status_code == 404
        assert client.delete(f"/api/v1/jobs/{job.id}").status_code == 404
        assert client.delete(f"/jobs/{job.id}", headers=csrf_headers(client)).status_code == 404
    assert session.get(Job, job.id).status == "queued"
    assert owner.get(f"/api/v1/jobs/{job.id}").status_code == 200
    assert boss.get(f"/jobs/{job.id}").status_code == 200
    assert owner.delete(f"/api/v1/jobs/{job.id}").json()["status"] == "cancelled"


def test_encode_from_another_persons_job_shows_none_of_its_text(
    people: dict[str, tuple[TestClient, Principal]], session: Session, seeded: SeededData
) -> None:
    job = _encode_job(session, people["owner"][1])
    assert SECRET_TEXT not in people["other"][0].get(f"/encode?from={job.id}").text
    assert SECRET_TEXT in people["owner"][0].get(f"/encode?from={job.id}").text


def test_identical_requests_of_two_people_are_two_jobs(
    people: dict[str, tuple[TestClient, Principal]], session: Session
) -> None:
    mine = _encode_job(session, people["owner"][1])
    theirs = _encode_job(session, people["other"][1])
    assert mine.id != theirs.id
    assert _encode_job(session, people["owner"][1]).id == mine.id  # still cached per owner


def test_an_anonymous_browser_sees_its_own_jobs_only(
    make_client: Callable[..., TestClient], session: Session
) -> None:
    browser, stranger = make_client(), make_client()
    form_token(browser)
    form_token(stranger)
    job = _encode_job(session, Principal(anon=anon_owner(browser.cookies[BROWSER_COOKIE])))
    assert browser.get(f"/api/v1/jobs/{job.id}").status_code == 200
    assert stranger.get(f"/api/v1/jobs/{job.id}").status_code == 404


def test_only_the_owner_or_an_admin_can_read_or_delete_an_upload(
    people: dict[str, tuple[TestClient, Principal]], session: Session
) -> None:
    owner, other, boss = (people[name][0] for name in ("owner", "other", "boss"))
    upload = _upload(session, people["owner"][1])
    assert other.get(f"/api/v1/uploads/{upload.id}").status_code == 404
    assert other.get(f"/uploads/{upload.id}/image.png").status_code == 404
    assert other.delete(f"/api/v1/uploads/{upload.id}").status_code == 404
    assert owner.get(f"/api/v1/uploads/{upload.id}").status_code == 200
    assert boss.get(f"/api/v1/uploads/{upload.id}").status_code == 200
    assert owner.delete(f"/api/v1/uploads/{upload.id}").status_code == 204


def test_someone_elses_upload_cannot_be_used_in_a_job(
    people: dict[str, tuple[TestClient, Principal]], session: Session
) -> None:
    upload = _upload(session, people["owner"][1])
    request = EncodeRequest(sae="test-sae", frontal=upload.id)
    _as(session, people["other"][1])
    try:
        with pytest.raises(RequestRejected) as refused:
            study_params(session, request)
        assert "expired or was deleted" in refused.value.message
        _as(session, people["owner"][1])
        assert study_params(session, request).frontal.id == upload.id
    finally:
        _as(session, None)


def _png(value: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (64, 64), value).save(buffer, format="PNG")
    return buffer.getvalue()


def test_the_upload_quota_is_per_owner(session: Session, tmp_path) -> None:
    settings = Settings(home=tmp_path)
    first = prepare_upload(_png(1), "a.png", settings, "Image")
    _as(session, Principal(user_id=None, anon="a" * 64))
    try:
        first_size = len(first.png)
        settings = Settings(home=tmp_path, upload_quota_bytes=first_size + 10)
        store_upload(session, settings, first)
        with pytest.raises(RequestRejected) as refused:
            store_upload(session, settings, prepare_upload(_png(2), "b.png", settings, "Image"))
        assert refused.value.status_code == 507
        assert "quota" in refused.value.message
        _as(session, Principal(user_id=None, anon="b" * 64))
        store_upload(session, settings, prepare_upload(_png(3), "c.png", settings, "Image"))
    finally:
        _as(session, None)
