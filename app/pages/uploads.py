"""A stored upload's image (the de-identified PNG), for the encode and steer pages."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from starlette.responses import FileResponse

from app.deps import SessionDep, SettingsDep
from app.services.uploads import get_upload, upload_file

router = APIRouter()


@router.get("/uploads/{upload_id}/image.png", name="upload_image")
def upload_image(upload_id: str, session: SessionDep, settings: SettingsDep) -> FileResponse:
    """The stored PNG; 404 for an unknown, malformed or expired id."""
    upload = get_upload(session, upload_id)
    path = None if upload is None else upload_file(settings, upload)
    if path is None or not path.is_file():
        raise HTTPException(status_code=404, detail=f"There is no stored image {upload_id!r}.")
    return FileResponse(
        path, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"}
    )
