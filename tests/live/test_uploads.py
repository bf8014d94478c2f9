"""Uploads through the API and the HTML form: validation at the boundary (413/415/422 with the
same words on both), DICOM de-identification, deletion and expiry."""

from __future__ import annotations

import asyncio
import io
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from app.main import create_app
from db.engine import make_engine
from db.models import Upload
from tests.live.conftest import SAE_SLUG, LiveSetup
from tests.live.images import (
    png_16bit,
    png_header_only,
    ramp_12bit,
    truncated_png,
    xray_png,
)
from tests.support.csrf import form_token
from tests.support.dicom import PATIENT_ID, PATIENT_NAME, dicom_bytes


def upload(client: TestClient, data: bytes, name: str = "study.png") -> object:
    return client.post("/api/v1/uploads", files={"image": (name, data, "application/octet-stream")})


def stored_file(setup: LiveSetup, body: dict) -> Path:
    """Where the upload's pixels lie (a file shared by uploads of identical pixels)."""
    engine = make_engine(setup.url)
    with Session(engine) as session:
        name = session.scalars(select(Upload.path).where(Upload.id == uuid.UUID(body["id"]))).one()
    engine.dispose()
    return setup.home / "uploads" / name


def stored_png(setup: LiveSetup, body: dict) -> Image.Image:
    path = stored_file(setup, body)
    assert path.suffix == ".png"
    return Image.open(path)


def test_a_png_is_stored_with_its_pixel_hash_and_expiry(
    live_client: TestClient, live_setup: LiveSetup
) -> None:
    response = upload(live_client, xray_png(size=(40, 50)))
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["width"], body["height"]) == (50, 40)
    assert body["url"] == f"/api/v1/uploads/{body['id']}"
    assert body["expires_at"] > body["created_at"]
    again = upload(live_client, xray_png(size=(40, 50)), name="copy.png").json()
    assert again["sha256"] == body["sha256"] and again["id"] != body["id"]
    assert live_client.get(body["url"]).json()["sha256"] == body["sha256"]
    assert stored_png(live_setup, body).size == (50, 40)


def test_a_16bit_png_is_accepted_and_scaled_not_saturated(
    live_client: TestClient, live_setup: LiveSetup
) -> None:
    response = upload(live_client, png_16bit())
    assert response.status_code == 201, response.text
    image = stored_png(live_setup, response.json())
    values = np.asarray(image)
    assert image.mode == "L" and values.min() == 0 and values.max() == 255
    assert (values == 255).mean() < 0.05, "the ramp was clamped at 255 instead of scaled"
    expected = np.round(ramp_12bit().astype(float) * 255 / 4095)
    assert np.abs(values - expected).max() <= 1


