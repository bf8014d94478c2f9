"""Creating review campaigns: which features, which labels, the overlap subset and decoys."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.orm import Session

from app.schemas.features import FeatureQuery
from app.schemas.review import (
    CampaignSpec,
    CampaignSummary,
    ExplicitSelection,
    FilterSelection,
    StratifiedSelection,
)
from app.services.feature_list import filter_clauses
from app.services.review.outcomes import refresh_outcomes
from db.labels import PRIMARY_SCORE_KIND, PRIMARY_SCORE_SPLIT
from db.models import Campaign, CampaignItem, Sae

NEAR_DUPLICATE_JACCARD = 0.5
"""A decoy label sharing at least this share of words with the true label is not used."""
_DECOY_TRIES = 50


class CampaignNotFound(LookupError):
    """No campaign with this id."""


class InvalidCampaign(ValueError):
    """A spec that cannot be satisfied (unknown features, labels missing, sizes too large)."""


@dataclass(frozen=True)
class Labels:
    """The reviewable features of an SAE: one label each from the source under review."""

    index: np.ndarray
    explanation_id: np.ndarray
    text: list[str]
    f1: np.ndarray
    """Held-out detection F1 of the label (NaN when unscored)."""
    frequency: np.ndarray
    """Feature frequency (NaN when unknown)."""


_LABELS = """
    SELECT DISTINCT ON (f.index) f.index, e.id, e.text, s.f1, f.frequency
    FROM features AS f
    JOIN explanations AS e ON e.feature_id = f.id {source}
    LEFT JOIN scores AS s ON s.explanation_id = e.id AND s.kind = :kind AND s.split = :split
    WHERE f.sae_id = :sae_id
    ORDER BY f.index, s.f1 DESC NULLS LAST, e.created_at DESC, e.id DESC
"""


def load_labels(session: Session, sae_id: int, label_source: str | None) -> Labels:
    """Each feature's label from `label_source` (a source_key), or its primary label."""
    source = "AND e.source_key = :source_key" if label_source is not None else ""
    rows = session.execute(
        text(_LABELS.format(source=source)),
        {
            "sae_id": sae_id,
            "source_key": label_source,
            "kind": PRIMARY_SCORE_KIND,
            "split": PRIMARY_SCORE_SPLIT,
        },
    ).all()
    return Labels(
        index=np.array([r[0] for r in rows], dtype=np.int64),
        explanation_id=np.array([r[1] for r in rows], dtype=np.int64),
        text=[r[2] for r in rows],
        f1=np.array([np.nan if r[3] is None else r[3] for r in rows], dtype=float),
        frequency=np.array([np.nan if r[4] is None else r[4] for r in rows], dtype=float),
    )


