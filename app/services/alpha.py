"""Steering strength in two units: raw residual-stream units, or fractions of the hooked layer's
mean token norm (`saes.mean_token_norm`, measured by precompute); the bound beyond which
generation degenerates, and the default suggested per SAE.

A step's shift has norm at most `sum_i |alpha_i| * steering_scale` (unit decoder rows); a step
whose bound exceeds `MAX_SHIFT_NORMS` × the mean token norm is rejected (422) in plain words.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.schemas.live import MAX_SHIFT_NORMS, SUGGESTED_NORM_ALPHA
from app.services.uploads import RequestRejected
from db.models import Sae


@dataclass(frozen=True)
class AlphaScale:
    """What converts and bounds alphas of one SAE under one deployment's steering scale."""

    mean_token_norm: float | None
    steering_scale: float

    def to_raw(self, alpha: float, unit: str) -> float:
        """`alpha` in raw units (the job's unit); RequestRejected when the norm is unknown."""
        if unit == "raw":
            return alpha
        if self.mean_token_norm is None:
            raise RequestRejected(
                422,
                "alpha_unit 'norm' needs the SAE's mean token norm, which is measured by "
                "precompute; this SAE has none yet. Give alpha in raw units or run precompute.",
            )
        return alpha * self.mean_token_norm / self.steering_scale

    def relative(self, raw_alpha: float) -> float | None:
        """A raw alpha as a fraction of the mean token norm (None when it is unknown)."""
        if self.mean_token_norm is None:
            return None
        return raw_alpha * self.steering_scale / self.mean_token_norm

    def suggested_raw(self) -> float | None:
        """The default suggested for this SAE (the paper's push, relative), in raw units."""
        if self.mean_token_norm is None:
            return None
        return round(SUGGESTED_NORM_ALPHA * self.mean_token_norm / self.steering_scale, 2)

    def check(self, rows: Sequence[Sequence[float]]) -> None:
        """RequestRejected(422) when a step's raw alphas push beyond the bound."""
        if self.mean_token_norm is None:
            return
        limit = MAX_SHIFT_NORMS * self.mean_token_norm
        for alphas in rows:
            push = sum(abs(alpha) for alpha in alphas) * self.steering_scale
            if push > limit:
                raise RequestRejected(
                    422,
                    f"alpha is too large: a push of {push:.3g} (raw units) is "
                    f"{push / self.mean_token_norm:.2f} × this layer's mean token norm "
                    f"({self.mean_token_norm:.3g}); beyond {MAX_SHIFT_NORMS:g} × the model "
                    "only repeats one token. Use at most "
                    f"{limit / self.steering_scale:.3g} raw (or {MAX_SHIFT_NORMS:g} with "
                    "alpha_unit 'norm'), summed over the features of a step.",
                )


def alpha_guides(session: Session, steering_scale: float) -> dict[str, dict[str, float | None]]:
    """Per SAE slug: its mean token norm and the suggested alpha, raw and relative."""
    rows = session.execute(select(Sae.slug, Sae.mean_token_norm)).all()
    guides: dict[str, dict[str, float | None]] = {}
    for slug, norm in rows:
        scale = AlphaScale(norm, steering_scale)
        guides[slug] = {
            "mean_token_norm": norm,
            "suggested_raw": scale.suggested_raw(),
            "suggested_norm": SUGGESTED_NORM_ALPHA if norm else None,
            "max_raw": MAX_SHIFT_NORMS * norm / steering_scale if norm else None,
        }
    return guides
