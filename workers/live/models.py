"""The worker's runner and SAEs for live jobs, with failures put in words a user can act on."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sae import MatryoshkaSae, SaeCheckpointError
from workers.live.studies import SaeRow
from workers.queue.context import JobContext, JobFailed

log = logging.getLogger(__name__)


def load_runner(ctx: JobContext) -> Any:
    """The worker's `Maira2Runner` (loaded once per process)."""
    try:
        return ctx.resources.runner()
    except Exception as error:
        log.exception("the model could not be loaded")
        raise JobFailed(
            "The MAIRA-2 model could not be loaded on the worker "
            f"({type(error).__name__}); ask the administrator to check the model files."
        ) from error


def load_sae(ctx: JobContext, row: SaeRow, d_model: int) -> MatryoshkaSae:
    """The SAE of `row` (cached per worker by weights path and input scale), checked against
    the model's width."""
    if not Path(row.weights_path).exists():
        raise JobFailed(
            f"The weights of SAE {row.slug!r} are missing on the worker; "
            "ask the administrator to re-import it."
        )
    try:
        sae = ctx.resources.sae(row.weights_path, row.input_scale)
    except SaeCheckpointError as error:
        raise JobFailed(f"The weights of SAE {row.slug!r} cannot be read: {error}") from error
    if sae.d_in != d_model:
        raise JobFailed(
            f"SAE {row.slug!r} reads vectors of size {sae.d_in}, but this worker's model has "
            f"{d_model} at its hooked layer; the worker runs a different model."
        )
    return sae