def _bins(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin number of each value (NaN gets its own bin, -1)."""
    bins = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, max(edges.size - 2, 0))
    return np.where(np.isnan(values), -1, bins)


def stratified_sample(
    labels: Labels, selection: StratifiedSelection, rng: np.random.Generator
) -> np.ndarray:
    """Positions into `labels` of a proportional stratified sample (F1 bins x frequency bins)."""
    n = labels.index.size
    size = min(selection.size, n)
    known = labels.frequency[~np.isnan(labels.frequency)]
    quantiles = np.linspace(0, 1, selection.frequency_bins + 1)
    frequency_edges = np.quantile(known, quantiles) if known.size else np.array([0.0, 1.0])
    f1_bin = _bins(labels.f1, np.asarray(selection.f1_edges))
    frequency_bin = _bins(labels.frequency, frequency_edges)
    strata, members = np.unique(
        np.stack([f1_bin, frequency_bin], axis=1), axis=0, return_inverse=True
    )
    members = members.ravel()
    counts = np.bincount(members, minlength=len(strata))
    quota = counts * size / n
    take = np.floor(quota).astype(int)
    leftover = size - take.sum()
    shuffled = rng.permutation(len(strata))  # ties between remainders go to random strata
    take[shuffled[np.argsort(-(quota - take)[shuffled], kind="stable")[:leftover]]] += 1
    chosen = [
        rng.choice(np.flatnonzero(members == s), take[s], replace=False)
        for s in range(len(strata))
        if take[s]
    ]
    return np.sort(np.concatenate(chosen)) if chosen else np.array([], dtype=np.int64)


def _filtered(session: Session, sae_id: int, selection: FilterSelection) -> np.ndarray:
    query = FeatureQuery.model_validate(selection.model_dump(exclude={"kind", "limit"}))
    where = " AND ".join(filter_clauses(query))
    params: dict[str, Any] = {**query.model_dump(), "sae_id": sae_id, "limit": selection.limit}
    sql = f"SELECT index FROM features WHERE {where} ORDER BY index LIMIT :limit"
    return np.array(session.scalars(text(sql), params).all(), dtype=np.int64)


def select_features(
    session: Session, sae_id: int, spec: CampaignSpec, labels: Labels, rng: np.random.Generator
) -> np.ndarray:
    """Positions into `labels` of the features the spec selects."""
    selection = spec.selection
    if isinstance(selection, StratifiedSelection):
        return stratified_sample(labels, selection, rng)
    if isinstance(selection, ExplicitSelection):
        wanted = np.unique(np.asarray(selection.indices, dtype=np.int64))
        found = np.isin(wanted, labels.index)
        if not found.all():
            missing = ", ".join(str(i) for i in wanted[~found][:10])
            raise InvalidCampaign(f"These features have no label to review: {missing}.")
        return np.searchsorted(labels.index, wanted)
    wanted = _filtered(session, sae_id, selection)
    return np.flatnonzero(np.isin(labels.index, wanted))


def _words(label: str) -> set[str]:
    return set(re.findall(r"\w+", label.lower()))


def near_duplicate(a: str, b: str) -> bool:
    """True when two labels share at least NEAR_DUPLICATE_JACCARD of their words."""
    words_a, words_b = _words(a), _words(b)
    union = words_a | words_b
    return not union or len(words_a & words_b) / len(union) >= NEAR_DUPLICATE_JACCARD


def choose_decoys(
    labels: Labels, selected: np.ndarray, n_decoys: int, rng: np.random.Generator
) -> list[tuple[int, int]]:
    """(shown feature, label donor) position pairs: features outside the selection, each shown
    with the label of another feature that is not a near-duplicate of its own."""
    outside = np.setdiff1d(np.arange(labels.index.size), selected)
    pairs: list[tuple[int, int]] = []
    for shown in rng.permutation(outside):
        if len(pairs) == n_decoys:
            break
        for donor in rng.integers(0, labels.index.size, _DECOY_TRIES):
            if donor != shown and not near_duplicate(labels.text[shown], labels.text[donor]):
                pairs.append((int(shown), int(donor)))
                break
    return pairs


def create_campaign(
    session: Session, *, sae_id: int, spec: CampaignSpec, created_by: int | None
) -> CampaignSummary:
    """Store a campaign and its items; InvalidCampaign when the spec cannot be met."""
    labels = load_labels(session, sae_id, spec.label_source)
    if labels.index.size == 0:
        raise InvalidCampaign("This SAE has no labels from that source.")
    rng = np.random.default_rng(spec.seed)
    selected = select_features(session, sae_id, spec, labels, rng)
    if selected.size == 0:
        raise InvalidCampaign("The selection matches no labelled feature.")
    if spec.overlap_size > selected.size:
        raise InvalidCampaign(
            f"The overlap subset ({spec.overlap_size}) is larger than the selection "
            f"({selected.size})."
        )
    overlap = set(rng.choice(selected, spec.overlap_size, replace=False).tolist())
    n_decoys = round(spec.decoy_share / (1 - spec.decoy_share) * selected.size)
    decoys = choose_decoys(labels, selected, n_decoys, rng)
    campaign = Campaign(
        name=spec.name,
        sae_id=sae_id,
        selection=spec.selection.model_dump(),
        label_source=spec.label_source,
        reviewers_per_feature=spec.reviewers_per_feature,
        overlap_size=spec.overlap_size,
        blinded=spec.blinded,
        decoy_share=spec.decoy_share,
        seed=spec.seed,
        n_items=selected.size + len(decoys),
        created_by=created_by,
    )
    session.add(campaign)
    session.flush()
    rows = [
        {
            "campaign_id": campaign.id,
            "position": position,
            "feature_index": int(labels.index[p]),
            "explanation_id": int(labels.explanation_id[p]),
            "is_overlap": int(p) in overlap,
        }
        for position, p in enumerate(selected.tolist())
    ]
    rows += [
        {
            "campaign_id": campaign.id,
            "position": selected.size + n,
            "feature_index": int(labels.index[shown]),
            "explanation_id": int(labels.explanation_id[donor]),
            "is_decoy": True,
            "decoy_source_index": int(labels.index[donor]),
        }
        for n, (shown, donor) in enumerate(decoys)
    ]
    session.execute(insert(CampaignItem), rows)
    return get_campaign(session, campaign.id)


_SUMMARY = select(
    Campaign,
    Sae.slug,
    select(func.count())
    .select_from(CampaignItem)
    .where(CampaignItem.campaign_id == Campaign.id, CampaignItem.is_decoy)
    .scalar_subquery(),
).join(Sae, Sae.id == Campaign.sae_id)


def _summary(campaign: Campaign, slug: str, n_decoys: int) -> CampaignSummary:
    fields = {c.key: getattr(campaign, c.key) for c in Campaign.__table__.columns}
    return CampaignSummary.model_validate({**fields, "sae": slug, "n_decoys": n_decoys})


def get_campaign(session: Session, campaign_id: int) -> CampaignSummary:
    """One campaign; CampaignNotFound when there is none."""
    row = session.execute(_SUMMARY.where(Campaign.id == campaign_id)).first()
    if row is None:
        raise CampaignNotFound(f"There is no campaign {campaign_id}.")
    return _summary(*row)


def list_campaigns(session: Session, *, sae_id: int | None = None) -> list[CampaignSummary]:
    """All campaigns (of one SAE when given), newest first."""
    query = _SUMMARY.order_by(Campaign.id.desc())
    if sae_id is not None:
        query = query.where(Campaign.sae_id == sae_id)
    return [_summary(*row) for row in session.execute(query)]


def set_status(session: Session, campaign_id: int, status: str) -> CampaignSummary:
    """Open or close a campaign (a closed one serves no items and takes no ratings). A change
    brings its outcomes in step: closing makes a blinded campaign's ratings and verdicts count
    outside it, reopening one withdraws them again. Waits for ratings being stored."""
    if status not in ("open", "closed"):
        raise InvalidCampaign("A campaign is either 'open' or 'closed'.")
    changed = session.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id, Campaign.status != status)
        .values(status=status)
        .returning(Campaign.id)
    ).first()
    campaign = get_campaign(session, campaign_id)
    if changed is not None:
        refresh_outcomes(session, campaign_id)
    return campaign
