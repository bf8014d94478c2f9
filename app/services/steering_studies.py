"""Steering studies: split the studies into `steering_study_part` queue jobs (one per running
worker unless told), keep the study in `steering_studies`, and aggregate its parts' results when
read: per feature and alpha the share of reports with on-target changes only, off-target only,
both or none (Wilson 95% intervals), and the up/down correlation per alpha pair.

A part writes each study on its own (baseline and every feature x alpha in one batched
generate), so the results do not depend on how the studies were split; its time limit is the
worker's job limit once per study.
"""

from __future__ import annotations

import csv
import io
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.schemas.steering_studies import (
    CellOut,
    CorrelationOut,
    FeatureResults,
    PartOut,
    ShareOut,
    SteeringStudyOut,
    SteeringStudyRequest,
)
from app.services.alpha import AlphaScale
from app.services.jobs import current_labels
from app.services.live import check_features, find_target, study_params, submit_kind
from app.services.study_sets import study_set_studies
from app.services.uploads import RequestRejected, purge_expired_uploads
from db.jobs import parse_job_id
from db.models import Job, Sae, SteeringStudy
from db.ownership import can_see
from db.settings import Settings
from db.workers import count_live_workers
from workers.findings.phrases import OBSERVATIONS
from workers.findings.study_stats import Flags, Share, study_cells, up_down_correlations
from workers.findings.targets import OUTCOMES, label_observations
from workers.kinds.steering_study import (
    STEERING_STUDY_PART,
    FeatureTargets,
    StudyPartParams,
    StudyPartResult,
)

MAX_STUDIES_PER_PART = 25
T = TypeVar("T")


def split_evenly(items: list[T], parts: int) -> list[list[T]]:
    """`items` in `parts` contiguous slices whose sizes differ by at most one (none empty)."""
    parts = max(1, min(parts, len(items)))
    size, extra = divmod(len(items), parts)
    slices, start = [], 0
    for number in range(parts):
        end = start + size + (number < extra)
        slices.append(items[start:end])
        start = end
    return slices


def _targets(
    session: Session, sae: str, features: list[int], chosen: list[str] | None
) -> list[FeatureTargets]:
    labels = current_labels(session, sae, features)
    return [
        FeatureTargets(
            index=index,
            targets=[o for o in OBSERVATIONS if o in set(chosen)]
            if chosen is not None
            else label_observations(labels.get(index)),
        )
        for index in features
    ]


def submit_steering_study(
    session: Session, settings: Settings, request: SteeringStudyRequest
) -> SteeringStudy:
    """Queue the study's parts (identical parts share their job) and keep the study."""
    purge_expired_uploads(session, settings)
    target = find_target(session, request.sae)
    check_features(target, request.features)
    if len(set(request.alphas)) != len(request.alphas):
        raise RequestRejected(422, "Each alpha may be listed only once.")
    scale = AlphaScale(target.mean_token_norm, settings.steering_scale)
    alphas = [scale.to_raw(alpha, request.alpha_unit) for alpha in request.alphas]
    scale.check([[alpha] for alpha in alphas])
    if request.study_set is not None:
        refs = study_set_studies(session, settings, request.study_set)
    else:
        refs = request.studies or []
    studies = [study_params(session, study) for study in refs]
    workers = request.parts or max(1, count_live_workers(session))
    parts = max(workers, math.ceil(len(studies) / MAX_STUDIES_PER_PART))
    features = _targets(session, target.slug, request.features, request.targets)
    job_ids = [
        submit_kind(
            session,
            STEERING_STUDY_PART,
            StudyPartParams(
                model=target.model_slug,
                sae=target.slug,
                sae_weights_sha256=target.weights_sha256,
                studies=chunk,
                features=features,
                alphas=alphas,
                steering_scale=settings.steering_scale,
                max_new_tokens=request.max_new_tokens,
                seed=request.seed,
                greedy=request.greedy,
            ),
            timeout_s=settings.job_timeout_s * len(chunk),
        ).job.id
        for chunk in split_evenly(studies, parts)
    ]
    sae_id = session.scalar(select(Sae.id).where(Sae.slug == target.slug))
    study = SteeringStudy(
        sae_id=sae_id,
        features=list(request.features),
        params={
            "alphas": alphas,
            "alpha_unit": request.alpha_unit,
            "requested_alphas": list(request.alphas),
            "targets": [f.model_dump() for f in features],
            "mean_token_norm": target.mean_token_norm,
            "steering_scale": settings.steering_scale,
            "n_studies": len(studies),
            "study_set": request.study_set.name if request.study_set is not None else None,
            "max_new_tokens": request.max_new_tokens,
        },
        job_ids=job_ids,
    )
    session.add(study)
    session.commit()
    return study


@dataclass(frozen=True)
class StudyUrls:
    """Where the study and its parts are shown."""

    url: str
    csv_url: str
    part_url: Callable[[uuid.UUID], str]


def _share(share: Share) -> ShareOut:
    return ShareOut(count=share.count, share=share.share, low=share.low, high=share.high)


