"""Uploaded images: read multipart bodies under a streaming size limit and a stall timeout,
validate and de-identify each image within a memory budget, store it as a pixels-only PNG with an
expiry (identical pixels stored once, shared by every upload row that holds them, within a total
storage cap), delete and purge.

Validation is `workers.maira2.images.prepare_image` (torch-free: Pillow, pydicom, numpy), the same
code the model's inputs go through. The stored PNG is rebuilt from the decoded pixel array, so no
DICOM header (PatientName and the rest), PNG text chunk or EXIF field is ever written; file names
are neither stored nor logged.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from pathlib import Path

from PIL import Image
from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.types import Message, Receive

from db.models import Upload
from db.ownership import can_see, owner_values
from db.settings import Settings
from workers.maira2.images import ImageError, ImageTooLarge, UnsupportedImageType, prepare_image

log = logging.getLogger(__name__)

MAX_IMAGES_PER_REQUEST = 3
BUDGET_WAIT_S = 20.0
"""How long an image waits for its share of the decode budget before the request gets 503."""
STORAGE_LOCK = 72_616_302
"""Advisory lock key serialising changes to the stored files (dedup, refcounts, the cap)."""
FIELDS_ALLOWANCE_BYTES = 1024 * 1024
"""Room in a multipart body for the text fields and part headers, besides the images."""


class RequestRejected(Exception):
    """A request, file or reference the server will not take, with its HTTP status; `message`
    is meant for the radiologist."""

    def __init__(
        self, status_code: int, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.headers = headers


class _BodyTooLarge(Exception):
    """Raised from inside the body stream once it passes the limit."""


FORM_SCOPE_KEY = "maira_sae.form"


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
    `body_limit` is refused with 413 as soon as it passes the limit, never read to its end.
    Read once per request: a second call (after the CSRF check read it) returns the same form."""
    cached = request.scope.get(FORM_SCOPE_KEY)
    if cached is not None:
        return cached
    limit = body_limit(settings)
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(settings)
    received = 0

    async def counting_receive() -> Message:
        nonlocal received
        message = await receive_or_stall(request.receive, settings.body_stall_timeout_s)
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise _BodyTooLarge
        return message

    limited = Request(request.scope, counting_receive)
    try:
        form = await limited.form(
            max_files=MAX_IMAGES_PER_REQUEST, max_fields=40, max_part_size=FIELDS_ALLOWANCE_BYTES
        )
    except _BodyTooLarge:
        raise _too_large(settings) from None
    for key, value in form.multi_items():
        if "\x00" in key or (isinstance(value, str) and "\x00" in value):
            await form.close()
            raise RequestRejected(
                400, "A form field contains a NUL character (a binary byte); please retype it."
            )
    request.scope[FORM_SCOPE_KEY] = form
    return form


async def receive_or_stall(receive: Receive, timeout_s: float) -> Message:
    """The next ASGI message, or RequestRejected(408) when the client sends nothing for
    `timeout_s` seconds (a stalled or deliberately slow upload must not hold the server)."""
    try:
        return await asyncio.wait_for(receive(), timeout_s)
    except TimeoutError:
        raise RequestRejected(
            408,
            f"The upload stopped: no data arrived for {timeout_s:g} seconds. Please check the "
            "connection and send the image again.",
            headers={"Connection": "close"},
        ) from None


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