def test_dicom_patient_data_is_never_stored_or_logged(
    live_client: TestClient, live_setup: LiveSetup, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    response = upload(live_client, dicom_bytes(ramp_12bit()), name=f"{PATIENT_NAME}.dcm")
    assert response.status_code == 201, response.text
    body = response.json()
    stored = stored_file(live_setup, body).read_bytes()
    assert stored.startswith(b"\x89PNG")
    for secret in (PATIENT_NAME, "Doe", PATIENT_ID):
        assert secret.encode() not in stored
        assert secret not in caplog.text
        assert secret not in response.text
    assert Image.open(io.BytesIO(stored)).info == {}
    assert np.asarray(Image.open(io.BytesIO(stored))).max() == 255


@pytest.mark.parametrize(
    ("data", "name", "status", "words"),
    [
        (truncated_png(), "cut.png", 422, "damaged or truncated"),
        (dicom_bytes(None), "empty.dcm", 422, "without pixel data"),
        (png_header_only(10_000, 10_000), "huge.png", 413, "100 megapixels"),
        (b"Findings: no pleural effusion.\n" * 20, "notes.png", 415, "not a PNG, JPEG or DICOM"),
        (b"", "empty.png", 422, "The file is empty"),
    ],
    ids=["truncated-png", "dicom-without-pixels", "100-megapixels", "text-named-png", "empty"],
)
def test_bad_uploads_get_clear_errors(
    live_client: TestClient, data: bytes, name: str, status: int, words: str
) -> None:
    response = upload(live_client, data, name)
    assert response.status_code == status, response.text
    assert words in response.json()["detail"]
    assert response.json()["detail"].startswith("Image")


@pytest.fixture
def small_limit_client(live_setup: LiveSetup) -> Iterator[TestClient]:
    """The app with a 100 kB per-image limit (so the body limit is 3 x 100 kB + 1 MiB)."""
    app = create_app(live_setup.settings(upload_max_bytes=100_000))
    with TestClient(app) as client:
        yield client


def test_an_oversized_file_is_refused(small_limit_client: TestClient) -> None:
    big = xray_png(size=(400, 400))
    assert len(big) > 100_000
    response = upload(small_limit_client, big)
    assert response.status_code == 413
    detail = response.json()["detail"]
    assert detail.startswith("Image: the file is 0.15") and detail.endswith(
        "the limit is 0.0954 MB."
    )


def test_an_oversized_body_is_refused_while_streaming(live_setup: LiveSetup) -> None:
    app = create_app(live_setup.settings(upload_max_bytes=100_000))
    boundary = "live-test-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="x.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    chunks_sent = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal chunks_sent
        yield head
        for _ in range(400):
            chunks_sent += 1
            yield b"\0" * 64_000

    async def send() -> httpx.Response:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://t"
            ) as client,
        ):
            return await client.post(
                "/api/v1/uploads",
                content=body(),
                headers={"content-type": f"multipart/form-data; boundary={boundary}"},
            )

    with ThreadPoolExecutor(1) as pool:  # a thread of its own: Playwright may own this loop
        response = pool.submit(asyncio.run, send()).result()
    assert response.status_code == 413
    assert "too large" in response.json()["detail"]
    assert 20 < chunks_sent < 30, "the body was not refused as soon as it passed 1.3 MB"


def test_the_html_form_shows_the_same_words(live_client: TestClient) -> None:
    files = {"frontal": ("notes.png", b"not an image at all, just text", "image/png")}
    data = {"sae": "tiny-live", "csrf_token": form_token(live_client)}
    response = live_client.post("/encode", data=data, files=files)
    assert response.status_code == 415
    assert "Frontal image: The file is not a PNG, JPEG or DICOM image." in response.text
    assert 'role="alert"' in response.text


def test_delete_removes_the_file_and_the_record(
    live_client: TestClient, live_setup: LiveSetup
) -> None:
    body = upload(live_client, xray_png(seed=5)).json()
    path = stored_file(live_setup, body)
    assert path.is_file()
    assert live_client.delete(body["url"]).status_code == 204
    assert not path.exists()
    assert live_client.get(body["url"]).status_code == 404
    assert live_client.delete(body["url"]).status_code == 404
    assert live_client.delete(f"/api/v1/uploads/{uuid.uuid4()}").status_code == 404


@pytest.mark.parametrize("trigger", ["upload", "submit"])
def test_expired_uploads_are_purged_on_the_next_upload_or_submit(
    live_client: TestClient,
    live_setup: LiveSetup,
    live_sessions: sessionmaker[Session],
    trigger: str,
) -> None:
    old = upload(live_client, xray_png(seed=6)).json()
    fresh = upload(live_client, xray_png(seed=7)).json()
    path = stored_file(live_setup, old)
    with live_sessions() as session:
        session.execute(
            text(
                "UPDATE uploads SET created_at = now() - interval '80 hours', "
                "expires_at = now() - interval '8 hours' WHERE id = :id"
            ),
            {"id": old["id"]},
        )
        session.commit()
    assert live_client.get(old["url"]).status_code == 404
    assert path.is_file()
    if trigger == "upload":
        upload(live_client, xray_png(seed=8))
    else:
        body = {"frontal": fresh["id"], "sae": SAE_SLUG, "max_new_tokens": 2}
        assert live_client.post("/api/v1/encode", json=body).status_code in (200, 202)
    assert not path.exists()
    with live_sessions() as session:
        remaining = session.scalar(
            text("SELECT count(*) FROM uploads WHERE id = :id"), {"id": old["id"]}
        )
    assert remaining == 0
    assert live_client.get(fresh["url"]).status_code == 200