def _results(study: SteeringStudy, parts: list[Job]) -> list[FeatureResults]:
    flags: list[dict[tuple[int, float], Flags]] = []
    for part in parts:
        result = StudyPartResult.model_validate(part.result)
        flags += [
            {
                (run.feature, run.alpha): (bool(run.on_target), bool(run.off_target))
                for run in s.runs
            }
            for s in result.studies
        ]
    alphas = sorted(study.params["alphas"])
    scale = AlphaScale(study.params["mean_token_norm"], study.params["steering_scale"])
    cells = study_cells(flags, study.features, alphas)
    correlations = up_down_correlations(flags, study.features, alphas)
    targets = {t["index"]: t["targets"] for t in study.params["targets"]}
    return [
        FeatureResults(
            index=index,
            targets=targets[index],
            cells=[
                CellOut(
                    alpha=cell.alpha,
                    alpha_relative=scale.relative(cell.alpha),
                    n=cell.n,
                    **{name: _share(cell.shares[name]) for name in OUTCOMES},
                )
                for cell in cells
                if cell.feature == index
            ],
            correlations=[
                CorrelationOut(alpha=c.alpha, n=c.n, on_target=c.on_target, any_change=c.any_change)
                for c in correlations
                if c.feature == index
            ],
        )
        for index in study.features
    ]


def find_steering_study(
    session: Session, study_id: uuid.UUID | str, urls: Callable[[uuid.UUID], StudyUrls]
) -> SteeringStudyOut | None:
    """The study with its parts' progress and, once every part succeeded, its results; None
    when there is no such study or its parts are another person's (the parts are jobs owned by
    whoever started the study, see db.ownership)."""
    parsed = parse_job_id(study_id)
    study = None if parsed is None else session.get(SteeringStudy, parsed)
    if study is None:
        return None
    jobs = {job.id: job for job in session.scalars(select(Job).where(Job.id.in_(study.job_ids)))}
    if not all(can_see(session, job) for job in jobs.values()):
        return None
    sae = session.scalar(select(Sae.slug).where(Sae.id == study.sae_id))
    parts = [jobs[job_id] for job_id in study.job_ids if job_id in jobs]
    if len(parts) < len(study.job_ids) or any(p.status in ("failed", "cancelled") for p in parts):
        status = "failed"
    elif all(part.status == "succeeded" for part in parts):
        status = "succeeded"
    else:
        status = "running"
    links = urls(study.id)
    return SteeringStudyOut(
        id=study.id,
        sae=sae or "",
        features=study.features,
        alphas=study.params["alphas"],
        alpha_unit=study.params["alpha_unit"],
        mean_token_norm=study.params["mean_token_norm"],
        n_studies=study.params["n_studies"],
        study_set=study.params.get("study_set"),
        created_at=study.created_at,
        status=status,
        progress=sum(part.progress for part in parts) / max(len(study.job_ids), 1),
        parts=[
            PartOut(
                id=part.id,
                status=part.status,
                progress=part.progress,
                n_studies=len(part.params.get("studies", [])),
                error=part.error,
                url=links.part_url(part.id),
            )
            for part in parts
        ],
        results=_results(study, parts) if status == "succeeded" else None,
        url=links.url,
        csv_url=links.csv_url,
    )


def steering_studies_of_feature(session: Session, sae: str, index: int) -> list[SteeringStudy]:
    """The studies that steered this feature, newest first (at most 20)."""
    return list(
        session.scalars(
            select(SteeringStudy)
            .join(Sae, Sae.id == SteeringStudy.sae_id)
            .where(Sae.slug == sae, SteeringStudy.features.contains([index]))
            .order_by(SteeringStudy.created_at.desc())
            .limit(20)
        )
    )


CSV_COLUMNS = [
    "feature",
    "targets",
    "alpha",
    "alpha_relative",
    "n",
    *(f"{name}_{part}" for name in OUTCOMES for part in ("count", "share", "low", "high")),
    "up_down_r_on_target",
    "up_down_r_any_change",
]


def _correlation_cells(correlation: CorrelationOut | None) -> list[str]:
    if correlation is None:
        return ["", ""]
    values = (correlation.on_target, correlation.any_change)
    return ["" if value is None else f"{value:.4f}" for value in values]


def study_csv(study: SteeringStudyOut) -> str:
    """One row per feature and alpha: outcome counts, shares and 95% Wilson bounds, and for a
    positive alpha whose negative was run too, the up/down correlations."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for feature in study.results or []:
        correlations = {c.alpha: c for c in feature.correlations}
        for cell in feature.cells:
            correlation = correlations.get(cell.alpha)
            shares = [getattr(cell, name) for name in OUTCOMES]
            writer.writerow(
                [
                    feature.index,
                    ";".join(feature.targets),
                    f"{cell.alpha:g}",
                    "" if cell.alpha_relative is None else f"{cell.alpha_relative:.4g}",
                    cell.n,
                    *(
                        value
                        for share in shares
                        for value in (
                            share.count,
                            f"{share.share:.4f}",
                            f"{share.low:.4f}",
                            f"{share.high:.4f}",
                        )
                    ),
                    *_correlation_cells(correlation),
                ]
            )
    return buffer.getvalue()
