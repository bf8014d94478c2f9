"""`maira-sae import-sae PATH --name SLUG`: records a dictionary_learning checkpoint and features.

The SAE row gets the hook point, sizes, threshold, Matryoshka group sizes, input scale, weights
path and streamed sha256, and config.json; every feature gets its group and its 16 nearest
decoder-cosine neighbours. `--model` names the language model row: omitted means 'maira-2'
(weights for `--input-scale auto` from settings.model_path), 'tiny' means 'maira-2-tiny' (the
offline test model), 'organism' means 'maira-2-organism' (the demo's trained model), an existing
folder means 'maira-2' loaded from that folder, anything else is taken as the slug.
Re-importing the same weights under the same name is a no-op; different weights need `--replace`.

`--input-scale auto` runs the model (text-only prompts, teacher-forced) over a few hundred report
tokens (`--reports CSV`, else deterministic synthetic demo reports), fits the SAE at 1, 22.34 (the
MAIRA-2 SAEs' normalisation factor) and the activations' rms norm / sqrt(d_in), and keeps the
scale whose L0 is nearest k among those with FVU < 1 (`sae.scale.choose_input_scale`).
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import random
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from db.importers import ImporterError
from db.importers.saes import SaeSpec, already_imported, write_sae
from db.importers.session import command_session
from sae import MatryoshkaSae, SaeCheckpointError, load_sae
from sae.groups import feature_groups
from sae.io import checkpoint_path
from sae.scale import choose_input_scale, compare_input_scales
from sae.similarity import decoder_neighbours
from workers.corpus import CorpusError, read_reports
from workers.corpus.synthetic import synthetic_report

logger = logging.getLogger(__name__)

NEIGHBOURS = 16
DEFAULT_MODEL_SLUG = "maira-2"
TINY_MODEL_SLUG = "maira-2-tiny"
ORGANISM_MODEL_SLUG = "maira-2-organism"
AUTO_SCALE_CANDIDATES = (1.0, 22.34)
AUTO_SCALE_TOKENS = 400
AUTO_SCALE_BATCH = 64


@dataclass(frozen=True)
class ModelChoice:
    """The model row to attach the SAE to, and the weights `--input-scale auto` runs."""

    slug: str
    weights: str | None
    """A folder, 'tiny', 'organism', or None for settings.model_path."""


def model_choice(model: str | None) -> ModelChoice:
    """Interpret `--model` (see the module docstring)."""
    if model is None:
        return ModelChoice(DEFAULT_MODEL_SLUG, None)
    if model == "tiny":
        return ModelChoice(TINY_MODEL_SLUG, "tiny")
    if model == "organism":
        return ModelChoice(ORGANISM_MODEL_SLUG, "organism")
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
        sae = load_sae(args.path)
        input_scale, scale_lines = _input_scale(
            args.input_scale, sae, choice, args.layer, args.reports
        )
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
    summary = (
        f"imported SAE {args.name!r} from {file}: d_in {sae.d_in}, d_sae {sae.d_sae}, "
        f"k {sae.k}, threshold {sae.threshold:g}, groups {sae.group_sizes}, "
        f"input scale {input_scale:g}, model {choice.slug!r}, sha256 {digest[:12]}"
    )
    return "\n".join([*scale_lines, summary])


def _input_scale(
    requested: str | float,
    sae: MatryoshkaSae,
    choice: ModelChoice,
    layer: int,
    reports: Path | None,
) -> tuple[float, list[str]]:
    """The input scale to record, and the lines that explain an automatic choice."""
    if requested != "auto":
        return float(requested), []
    activations = sample_activations(choice, layer, reports, sae.d_in)
    empirical = float(activations.pow(2).sum(dim=1).mean().div(sae.d_in).sqrt())
    fits = compare_input_scales(sae, activations, (*AUTO_SCALE_CANDIDATES, empirical))
    chosen = choose_input_scale(fits, sae.k)
    lines = [
        f"input scale {fit.scale:g}{' (rms norm / sqrt(d_in))' if fit.scale == empirical else ''}:"
        f" FVU {fit.fvu:.4f}, L0 {fit.l0:.1f} (k = {sae.k})"
        for fit in fits
    ]
    lines.append(f"chose input scale {chosen.scale:g} over {activations.shape[0]} report tokens")
    return chosen.scale, lines


def sample_activations(
    choice: ModelChoice, layer: int, reports: Path | None, d_in: int
) -> torch.Tensor:
    """(N >= AUTO_SCALE_TOKENS, d_model) layer activations over report tokens, text-only prompts."""
    from db.settings import get_settings
    from workers.maira2.runner import Maira2Runner, Study

    runner = Maira2Runner.load(choice.weights or get_settings().model_path, layer=layer)
    if runner.d_model != d_in:
        raise ImporterError(
            f"the model's hidden size is {runner.d_model} but the SAE's d_in is {d_in}; "
            "pass the matching --model"
        )
    studies, texts = [], []
    for indication, comparison, text in _report_texts(reports):
        studies.append(Study(frontal=None, indication=indication, comparison=comparison))
        texts.append(text)
        if len(texts) == AUTO_SCALE_BATCH:
            break
    collected: list[torch.Tensor] = []
    for start in range(0, len(texts), 8):
        captures = runner.capture(studies[start : start + 8], texts[start : start + 8])
        collected += [capture.report_activations for capture in captures]
        if sum(len(block) for block in collected) >= AUTO_SCALE_TOKENS:
            break
    return torch.cat(collected)


def _report_texts(reports: Path | None) -> Iterator[tuple[str | None, str | None, str]]:
    """(indication, comparison, findings) of the CSV's reports, or of synthetic demo reports."""
    if reports is not None:
        try:
            for report in read_reports(reports):
                yield report.indication, report.comparison, report.text
        except CorpusError as error:
            raise ImporterError(str(error)) from None
        return
    rng = random.Random(0)
    while True:
        report = synthetic_report(rng)
        yield report["indication"], report["comparison"], report["findings"]


def command(args: argparse.Namespace) -> int:
    """CLI target: import, print one line; exit 2 with a one-line error for unusable input."""
    try:
        message = import_checkpoint(args)
    except (ImporterError, SaeCheckpointError) as error:
        print(f"error: {error}", file=sys.stderr)  # noqa: T201
        return 2
    print(message)  # noqa: T201
    return 0
