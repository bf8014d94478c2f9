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

from app.schemas.live import EncodeRequest, FeatureAlpha, SteerRequest, StudyRef
from app.services.alpha import AlphaScale
from app.services.jobs import current_labels
from app.services.uploads import RequestRejected, get_upload, purge_expired_uploads
from db.models import Job, LanguageModel, Sae
from db.ownership import owner_scope
from db.settings import Settings
from workers.findings.phrases import OBSERVATIONS
from workers.findings.targets import label_observations
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
    mean_token_norm: float | None = None


@dataclass(frozen=True)
class Submitted:
    """The job answering a request; `cached` when it existed before."""

    job: Job
    cached: bool


def find_target(session: Session, slug: str) -> SaeTarget:
    """The SAE named `slug`; RequestRejected(422) when there is none."""
    row = session.execute(
        select(
            Sae.slug,
            Sae.d_sae,
            Sae.weights_sha256,
            Sae.weights_path,
            LanguageModel.slug,
            Sae.mean_token_norm,
        )
        .join(LanguageModel, LanguageModel.id == Sae.model_id)
        .where(Sae.slug == slug)
    ).one_or_none()
    if row is None:
        raise RequestRejected(422, f"There is no SAE named {slug!r}.")
    if not row[3]:
        raise RequestRejected(422, f"SAE {slug!r} has no weights file recorded; re-import it.")
    return SaeTarget(
        slug=row[0],
        d_sae=row[1],
        weights_sha256=row[2],
        model_slug=row[4],
        mean_token_norm=row[5],
    )


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


def submit_kind(
    session: Session,
    kind: JobKind[Any, Any],
    params: JobParams,
    timeout_s: float | None = None,
) -> Submitted:
    """Queue a job of `kind` unless one of the same owner holds the key its params derive (each
    person's jobs stay their own, see db.ownership); commits. `timeout_s` overrides the worker's
    time limit for this job."""
    job, created = queue_job(
        session,
        kind.name,
        params.model_dump(mode="json"),
        cache_key=owner_scope(session) + kind.cache_key(params),
        timeout_s=timeout_s,
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


def check_features(target: SaeTarget, indices: list[int]) -> None:
    """RequestRejected(422) for a feature the SAE lacks or one listed twice."""
    too_large = [index for index in indices if index >= target.d_sae]
    if too_large:
        raise RequestRejected(
            422,
            f"SAE {target.slug!r} has {target.d_sae:,} features (0 to {target.d_sae - 1:,}); "
            f"there is no feature {too_large[0]:,}.",
        )
    if len(set(indices)) != len(indices):
        raise RequestRejected(422, "Each feature may be listed only once.")


def sweep_alphas(features: list[FeatureAlpha], scale: AlphaScale, unit: str) -> list[list[float]]:
    """Each feature's raw alphas, all of one length (a single value is repeated); checked
    against the degeneration bound step by step."""
    steps = max(len(feature.alphas()) for feature in features)
    rows = []
    for feature in features:
        alphas = feature.alphas()
        if len(alphas) not in (1, steps):
            raise RequestRejected(
                422,
                f"Feature {feature.index} gives {len(alphas)} alphas but another gives "
                f"{steps}; every feature of a sweep needs one alpha or the same number.",
            )
        rows.append([scale.to_raw(alpha, unit) for alpha in alphas * (steps // len(alphas))])
    scale.check([list(step) for step in zip(*rows, strict=True)])
    return rows


def default_targets(session: Session, sae_slug: str, indices: list[int]) -> list[str]:
    """The CheXpert observations the features' current labels name, in CheXpert order."""
    named: set[str] = set()
    for label in current_labels(session, sae_slug, indices).values():
        named.update(label_observations(label))
    return [observation for observation in OBSERVATIONS if observation in named]


def submit_steer(session: Session, settings: Settings, request: SteerRequest) -> Submitted:
    """Queue a steer job (or return the identical request's job); purges expired uploads."""
    purge_expired_uploads(session, settings)
    target = find_target(session, request.sae)
    features = sorted(request.features, key=lambda f: f.index)
    indices = [f.index for f in features]
    check_features(target, indices)
    scale = AlphaScale(target.mean_token_norm, settings.steering_scale)
    alphas = sweep_alphas(features, scale, request.alpha_unit)
    targets = (
        list(request.targets)
        if request.targets is not None
        else default_targets(session, target.slug, indices)
    )
    params = SteerParams(
        model=target.model_slug,
        sae=target.slug,
        sae_weights_sha256=target.weights_sha256,
        study=study_params(session, request),
        features=[
            SteeredFeature(index=index, alphas=values)
            for index, values in zip(indices, alphas, strict=True)
        ],
        steering_scale=settings.steering_scale,
        targets=[o for o in OBSERVATIONS if o in set(targets)],
        mean_token_norm=target.mean_token_norm,
        max_new_tokens=request.max_new_tokens,
        seed=request.seed,
        greedy=request.greedy,
    )
    return submit_kind(session, STEER, params)
