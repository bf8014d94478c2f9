"""Uploads that cannot hurt the server: decompression bombs refused from the header within a
bounded memory, unusable shapes, damaged DICOM, identical pixels stored once and shared safely,
a total storage cap, and a shared decode budget."""

from __future__ import annotations

import io
import threading
import tracemalloc

import numpy as np
import pydicom
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.main import create_app
from app.services import uploads
from app.services.uploads import DecodeBudget, RequestRejected, prepare_upload
from db.engine import make_engine
from tests.live.conftest import LiveSetup
from tests.live.images import png_bomb, png_header_only, xray_png
from tests.live.test_uploads import stored_file, upload
from tests.support.dicom import dicom_bytes


def test_a_16bit_rgba_bomb_is_refused_from_its_header_within_bounded_memory(
    live_setup: LiveSetup,
) -> None:
    bomb = png_bomb(7000, 7000)
    assert len(bomb) < 400_000
    tracemalloc.start()
    try:
        with pytest.raises(RequestRejected) as rejected:
            prepare_upload(bomb, "bomb.png", live_setup.settings(), "Image")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert rejected.value.status_code == 413
    assert rejected.value.message.startswith(
        "Image: This image is 7,000 × 7,000 pixels in colour with transparency; checking it "
        "would need about 561 MB of memory, more than the 256 MB this server allows"
    )
    assert peak < 5 * 1024 * 1024, f"validation allocated {peak / 1e6:.1f} MB"


def test_the_bomb_through_the_api_is_413_in_words(live_client: TestClient) -> None:
    response = upload(live_client, png_bomb(7000, 7000), name="bomb.png")
    assert response.status_code == 413
    assert "7,000 × 7,000 pixels" in response.json()["detail"]


@pytest.mark.parametrize(
    ("width", "height"),
    [(1, 40_000_000), (40_000_000, 1), (2000, 401)],
    ids=["tall", "wide", "5:1"],
)
def test_shapes_the_model_cannot_use_are_refused_in_words(
    live_client: TestClient, width: int, height: int
) -> None:
    response = upload(live_client, png_header_only(width, height))
    assert response.status_code == 422
    assert response.json()["detail"] == (
        f"Image: This image is {width:,} × {height:,} pixels (width × height); a chest X-ray "
        "must be at most 4 times wider than tall or taller than wide. Please upload the whole "
        "radiograph, not a strip or a montage."
    )


def test_a_dicom_with_more_pixel_data_than_its_size_says_is_422(live_client: TestClient) -> None:
    dataset = pydicom.dcmread(io.BytesIO(dicom_bytes(np.zeros((8, 8), dtype=np.uint16))))
    dataset.PixelData = dataset.PixelData + b"\x00" * 1000
    buffer = io.BytesIO()
    dataset.save_as(buffer)
    response = upload(live_client, buffer.getvalue(), name="long.dcm")
    assert response.status_code == 422, response.text
    assert response.json()["detail"] == (
        "Image: The DICOM is damaged: its pixel data holds 1,128 bytes, but its header describes "
        "1 image(s) of 8 × 8 pixels (128 bytes)."
    )


def test_identical_pixels_are_stored_once_and_deleting_one_keeps_the_other(
    live_client: TestClient, live_setup: LiveSetup
) -> None:
    first = upload(live_client, xray_png(seed=41, size=(37, 53))).json()
    second = upload(live_client, xray_png(seed=41, size=(37, 53)), name="again.png").json()
    assert first["id"] != second["id"] and first["sha256"] == second["sha256"]
    path = stored_file(live_setup, first)
    assert stored_file(live_setup, second) == path
    assert live_client.delete(first["url"]).status_code == 204
    assert path.is_file(), "the other upload still needs the shared file"
    assert live_client.get(second["url"]).status_code == 200
    assert live_client.delete(second["url"]).status_code == 204
    assert not path.exists()


def test_total_storage_is_capped_with_507(live_setup: LiveSetup, live_client: TestClient) -> None:
    kept = upload(live_client, xray_png(seed=42, size=(39, 51))).json()

    engine = make_engine(live_setup.url)
    with Session(engine) as session:
        uploads.purge_expired_uploads(session, live_setup.settings())
        used = uploads.stored_bytes(session)
    engine.dispose()
    settings = live_setup.settings(upload_storage_max_bytes=used + 10)
    with TestClient(create_app(settings)) as capped:
        response = upload(capped, xray_png(seed=43, size=(39, 51)))
        assert response.status_code == 507
        assert response.json()["detail"].startswith(
            "The server's storage for uploaded images is full"
        )
        assert "MAIRA_SAE_UPLOAD_STORAGE_MAX_BYTES" in response.json()["detail"]
        again = upload(capped, xray_png(seed=42, size=(39, 51)))
        assert again.status_code == 201, "identical pixels take no new space"
        assert again.json()["sha256"] == kept["sha256"]


def test_the_decode_budget_makes_checks_wait_then_answers_503(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(uploads, "BUDGET_WAIT_S", 0.2)
    budget = DecodeBudget(100)
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with budget.reserve(80):
            held.set()
            release.wait(5)

    thread = threading.Thread(target=hold)
    thread.start()
    held.wait(5)
    with budget.reserve(20):
        assert budget.free == 0
    with pytest.raises(RequestRejected) as busy, budget.reserve(50):
        pass
    assert busy.value.status_code == 503 and busy.value.headers == {"Retry-After": "5"}
    release.set()
    thread.join()
    with budget.reserve(500):
        assert budget.free == 0, "a cost above the total takes the whole budget"
    assert budget.free == 100


def test_a_nul_in_a_multipart_text_field_is_a_clear_400(live_client: TestClient) -> None:
    response = live_client.post(
        "/api/v1/encode",
        files={"frontal": ("x.png", xray_png(seed=44), "image/png")},
        data={"sae": "tiny-live", "indication": "chest pain\x00"},
    )
    assert response.status_code == 400
    assert response.json() == {
        "detail": "A form field contains a NUL character (a binary byte); please retype it."
    }