class DecodeBudget:
    """Bytes of memory that image checks in this process may hold at once; each check reserves
    its header-estimated cost for the duration of its decode, waiting for others to finish."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.free = total
        self._changed = threading.Condition()

    @contextmanager
    def reserve(self, n_bytes: int) -> Iterator[None]:
        """Hold `n_bytes` of the budget (at most `total`), or raise RequestRejected(503)."""
        n_bytes = min(n_bytes, self.total)
        with self._changed:
            if not self._changed.wait_for(lambda: self.free >= n_bytes, BUDGET_WAIT_S):
                raise RequestRejected(
                    503,
                    "The server is busy checking other images; please send yours again in a "
                    "few seconds.",
                    headers={"Retry-After": "5"},
                )
            self.free -= n_bytes
        try:
            yield
        finally:
            with self._changed:
                self.free += n_bytes
                self._changed.notify_all()


@cache
def decode_budget(total: int) -> DecodeBudget:
    """The process-wide budget of `total` bytes."""
    return DecodeBudget(total)


def prepare_upload(data: bytes, filename: str, settings: Settings, what: str) -> PreparedImage:
    """Validate, decode and de-identify one image file within the process's decode budget; raise
    RequestRejected (413, 415, 422 or 503) with a message naming `what` (e.g. "Frontal image")."""
    try:
        image = prepare_image(
            data,
            filename,
            max_pixels=settings.upload_max_pixels,
            max_bytes=settings.upload_max_bytes,
            max_aspect_ratio=settings.upload_max_aspect_ratio,
            decode_budget_bytes=settings.upload_decode_budget_bytes,
            reserve=decode_budget(settings.upload_decode_budget_bytes).reserve,
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


def _lock_storage(session: Session) -> None:
    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": STORAGE_LOCK})


def stored_bytes(session: Session) -> int:
    """Bytes the stored files take (each shared file counted once)."""
    files = (
        select(Upload.path, func.max(Upload.n_bytes).label("n_bytes"))
        .group_by(Upload.path)
        .subquery()
    )
    return int(session.scalar(select(func.coalesce(func.sum(files.c.n_bytes), 0))) or 0)


def _shared_file(session: Session, settings: Settings, sha256: str) -> str | None:
    """The file of a stored upload with these pixels, if one is on disk."""
    paths = session.scalars(select(Upload.path).where(Upload.sha256 == sha256).distinct()).all()
    return next((path for path in paths if (settings.uploads_dir / path).is_file()), None)


def _check_quota(
    session: Session, settings: Settings, owner: dict[str, int | str | None], n_bytes: int
) -> None:
    """RequestRejected(507) when the owner's unexpired uploads plus this one pass
    `upload_quota_bytes` (uploads without an owner are bounded by the total storage only)."""
    if owner["owner_user_id"] is not None:
        mine = Upload.owner_user_id == owner["owner_user_id"]
    elif owner["owner_anon"] is not None:
        mine = Upload.owner_anon == owner["owner_anon"]
    else:
        return
    used = session.scalar(
        select(func.coalesce(func.sum(Upload.n_bytes), 0)).where(
            mine, Upload.expires_at > func.now()
        )
    )
    if used + n_bytes > settings.upload_quota_bytes:
        session.rollback()
        raise RequestRejected(
            507,
            f"Your uploads already use {_megabytes(used)} of your "
            f"{_megabytes(settings.upload_quota_bytes)} quota; delete some of them or wait "
            "until they expire, then try again.",
        )


def store_upload(session: Session, settings: Settings, prepared: PreparedImage) -> Upload:
    """A new upload row (expiring after `upload_retention_hours`) for the image. Identical pixels
    already stored are not written again: the new row shares their file. A new file beyond
    `upload_storage_max_bytes` is refused with 507. Purges expired uploads first. Commits."""
    purge_expired_uploads(session, settings)
    _lock_storage(session)
    owner = owner_values(session)
    _check_quota(session, settings, owner, len(prepared.png))
    upload_id = uuid.uuid4()
    file_name = _shared_file(session, settings, prepared.sha256)
    written = file_name is None
    if file_name is None:
        used = stored_bytes(session)
        if used + len(prepared.png) > settings.upload_storage_max_bytes:
            session.rollback()
            raise RequestRejected(
                507,
                "The server's storage for uploaded images is full "
                f"({_megabytes(used)} of {_megabytes(settings.upload_storage_max_bytes)}); "
                "please try again later, when older uploads have expired, or ask the "
                "administrator to raise MAIRA_SAE_UPLOAD_STORAGE_MAX_BYTES.",
            )
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
        **owner,
    )
    session.add(upload)
    try:
        session.commit()
    except BaseException:
        if written:
            (settings.uploads_dir / file_name).unlink(missing_ok=True)
        raise
    session.refresh(upload)
    log.info(
        "stored upload %s (%dx%d%s)",
        upload.id,
        upload.width,
        upload.height,
        "" if written else ", pixels already stored",
    )
    return upload


def get_upload(session: Session, upload_id: uuid.UUID | str) -> Upload | None:
    """The unexpired upload with this id, or None (a malformed id is None too, and so is another
    person's upload: see db.ownership)."""
    try:
        parsed = upload_id if isinstance(upload_id, uuid.UUID) else uuid.UUID(str(upload_id))
    except ValueError:
        return None
    upload = session.scalars(
        select(Upload).where(Upload.id == parsed, Upload.expires_at > func.now())
    ).one_or_none()
    return upload if upload is not None and can_see(session, upload) else None


def upload_file(settings: Settings, upload: Upload) -> Path:
    """Where the upload's PNG lies."""
    return settings.uploads_dir / upload.path


def _unlink_unreferenced(session: Session, settings: Settings, paths: list[str]) -> list[str]:
    """Of `paths`, those no upload row refers to any more (their files are to be deleted)."""
    if not paths:
        return []
    kept = set(session.scalars(select(Upload.path).where(Upload.path.in_(paths))).all())
    return [path for path in set(paths) if path not in kept]


def delete_upload(session: Session, settings: Settings, upload_id: uuid.UUID | str) -> bool:
    """Delete an upload's row, and its file unless another upload shares it; False when there
    was no such upload. Commits."""
    upload = get_upload(session, upload_id)
    if upload is None:
        return False
    _lock_storage(session)
    session.delete(upload)
    session.flush()
    orphans = _unlink_unreferenced(session, settings, [upload.path])
    session.commit()
    for path in orphans:
        (settings.uploads_dir / path).unlink(missing_ok=True)
    log.info("deleted upload %s", upload.id)
    return True


def purge_expired_uploads(session: Session, settings: Settings) -> int:
    """Delete the rows of uploads past their expiry, and the files no row refers to any more;
    returns how many rows. Commits."""
    _lock_storage(session)
    paths = list(
        session.scalars(
            delete(Upload).where(Upload.expires_at <= func.now()).returning(Upload.path)
        ).all()
    )
    orphans = _unlink_unreferenced(session, settings, paths)
    session.commit()
    for path in orphans:
        (settings.uploads_dir / path).unlink(missing_ok=True)
    if paths:
        log.info("purged %d expired uploads", len(paths))
    return len(paths)
