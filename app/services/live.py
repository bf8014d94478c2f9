"""Submitting encode and steer jobs: resolve the SAE and uploads into the kind's typed params,
then queue them under the cache key the kind derives from those params.

Params hold what decides a result: the pixels' sha256 of each image (upload ids ride along but
are not keyed), the prompt fields, the model and SAE (slug and weights hash), the features with
their alphas (sorted) and the generation parameters. An identical request returns the job that
already holds the key (queued, running or succeeded). A steer job reuses the unsteered report of
any earlier encode or steer job with the same `baseline_key` (see workers.kinds.study).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.schemas.live import EncodeRequest, SteerRequest, StudyRef
from app.services.uploads import RequestRejected, get_upload, purge_expired_uploads
from db.models import Job, LanguageModel, Sae
from db.ownership import owner_scope
from db.settings import Settings
from workers.kinds.contract import JobKind, JobParams
from workers.kinds.encode import ENCODE, EncodeParams
from workers.kinds.steer import STEER, SteeredFeature, SteerParams
from workers.kinds.study import TEXT_FIELDS, StudyParams, UploadRef
from workers.queue.submit import queue_job

IMAGE_ROLES = {
    "frontal": "Frontal image",
    "lateral": "Lateral image",
    "prior_frontal": "Prior frontal image",
}


@dataclass(frozen=True)
class SaeTarget:
    """What a job needs to know about its SAE and model to key and run it."""

    slug: str
    d_sae: int
    weights_sha256: str | None
    model_slug: str


@dataclass(frozen=True)
class Submitted:
    """The job answering a request; `cached` when it existed before."""

    job: Job
    cached: bool


def find_target(session: Session, slug: str) -> SaeTarget:
    """The SAE named `slug`; RequestRejected(422) when there is none."""
    row = session.execute(
        select(Sae.slug, Sae.d_sae, Sae.weights_sha256, Sae.weights_path, LanguageModel.slug)
        .join(LanguageModel, LanguageModel.id == Sae.model_id)
        .where(Sae.slug == slug)
    ).one_or_none()
    if row is None:
        raise RequestRejected(422, f"There is no SAE named {slug!r}.")
    if not row[3]:
        raise RequestRejected(422, f"SAE {slug!r} has no weights file recorded; re-import it.")
    return SaeTarget(slug=row[0], d_sae=row[1], weights_sha256=row[2], model_slug=row[4])


def study_params(session: Session, study: StudyRef) -> StudyParams:
    """The study as job parameters: each image's upload id and pixel hash, and the text fields
    (None when empty); RequestRejected(422) for an upload that expired or was deleted."""
    images: dict[str, UploadRef] = {}
    for role, what in IMAGE_ROLES.items():
        upload_id = getattr(study, role)
        if upload_id is None:
            continue
        upload = get_upload(session, upload_id)
        if upload is None:
            raise RequestRejected(
                422, f"{what}: the upload has expired or was deleted; please upload it again."
            )
        images[role] = UploadRef(id=upload.id, sha256=upload.sha256)
    texts = {name: getattr(study, name) or None for name in TEXT_FIELDS}
    return StudyParams(**images, **texts)


def submit_kind(session: Session, kind: JobKind[Any, Any], params: JobParams) -> Submitted:
    """Queue a job of `kind` unless one of the same owner holds the key its params derive (each
    person's jobs stay their own, see db.ownership); commits."""
    job, created = queue_job(
        session,
        kind.name,
        params.model_dump(mode="json"),
        cache_key=owner_scope(session) + kind.cache_key(params),
    )
    return Submitted(job, cached=not created)


def submit_encode(session: Session, settings: Settings, request: EncodeRequest) -> Submitted:
    """Queue an encode job (or return the identical request's job); purges expired uploads."""
    purge_expired_uploads(session, settings)
    target = find_target(session, request.sae)
    params = EncodeParams(
        model=target.model_slug,
        sae=target.slug,
        sae_weights_sha256=target.weights_sha256,
        study=study_params(session, request),
        max_new_tokens=request.max_new_tokens,
        top_features=request.top_features,
    )
    return submit_kind(session, ENCODE, params)


def submit_steer(session: Session, settings: Settings, request: SteerRequest) -> Submitted:
    """Queue a steer job (or return the identical request's job); purges expired uploads."""
    purge_expired_uploads(session, settings)
    target = find_target(session, request.sae)
    too_large = [f.index for f in request.features if f.index >= target.d_sae]
    if too_large:
        raise RequestRejected(
            422,
            f"SAE {target.slug!r} has {target.d_sae:,} features (0 to {target.d_sae - 1:,}); "
            f"there is no feature {too_large[0]:,}.",
        )
    indices = [f.index for f in request.features]
    if len(set(indices)) != len(indices):
        raise RequestRejected(422, "Each feature may be listed only once.")
    params = SteerParams(
        model=target.model_slug,
        sae=target.slug,
        sae_weights_sha256=target.weights_sha256,
        study=study_params(session, request),
        features=[
            SteeredFeature(index=f.index, alpha=f.alpha)
            for f in sorted(request.features, key=lambda f: f.index)
        ],
        steering_scale=settings.steering_scale,
        max_new_tokens=request.max_new_tokens,
        seed=request.seed,
        greedy=request.greedy,
    )
    return submit_kind(session, STEER, params)
