"""Multipart and JSON bodies of the live endpoints -> validated requests, images stored.

One path for the API and the HTML forms: image fields (`frontal`, `lateral`, `prior_frontal`)
hold a file or the id of an earlier upload (a file wins when both are sent). For the API, text
fields are validated first, so a request with a wrong field stores nothing; the HTML forms store
the images first (`store_form_images`), so a form sent back with an error keeps them. Features
come as JSON text in `features`, or as the HTML form's repeated `feature_index` / `feature_alpha`
pairs (an alpha may be a comma-separated sweep); `targets` as repeated checkboxes.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request

from app.services.live import IMAGE_ROLES
from app.services.uploads import (
    RequestRejected,
    prepare_upload,
    read_form,
    read_upload,
    store_upload,
)
from db.settings import Settings

RequestModel = TypeVar("RequestModel", bound=BaseModel)

MAX_JSON_BYTES = 256 * 1024
PLACEHOLDER_UPLOAD_ID = "00000000-0000-0000-0000-000000000000"


def _text_fields(form: FormData, model: type[BaseModel]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in model.model_fields:
        texts = [value for value in form.getlist(name) if isinstance(value, str)]
        if texts and texts[0].strip() != "":
            values[name] = texts[0]
    if "features" in model.model_fields:
        values.update(_features(form))
    if "targets" in model.model_fields:
        targets = [value for value in form.getlist("targets") if isinstance(value, str)]
        if targets:
            values["targets"] = targets
    return values


def _alpha(text: str) -> str | list[str]:
    """A form's alpha: one number, or a comma-separated sweep ("-10, 0, 10")."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not parts:
        return "0"
    return parts[0] if len(parts) == 1 and "," not in text else parts


def _features(form: FormData) -> dict[str, Any]:
    raw = form.get("features")
    if isinstance(raw, str) and raw.strip():
        try:
            return {"features": json.loads(raw)}
        except json.JSONDecodeError:
            raise RequestRejected(
                422, 'features: expected JSON such as [{"index": 12, "alpha": 10}].'
            ) from None
    pairs = zip(form.getlist("feature_index"), form.getlist("feature_alpha"), strict=False)
    features = [
        {"index": index.strip(), "alpha": _alpha(alpha)}
        for index, alpha in pairs
        if isinstance(index, str) and isinstance(alpha, str) and index.strip()
    ]
    return {"features": features} if features else {}


def _files(form: FormData) -> dict[str, UploadFile]:
    files = {}
    for role in IMAGE_ROLES:
        for value in form.getlist(role):
            if isinstance(value, UploadFile) and (value.filename or value.size):
                files[role] = value
                break
    return files


def _store_one(session: Session, settings: Settings, role: str, file: UploadFile) -> str:
    what = IMAGE_ROLES[role]
    image = prepare_upload(read_upload(file, settings, what), file.filename or "", settings, what)
    return str(store_upload(session, settings, image).id)


async def store_form_images(
    form: FormData, session: Session, settings: Settings, into: dict[str, str]
) -> None:
    """Store each image file of the form, adding its upload id to `into` by role as it goes (so
    the images stored before a rejected one are kept); raises RequestRejected."""
    for role, file in _files(form).items():
        into[role] = await run_in_threadpool(_store_one, session, settings, role, file)


def _store_files(
    session: Session, settings: Settings, files: dict[str, UploadFile]
) -> dict[str, str]:
    return {role: _store_one(session, settings, role, file) for role, file in files.items()}


async def request_from_form(
    form: FormData,
    session: Session,
    settings: Settings,
    model: type[RequestModel],
    stored: dict[str, str] | None = None,
) -> RequestModel:
    """A parsed form as `model`, its image files stored; raises RequestRejected or pydantic's
    ValidationError (and then stores nothing). With `stored` (the upload ids
    `store_form_images` gave its files) nothing more is stored."""
    values = _text_fields(form, model)
    files = _files(form)
    if stored is not None:
        values.update(stored)
        files = {}
    if "frontal" not in values and "frontal" not in files:
        raise RequestRejected(
            422, "Frontal image: please choose a frontal chest X-ray (PNG, JPEG or DICOM)."
        )
    model.model_validate({**values, **dict.fromkeys(files, PLACEHOLDER_UPLOAD_ID)})
    stored = await run_in_threadpool(_store_files, session, settings, files)
    return model.model_validate({**values, **stored})


async def form_request(
    request: Request, session: Session, settings: Settings, model: type[RequestModel]
) -> RequestModel:
    """Read the request's form (size-limited) and parse it into `model`."""
    form = await read_form(request, settings)
    try:
        return await request_from_form(form, session, settings, model)
    finally:
        await form.close()


async def json_request(request: Request, model: type[RequestModel]) -> RequestModel:
    """Parse a JSON body (at most 256 KiB) into `model`."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_JSON_BYTES:
            raise RequestRejected(413, "The request body is too large for a JSON request.")
    return model.model_validate_json(bytes(body))


async def live_request(
    request: Request, session: Session, settings: Settings, model: type[RequestModel]
) -> RequestModel:
    """A JSON or form body (by Content-Type) as `model`."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        return await json_request(request, model)
    if content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        return await form_request(request, session, settings, model)
    raise RequestRejected(
        415, "Send the request as multipart/form-data (with images) or application/json."
    )
