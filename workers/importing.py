"""`maira-sae import-sae PATH --name SLUG`: records a dictionary_learning checkpoint and features.

The SAE row gets the hook point, sizes, threshold, Matryoshka group sizes, input scale, weights
path and streamed sha256, and config.json; every feature gets its group and its 16 nearest
decoder-cosine neighbours. `--model` names the language model row: omitted means 'maira-2'
(weights for `--input-scale auto` from settings.model_path), 'tiny' means 'maira-2-tiny' (the
offline test model), an existing folder means 'maira-2' loaded from that folder, anything else is
taken as the slug. Re-importing the same weights under the same name is a no-op; different
weights need `--replace`.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

from db.importers import ImporterError
from db.importers.saes import SaeSpec, already_imported, write_sae
from db.importers.session import command_session
from sae import MatryoshkaSae, SaeCheckpointError, load_sae
from sae.groups import feature_groups
from sae.io import checkpoint_path
from sae.similarity import decoder_neighbours

logger = logging.getLogger(__name__)

NEIGHBOURS = 16
DEFAULT_MODEL_SLUG = "maira-2"
TINY_MODEL_SLUG = "maira-2-tiny"


@dataclass(frozen=True)
class ModelChoice:
    """The model row to attach the SAE to, and the weights `--input-scale auto` runs."""

    slug: str
    weights: str | None
    """A folder, 'tiny', or None for settings.model_path."""


def model_choice(model: str | None) -> ModelChoice:
    """Interpret `--model` (see the module docstring)."""
    if model is None:
        return ModelChoice(DEFAULT_MODEL_SLUG, None)
    if model == "tiny":
        return ModelChoice(TINY_MODEL_SLUG, "tiny")
    if Path(model).is_dir():
        return ModelChoice(DEFAULT_MODEL_SLUG, str(Path(model).resolve()))
    return ModelChoice(model, None)


def sha256_of(file: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    with file.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def import_checkpoint(args: argparse.Namespace) -> str:
    """Do the import described by the parsed arguments; return the line to print."""
    file = checkpoint_path(args.path)
    if not file.is_file():
        raise ImporterError(f"{file}: no such checkpoint file")
    digest = sha256_of(file)
    choice = model_choice(args.model)
    with command_session() as session:
        if already_imported(session, args.name, digest, replace=args.replace):
            return (
                f"SAE {args.name!r} is already imported from these weights "
                f"(sha256 {digest[:12]}); nothing to do"
            )
        sae = _load(args.path)
        input_scale = _input_scale(args.input_scale, sae, choice)
        groups = feature_groups(sae.group_sizes).numpy()
        neighbours = decoder_neighbours(sae.W_dec.detach(), n=min(NEIGHBOURS, sae.d_sae - 1))
        spec = SaeSpec(
            slug=args.name,
            layer=args.layer,
            d_in=sae.d_in,
            d_sae=sae.d_sae,
            k=sae.k,
            threshold=sae.threshold,
            group_sizes=sae.group_sizes,
            input_scale=input_scale,
            weights_path=str(file.resolve()),
            weights_sha256=digest,
            config=sae.config or {},
            model_slug=choice.slug,
            model_source=choice.weights,
        )
        write_sae(
            session,
            spec,
            groups,
            neighbours.indices.numpy(),
            neighbours.cosines.numpy(),
            replace=args.replace,
        )
        session.commit()
    return (
        f"imported SAE {args.name!r} from {file}: d_in {sae.d_in}, d_sae {sae.d_sae}, k {sae.k}, "
        f"threshold {sae.threshold:g}, groups {sae.group_sizes}, input scale {input_scale:g}, "
        f"model {choice.slug!r}, sha256 {digest[:12]}"
    )


def _load(path: Path) -> MatryoshkaSae:
    """load_sae, with any failure of the unpickler reported as a checkpoint error."""
    try:
        return load_sae(path)
    except SaeCheckpointError:
        raise
    except Exception as error:
        raise SaeCheckpointError(
            f"{checkpoint_path(path)}: not a readable SAE checkpoint ({type(error).__name__})"
        ) from error


def _input_scale(requested: str | float, sae: MatryoshkaSae, choice: ModelChoice) -> float:
    if requested != "auto":
        return float(requested)
    raise ImporterError("--input-scale auto is not available yet; pass a number (e.g. 22.34)")


def command(args: argparse.Namespace) -> int:
    """CLI target: import, print one line; exit 2 with a one-line error for unusable input."""
    try:
        message = import_checkpoint(args)
    except (ImporterError, SaeCheckpointError) as error:
        print(f"error: {error}", file=sys.stderr)  # noqa: T201
        return 2
    print(message)  # noqa: T201
    return 0
