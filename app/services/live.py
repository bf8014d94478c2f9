"""Submitting encode and steer jobs: resolve the SAE and uploads, build cache keys, queue.

Cache keys hash what decides a result, never upload ids: the pixels' sha256 of each image, the
prompt fields, the model and SAE (slug and weights hash), the features with their alphas (sorted)
and the generation parameters. An identical request returns the job that already holds the key
(queued, running or succeeded). `baseline_key` leaves out the SAE and features: a steer job
reuses the unsteered report of any earlier encode or steer job with the same key.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.schemas.live import EncodeRequest, SteerRequest, StudyRef
from app.services.uploads import RequestRejected, get_upload, purge_expired_uploads
from db.models import Job, LanguageModel, Sae, Upload
from db.settings import Settings
from workers.queue.submit import submit_job

KEY_VERSION = 1
IMAGE_ROLES = {
    "frontal": "Frontal image",
    "lateral": "Lateral image",
    "prior_frontal": "Prior frontal image",
}
TEXT_FIELDS = ("indication", "technique", "comparison", "prior_report")


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


def digest(payload: dict[str, Any]) -> str:
    """Hex sha256 of canonical JSON."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


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


def study_uploads(session: Session, study: StudyRef) -> dict[str, Upload]:
    """The stored upload of each image role the study names; RequestRejected(422) for one that
    expired or was deleted."""
    uploads = {}
    for role, what in IMAGE_ROLES.items():
        upload_id = getattr(study, role)
        if upload_id is None:
            continue
        upload = get_upload(session, upload_id)
        if upload is None:
            raise RequestRejected(
                422, f"{what}: the upload has expired or was deleted; please upload it again."
            )
        uploads[role] = upload
    return uploads


def study_params(study: StudyRef) -> dict[str, Any]:
    """The study as job parameters: upload ids and the text fields (None when empty)."""
    params: dict[str, Any] = {}
    for role in IMAGE_ROLES:
        value = getattr(study, role)
        params[role] = None if value is None else str(value)
    for name in TEXT_FIELDS:
        params[name] = getattr(study, name) or None
    return params


def study_key(study: StudyRef, uploads: dict[str, Upload]) -> dict[str, Any]:
    """The study as it matters to the model: image hashes and text fields."""
    key: dict[str, Any] = {
        role: uploads[role].sha256 if role in uploads else None for role in IMAGE_ROLES
    }
    for name in TEXT_FIELDS:
        key[name] = getattr(study, name) or None
    return key


def baseline_key(
    model_slug: str, study: dict[str, Any], max_new_tokens: int, seed: int, greedy: bool
) -> str:
    """Keys the unsteered report: model, study and generation parameters."""
    return digest(
        {
            "v": KEY_VERSION,
            "model": model_slug,
            "study": study,
            "max_new_tokens": max_new_tokens,
            "seed": seed,
            "greedy": greedy,
        }
    )


def _submit(session: Session, kind: str, params: dict[str, Any], cache_key: str) -> Submitted:
    """Queue the job unless one holds `cache_key` already; the fresh `request_id` in `params`
    tells the new job from an earlier one handed back."""
    job = submit_job(session, kind, params, cache_key=cache_key)
    return Submitted(job, cached=job.params.get("request_id") != params["request_id"])


def submit_encode(session: Session, settings: Settings, request: EncodeRequest) -> Submitted:
    """Queue an encode job (or return the identical request's job); purges expired uploads."""
    purge_expired_uploads(session, settings)
    target = find_target(session, request.sae)
    uploads = study_uploads(session, request)
    key = study_key(request, uploads)
    params = {
        "request_id": uuid.uuid4().hex,
        "study": study_params(request),
        "sae": target.slug,
        "max_new_tokens": request.max_new_tokens,
        "top_features": request.top_features,
        "baseline_key": baseline_key(target.model_slug, key, request.max_new_tokens, 0, True),
    }
    cache_key = digest(
        {
            "v": KEY_VERSION,
            "kind": "encode",
            "sae": [target.slug, target.weights_sha256],
            "model": target.model_slug,
            "study": key,
            "max_new_tokens": request.max_new_tokens,
            "top_features": request.top_features,
        }
    )
    return _submit(session, "encode", params, cache_key)


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
    uploads = study_uploads(session, request)
    key = study_key(request, uploads)
    features = sorted(([f.index, f.alpha] for f in request.features), key=lambda pair: pair[0])
    generation = {
        "max_new_tokens": request.max_new_tokens,
        "seed": request.seed,
        "greedy": request.greedy,
    }
    params = {
        "request_id": uuid.uuid4().hex,
        "study": study_params(request),
        "sae": target.slug,
        "features": [{"index": index, "alpha": alpha} for index, alpha in features],
        "steering_scale": settings.steering_scale,
        **generation,
        "baseline_key": baseline_key(target.model_slug, key, **generation),
    }
    cache_key = digest(
        {
            "v": KEY_VERSION,
            "kind": "steer",
            "sae": [target.slug, target.weights_sha256],
            "model": target.model_slug,
            "study": key,
            "features": features,
            "steering_scale": settings.steering_scale,
            **generation,
        }
    )
    return _submit(session, "steer", params, cache_key)
