"""What the API says about SAEs: references, list entries and summary statistics."""

from __future__ import annotations

from pydantic import BaseModel, Field

from db.aggregates import DENSITY_BINS_PER_DECADE


class SaeRef(BaseModel):
    """The identity and shape of one SAE."""

    id: int = Field(exclude=True)
    slug: str
    model: str = Field(description="Slug of the language model the SAE reads.")
    description: str
    architecture: str
    hookpoint: str
    layer: int
    d_in: int
    d_sae: int = Field(description="Number of features (latents).")
    k: int
    threshold: float
    group_sizes: list[int]
    input_scale: float


class SaeListItem(SaeRef):
    """An SAE with its headline counts."""

    n_features: int = Field(description="Feature rows stored for this SAE.")
    n_explained: int = Field(description="Features with a label.")


class SaeList(BaseModel):
    data: list[SaeListItem]
    count: int


class F1Bin(BaseModel):
    """One bar of the F1 histogram: features whose primary label's F1 lies in [f1_min, f1_max)."""

    f1_min: float
    f1_max: float
    count: int


class FrequencyF1Cell(BaseModel):
    """One cell of the frequency-vs-F1 density grid (log10 frequency on x, F1 on y)."""

    log10_frequency_min: float
    log10_frequency_max: float
    f1_min: float
    f1_max: float
    count: int


class DensityBin(BaseModel):
    """One bar of the activation-density histogram: live features whose log10 frequency lies in
    [log10_frequency_min, log10_frequency_max)."""

    log10_frequency_min: float
    log10_frequency_max: float
    count: int


class SaeSummary(BaseModel):
    """Summary statistics of an SAE, as in Bouzid et al. 2025 (F1 distribution, frequency vs F1)."""

    sae: SaeRef
    n_features: int
    n_dead: int = Field(description="Features never active: frequency 0 or no active tokens.")
    n_live: int = Field(description="Features active at least once (frequency above 0).")
    n_with_statistics: int = Field(description="Features whose frequency was measured.")
    n_explained: int = Field(description="Features with a label.")
    n_scored: int = Field(description="Labelled features with a detection F1.")
    n_f1_above_075: int | None = Field(
        description="Features with F1 > 0.75; null when no label is scored."
    )
    n_f1_below_05: int | None = Field(
        description="Features with F1 < 0.5; null when no label is scored."
    )
    mean_f1: float | None
    median_frequency: float | None
    f1_histogram: list[F1Bin]
    frequency_f1: list[FrequencyF1Cell] = Field(
        description="Non-empty cells of a grid over log10 frequency and F1 (scored, live features)."
    )
    spearman_rho: float | None = Field(
        description="Spearman's rank correlation between frequency (equivalently log frequency) "
        "and F1 over scored live features; null with fewer than 3 of them."
    )
    n_rho: int = Field(description="Features the correlation is computed on.")
    density_histogram: list[DensityBin] = Field(
        description="Activation density: live features by log10 frequency, "
        f"{DENSITY_BINS_PER_DECADE} bins per decade (dead features are counted in n_dead)."
    )
