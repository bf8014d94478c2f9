"""Rebuild a job's study from its parameters: stored uploads (pixels-only PNGs) and text fields."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import Sae, Upload
from db.settings import Settings
from workers.kinds.study import TEXT_FIELDS, StudyParams
from workers.maira2.prompt import Study
from workers.queue.context import JobFailed

IMAGE_ROLES = {
    "frontal": "frontal image",
    "lateral": "lateral image",
    "prior_frontal": "prior frontal image",
}


def _open_upload(
    session: Session, settings: Settings, upload_id: uuid.UUID, what: str
) -> Image.Image:
    upload = session.scalars(
        select(Upload).where(Upload.id == upload_id, Upload.expires_at > func.now())
    ).one_or_none()
    path = None if upload is None else settings.uploads_dir / upload.path
    if path is None or not path.is_file():
        raise JobFailed(
            f"The uploaded {what} has expired or was deleted before the job ran; "
            "please upload it again."
        )
    with Image.open(path) as image:
        return image.convert("L")


def load_study(session: Session, settings: Settings, params: StudyParams) -> Study:
    """The `Study` a job's `study` parameters describe; JobFailed when an upload is gone."""
    uploads = params.uploads()
    images = {
        role: _open_upload(session, settings, uploads[role].id, what) if role in uploads else None
        for role, what in IMAGE_ROLES.items()
    }
    return Study(**images, **{name: getattr(params, name) or None for name in TEXT_FIELDS})


@dataclass(frozen=True)
class SaeRow:
    """What a worker needs of an SAE's row."""

    id: int
    slug: str
    d_in: int
    d_sae: int
    weights_path: str
    input_scale: float


def load_sae_row(session: Session, slug: str) -> SaeRow:
    """The SAE named `slug`; JobFailed when it was deleted or has no weights."""
    sae = session.scalars(select(Sae).where(Sae.slug == slug)).one_or_none()
    if sae is None:
        raise JobFailed(f"The SAE {slug!r} no longer exists.")
    if not sae.weights_path:
        raise JobFailed(f"The SAE {slug!r} has no weights file recorded.")
    return SaeRow(sae.id, sae.slug, sae.d_in, sae.d_sae, sae.weights_path, sae.input_scale)
