"""Writes an imported SAE: its row, its model's row, and all d_sae feature rows by binary COPY.

Takes plain values and numpy arrays (no torch); `workers.importing` computes them from the
checkpoint.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from db.aggregates import refresh_sae_aggregates
from db.importers import ImporterError
from db.importers.binary_copy import Column, binary_copy, pack_rows
from db.models import LanguageModel, Sae

logger = logging.getLogger(__name__)

MODEL_NAMES = {
    "maira-2": "MAIRA-2",
    "maira-2-tiny": "MAIRA-2 architecture, tiny random weights (tests and demo)",
    "maira-2-organism": "MAIRA-2 architecture, tiny, trained on drawn studies (demo)",
    "maira-2-synthetic": "MAIRA-2 (synthetic data)",
}
COPY_BATCH_ROWS = 8192


def hookpoint(layer: int) -> str:
    """The module whose output the SAE reads: MAIRA-2's decoder layer `layer`."""
    return f"model.language_model.layers.{layer}"


@dataclass(frozen=True)
class SaeSpec:
    """Everything recorded about one SAE besides its features."""

    slug: str
    layer: int
    d_in: int
    d_sae: int
    k: int
    threshold: float
    group_sizes: list[int]
    input_scale: float = 1.0
    weights_path: str | None = None
    weights_sha256: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    model_slug: str = "maira-2"
    model_source: str | None = None
    description: str = ""


def ensure_model(session: Session, slug: str, source: str | None, d_model: int) -> int:
    """The id of the language model `slug`, created if missing (an existing row is kept as is)."""
    session.execute(
        insert(LanguageModel)
        .values(slug=slug, name=MODEL_NAMES.get(slug, slug), source=source, d_model=d_model)
        .on_conflict_do_nothing(index_elements=["slug"])
    )
    return session.scalars(select(LanguageModel.id).where(LanguageModel.slug == slug)).one()


def already_imported(session: Session, slug: str, sha256: str, replace: bool = False) -> bool:
    """True when SAE `slug` exists with exactly these weights (nothing to do).

    Raises ImporterError when `slug` holds different weights and `replace` is false.
    """
    row = session.execute(select(Sae.weights_sha256).where(Sae.slug == slug)).one_or_none()
    if row is None:
        return False
    if row.weights_sha256 == sha256:
        return True
    if replace:
        return False
    shown = row.weights_sha256[:12] if row.weights_sha256 else "none recorded"
    raise ImporterError(
        f"SAE {slug!r} already exists with different weights (sha256 {shown}, this file "
        f"{sha256[:12]}); choose another --name, or pass --replace to delete it with its "
        "features, examples and explanations and import this file"
    )


def add_sae_row(session: Session, spec: SaeSpec) -> Sae:
    """Insert the `saes` row described by `spec` (its model row created if missing), flushed."""
    sae = Sae(
        slug=spec.slug,
        model_id=ensure_model(session, spec.model_slug, spec.model_source, spec.d_in),
        description=spec.description,
        hookpoint=hookpoint(spec.layer),
        layer=spec.layer,
        d_in=spec.d_in,
        d_sae=spec.d_sae,
        k=spec.k,
        threshold=spec.threshold,
        group_sizes=list(spec.group_sizes),
        input_scale=spec.input_scale,
        weights_path=spec.weights_path,
        weights_sha256=spec.weights_sha256,
        config=spec.config,
    )
    session.add(sae)
    session.flush()
    return sae


def write_sae(
    session: Session,
    spec: SaeSpec,
    groups: np.ndarray,
    neighbour_indices: np.ndarray,
    neighbour_cosines: np.ndarray,
    replace: bool = False,
) -> int:
    """Insert the SAE and its d_sae feature rows; return the SAE's id. The caller commits.

    groups (d_sae,) Matryoshka group per feature; neighbour_indices / neighbour_cosines
    (d_sae, n) decoder-cosine neighbours, most similar first. With `replace`, an SAE of the same
    slug is deleted first (its features, examples and explanations go with it).
    """
    _check_shapes(spec, groups, neighbour_indices, neighbour_cosines)
    existing = session.scalar(select(Sae.id).where(Sae.slug == spec.slug))
    if existing is not None:
        if not replace:
            raise ImporterError(f"SAE {spec.slug!r} already exists")
        session.execute(delete(Sae).where(Sae.id == existing))
        logger.info("deleted the previous SAE %r", spec.slug)
    sae = add_sae_row(session, spec)
    columns = ("sae_id", "index", "group", "neighbour_indices", "neighbour_cosines")
    with binary_copy(session, "features", columns) as copy:
        for start in range(0, spec.d_sae, COPY_BATCH_ROWS):
            stop = min(start + COPY_BATCH_ROWS, spec.d_sae)
            batch = [
                Column("int4", np.full(stop - start, sae.id)),
                Column("int4", np.arange(start, stop)),
                Column("int4", groups[start:stop]),
                Column("int4[]", neighbour_indices[start:stop]),
                Column("float4[]", neighbour_cosines[start:stop]),
            ]
            copy.write(pack_rows(batch, stop - start))
    refresh_sae_aggregates(session, sae.id)
    logger.info("wrote SAE %r with %d features", spec.slug, spec.d_sae)
    return sae.id


def _check_shapes(
    spec: SaeSpec, groups: np.ndarray, indices: np.ndarray, cosines: np.ndarray
) -> None:
    if sum(spec.group_sizes) != spec.d_sae:
        raise ImporterError(f"group sizes {spec.group_sizes} do not sum to d_sae={spec.d_sae}")
    if groups.shape != (spec.d_sae,):
        raise ImporterError(f"groups has shape {groups.shape}, expected ({spec.d_sae},)")
    if indices.ndim != 2 or indices.shape[0] != spec.d_sae or cosines.shape != indices.shape:
        raise ImporterError(
            f"neighbours have shapes {indices.shape} and {cosines.shape}, expected (d_sae, n)"
        )
