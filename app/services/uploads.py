"""Uploaded images: read multipart bodies under a streaming size limit, validate and de-identify
each image, store it as a pixels-only PNG with an expiry, delete and purge.

Validation is `workers.maira2.images.prepare_image` (torch-free: Pillow, pydicom, numpy), the same
code the model's inputs go through. The stored PNG is rebuilt from the decoded pixel array, so no
DICOM header (PatientName and the rest), PNG text chunk or EXIF field is ever written; file names
are neither stored nor logged.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from PIL import Image
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.types import Message

from db.models import Upload
from db.settings import Settings
from workers.maira2.images import ImageError, ImageTooLarge, UnsupportedImageType, prepare_image

log = logging.getLogger(__name__)

MAX_IMAGES_PER_REQUEST = 3
FIELDS_ALLOWANCE_BYTES = 1024 * 1024
"""Room in a multipart body for the text fields and part headers, besides the images."""


class RequestRejected(Exception):
    """A request, file or reference the server will not take, with its HTTP status; `message`
    is meant for the radiologist."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


class _BodyTooLarge(Exception):
    """Raised from inside the body stream once it passes the limit."""


def _megabytes(n_bytes: int) -> str:
    return f"{n_bytes / 1024 / 1024:.3g} MB"


def body_limit(settings: Settings) -> int:
    """Largest multipart body accepted: three images at the per-file limit plus the fields."""
    return MAX_IMAGES_PER_REQUEST * settings.upload_max_bytes + FIELDS_ALLOWANCE_BYTES


def _too_large(settings: Settings) -> RequestRejected:
    limit = _megabytes(settings.upload_max_bytes)
    return RequestRejected(413, f"The upload is too large: each image may be at most {limit}.")


async def read_form(request: Request, settings: Settings) -> FormData:
    """The request's multipart (or urlencoded) form, counting bytes as they arrive: a body over
    `body_limit` is refused with 413 as soon as it passes the limit, never read to its end."""
    limit = body_limit(settings)
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(settings)
    received = 0

    async def counting_receive() -> Message:
        nonlocal received
        message = await request.receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise _BodyTooLarge
        return message

    limited = Request(request.scope, counting_receive)
    try:
        return await limited.form(
            max_files=MAX_IMAGES_PER_REQUEST, max_fields=40, max_part_size=FIELDS_ALLOWANCE_BYTES
        )
    except _BodyTooLarge:
        raise _too_large(settings) from None


def form_file(form: FormData, name: str) -> UploadFile | None:
    """The file sent as `name`, or None when the field is missing or was left empty."""
    value = form.get(name)
    if not isinstance(value, UploadFile):
        return None
    if not value.filename and not value.size:
        return None
    return value


def read_upload(file: UploadFile, settings: Settings, what: str) -> bytes:
    """The bytes of an uploaded file (already spooled by the form parser), size-checked."""
    if file.size is not None and file.size > settings.upload_max_bytes:
        raise RequestRejected(
            413,
            f"{what}: the file is {_megabytes(file.size)}; "
            f"the limit is {_megabytes(settings.upload_max_bytes)}.",
        )
    file.file.seek(0)
    data = file.file.read(settings.upload_max_bytes + 1)
    if len(data) > settings.upload_max_bytes:
        raise RequestRejected(
            413, f"{what}: the file is larger than {_megabytes(settings.upload_max_bytes)}."
        )
    return data


@dataclass(frozen=True)
class PreparedImage:
    """A validated image as it will be stored: PNG bytes and the hash of its pixels."""

    png: bytes
    sha256: str
    width: int
    height: int


def pixel_sha256(image: Image.Image) -> str:
    """Hex sha256 of an "L" image's size and pixels (equal images hash equal, whatever file
    they came from)."""
    digest = hashlib.sha256(f"{image.mode}:{image.width}x{image.height}:".encode())
    digest.update(image.tobytes())
    return digest.hexdigest()


def prepare_upload(data: bytes, filename: str, settings: Settings, what: str) -> PreparedImage:
    """Validate, decode and de-identify one image file; raise RequestRejected (413, 415 or 422)
    with a message naming `what` (e.g. "Frontal image")."""
    try:
        image = prepare_image(
            data,
            filename,
            max_pixels=settings.upload_max_pixels,
            max_bytes=settings.upload_max_bytes,
        )
    except ImageTooLarge as error:
        raise RequestRejected(413, f"{what}: {error}") from None
    except UnsupportedImageType as error:
        raise RequestRejected(415, f"{what}: {error}") from None
    except ImageError as error:
        raise RequestRejected(422, f"{what}: {error}") from None
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False)
    return PreparedImage(buffer.getvalue(), pixel_sha256(image), image.width, image.height)


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.part")
    staging.write_bytes(data)
    os.replace(staging, path)


def store_upload(session: Session, settings: Settings, prepared: PreparedImage) -> Upload:
    """Write the PNG under `uploads_dir` and its row (expiring after `upload_retention_hours`);
    purges expired uploads first. Commits."""
    purge_expired_uploads(session, settings)
    upload_id = uuid.uuid4()
    file_name = f"{upload_id}.png"
    _write_atomically(settings.uploads_dir / file_name, prepared.png)
    upload = Upload(
        id=upload_id,
        sha256=prepared.sha256,
        path=file_name,
        width=prepared.width,
        height=prepared.height,
        n_bytes=len(prepared.png),
        expires_at=func.now() + timedelta(hours=settings.upload_retention_hours),
    )
    session.add(upload)
    try:
        session.commit()
    except BaseException:
        (settings.uploads_dir / file_name).unlink(missing_ok=True)
        raise
    session.refresh(upload)
    log.info("stored upload %s (%dx%d)", upload.id, upload.width, upload.height)
    return upload


def get_upload(session: Session, upload_id: uuid.UUID | str) -> Upload | None:
    """The unexpired upload with this id, or None (a malformed id is None too)."""
    try:
        parsed = upload_id if isinstance(upload_id, uuid.UUID) else uuid.UUID(str(upload_id))
    except ValueError:
        return None
    return session.scalars(
        select(Upload).where(Upload.id == parsed, Upload.expires_at > func.now())
    ).one_or_none()


def upload_file(settings: Settings, upload: Upload) -> Path:
    """Where the upload's PNG lies."""
    return settings.uploads_dir / upload.path


def delete_upload(session: Session, settings: Settings, upload_id: uuid.UUID | str) -> bool:
    """Delete an upload's row and file; False when there was no such upload. Commits."""
    upload = get_upload(session, upload_id)
    if upload is None:
        return False
    session.delete(upload)
    session.commit()
    upload_file(settings, upload).unlink(missing_ok=True)
    log.info("deleted upload %s", upload.id)
    return True


def purge_expired_uploads(session: Session, settings: Settings) -> int:
    """Delete the rows and files of uploads past their expiry; returns how many. Commits."""
    paths = session.scalars(
        delete(Upload).where(Upload.expires_at <= func.now()).returning(Upload.path)
    ).all()
    session.commit()
    for path in paths:
        (settings.uploads_dir / path).unlink(missing_ok=True)
    if paths:
        log.info("purged %d expired uploads", len(paths))
    return len(paths)
