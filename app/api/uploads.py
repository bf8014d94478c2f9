"""JSON API for uploads: store a de-identified image, read its record, delete it."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from app.api.accepted import as_http_errors
from app.deps import SessionDep, SettingsDep, rate_limited
from app.errors import RATE_LIMITED
from app.schemas.live import UploadOut
from app.services.uploads import (
    RequestRejected,
    delete_upload,
    form_file,
    get_upload,
    prepare_upload,
    read_form,
    read_upload,
    store_upload,
)
from db.models import Upload

router = APIRouter(prefix="/uploads", tags=["live"])

UploadId = Annotated[uuid.UUID, Path(description="Id of the upload.")]
NOT_FOUND = {404: {"description": "No such upload (it may have expired)."}}
IMAGE_FORM = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["image"],
                    "properties": {
                        "image": {
                            "type": "string",
                            "format": "binary",
                            "description": "A chest X-ray as PNG, JPEG or DICOM.",
                        }
                    },
                }
            }
        },
    }
}


def upload_out(request: Request, upload: Upload) -> UploadOut:
    return UploadOut(
        id=upload.id,
        sha256=upload.sha256,
        width=upload.width,
        height=upload.height,
        created_at=upload.created_at,
        expires_at=upload.expires_at,
        url=str(request.app.url_path_for("api_upload", upload_id=str(upload.id))),
    )


@router.post(
    "",
    name="api_upload_create",
    status_code=201,
    dependencies=[rate_limited("uploads")],
    responses={
        **RATE_LIMITED,
        413: {"description": "Too large (bytes or pixels)."},
        415: {"description": "Not a PNG, JPEG or DICOM image."},
        422: {"description": "Damaged, truncated or without pixel data."},
    },
    openapi_extra=IMAGE_FORM,
)
async def post_upload(request: Request, session: SessionDep, settings: SettingsDep) -> UploadOut:
    """Store one image for later encode or steer requests (multipart field `image`).

    The image is fully decoded and checked; only its pixels are kept, as a PNG (DICOM headers,
    PNG text and EXIF are discarded). It is deleted after `upload_retention_hours`.
    """
    async with as_http_errors():
        form = await read_form(request, settings)
        try:
            file = form_file(form, "image")
            if file is None:
                raise RequestRejected(422, "Image: please choose a chest X-ray file.")
            data = read_upload(file, settings, "Image")
            prepared = await run_in_threadpool(
                prepare_upload, data, file.filename or "", settings, "Image"
            )
        finally:
            await form.close()
        upload = await run_in_threadpool(store_upload, session, settings, prepared)
    return upload_out(request, upload)


@router.get("/{upload_id}", name="api_upload", responses=NOT_FOUND)
def get_upload_record(request: Request, upload_id: UploadId, session: SessionDep) -> UploadOut:
    """An upload's size, pixel hash and expiry."""
    upload = get_upload(session, upload_id)
    if upload is None:
        raise HTTPException(404, "There is no such upload; it may have expired or been deleted.")
    return upload_out(request, upload)


@router.delete("/{upload_id}", name="api_upload_delete", status_code=204, responses=NOT_FOUND)
def delete_upload_record(
    upload_id: UploadId, session: SessionDep, settings: SettingsDep
) -> Response:
    """Delete the image now (its file and record)."""
    if not delete_upload(session, settings, upload_id):
        raise HTTPException(404, "There is no such upload; it may have expired or been deleted.")
    return Response(status_code=204)
