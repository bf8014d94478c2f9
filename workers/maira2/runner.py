"""`Maira2Runner`: load MAIRA-2 once, then generate reports, capture layer activations and steer.

Layer convention: `layer=15, point="output"` hooks the output of
`model.model.language_model.layers[15]` (= `hidden_states[16]`); see `capture.py`. Steering units:
`delta = sum_i alpha_i * steering_scale * unit(direction_i)`, raw residual units; see `steering.py`.

All model calls share one lock: forward hooks are global to the model, so a capture running next
to a steered generation would otherwise see (or add) the other's hook; tokenisation runs inside the
lock too (a fast tokenizer is not safe to call from several threads at once).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoTokenizer, GenerationConfig, PreTrainedTokenizerBase
from transformers.models.bit.image_processing_pil_bit import BitImageProcessorPil

from workers.maira2.capture import (
    Capture,
    HookPoint,
    display_tokens,
    forward_to_block,
    hooked_block_index,
)
from workers.maira2.inputs import Batch, EncodedRow, collate, encode_row
from workers.maira2.loading import load_maira2_model
from workers.maira2.modeling import Maira2ForConditionalGeneration, image_feature_count
from workers.maira2.prompt import Study, build_prompt
from workers.maira2.steering import adding_per_row, steering_vectors
from workers.maira2.tiny import ensure_tiny_model

__all__ = ["Capture", "Maira2Runner", "SteerResult", "Study"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SteerResult:
    """Reports from one batched generation: row 0 unsteered, row 1 steered."""

    baseline: str
    steered: str


def default_tiny_folder() -> Path:
    """Where `Maira2Runner.load("tiny")` keeps the tiny model: `<home>/models/tiny-maira2`."""
    from db.settings import get_settings

    return get_settings().home / "models" / "tiny-maira2"


def default_organism_folder() -> Path:
    """Where `Maira2Runner.load("organism")` keeps the demo organism: `<home>/models/organism`."""
    from db.settings import get_settings

    return get_settings().home / "models" / "organism"


def resolve_model_folder(model_path: str | Path) -> Path:
    """A weights folder; "tiny" and "organism" are built (or trained) on first use.

    "organism" loads whatever build the demo trained there (its configuration may be a quick one).
    """
    if str(model_path) == "tiny":
        return ensure_tiny_model(default_tiny_folder())
    if str(model_path) == "organism":
        from workers.maira2.organism import ensure_organism_model, is_built

        folder = default_organism_folder()
        return folder if is_built(folder) else ensure_organism_model(folder)
    return Path(model_path)


class Maira2Runner:
    """A loaded MAIRA-2 with its tokenizer and image processor, hooked at one decoder layer."""

    def __init__(
        self,
        model: Maira2ForConditionalGeneration,
        tokenizer: PreTrainedTokenizerBase,
        image_processor: BitImageProcessorPil,
        layer: int = 15,
        point: HookPoint = "output",
        steering_scale: float = 1.0,
    ) -> None:
        n_layers = len(model.decoder_layers())
        block_index = hooked_block_index(layer, point)
        if not 0 <= block_index < n_layers:
            raise ValueError(
                f"layer {layer} ({point}) does not exist: the model has {n_layers} layers"
            )
        self.model = model
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        self.layer = layer
        self.point = point
        self.steering_scale = steering_scale
        self.block = model.decoder_layers()[block_index]
        self.image_token_id: int = model.config.image_token_id
        self.image_seq_length: int = image_feature_count(model.config)
        self.image_token: str = tokenizer.convert_ids_to_tokens(self.image_token_id)
        self._lock = threading.Lock()

    @classmethod
    def load(
        cls,
        model_path: str | Path = "tiny",
        device: str | torch.device = "cpu",
        dtype: torch.dtype | None = None,
        layer: int = 15,
        point: HookPoint = "output",
        steering_scale: float = 1.0,
    ) -> Maira2Runner:
        """Load weights from a folder, "tiny" or "organism" (see `resolve_model_folder`).

        `dtype` None means bfloat16 on CUDA and float32 elsewhere.
        """
        folder = resolve_model_folder(model_path)
        if dtype is None:
            dtype = torch.bfloat16 if torch.device(device).type == "cuda" else torch.float32
        model = load_maira2_model(folder, device=device, dtype=dtype)
        tokenizer = AutoTokenizer.from_pretrained(folder, config=model.config, padding_side="left")
        image_processor = BitImageProcessorPil.from_pretrained(folder)
        logger.info(
            "MAIRA-2 runner ready: layer %d (%s), steering scale %g", layer, point, steering_scale
        )
        return cls(model, tokenizer, image_processor, layer, point, steering_scale)

    @property
    def device(self) -> torch.device:
        return self.model.device

    @property
    def d_model(self) -> int:
        return self.model.config.text_config.hidden_size

    def encode(self, study: Study, report: str | None = None) -> EncodedRow:
        """Prompt (and report) token ids and masks for one study.

        With a report, the whole conversation is rendered and tokenised once (see `inputs.py`).
        """
        prompt = build_prompt(
            study,
            self.tokenizer,
            self.image_seq_length,
            self.image_token,
            report=(report or "").strip() or None,
        )
        return encode_row(self.tokenizer, prompt, self.image_token_id, self.image_seq_length)

    def batch(self, rows: list[EncodedRow]) -> Batch:
        """Left-padded model inputs on the model's device and dtype."""
        return collate(
            rows, self.tokenizer.pad_token_id, self.image_processor, self.device, self.model.dtype
        )

    def _generate(self, batch: Batch, max_new_tokens: int, seed: int, do_sample: bool) -> list[str]:
        config = GenerationConfig(
            max_new_tokens=max_new_tokens,
            do_sample=do_sample,
            use_cache=True,
            bos_token_id=self.tokenizer.bos_token_id,
            eos_token_id=self.tokenizer.eos_token_id,
            pad_token_id=self.tokenizer.pad_token_id,
        )
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            torch.manual_seed(seed)
            with torch.inference_mode():
                output = self.model.generate(**batch.model_kwargs(), generation_config=config)
        new_tokens = output[:, batch.input_ids.shape[1] :]
        return [
            text.strip()
            for text in self.tokenizer.batch_decode(
                new_tokens, skip_special_tokens=True, clean_up_tokenization_spaces=False
            )
        ]

    def generate_report(
        self, study: Study, max_new_tokens: int = 300, seed: int = 0, do_sample: bool = False
    ) -> str:
        """The findings section MAIRA-2 writes for `study` (greedy unless `do_sample`)."""
        with self._lock:
            batch = self.batch([self.encode(study)])
            return self._generate(batch, max_new_tokens, seed, do_sample)[0]

    def generate_reports(
        self, studies: Sequence[Study], max_new_tokens: int = 300, batch_size: int = 8
    ) -> list[str]:
        """Greedy findings for several studies, `batch_size` at a time (left-padded batches)."""
        reports: list[str] = []
        for start in range(0, len(studies), batch_size):
            with self._lock:
                batch = self.batch(
                    [self.encode(study) for study in studies[start : start + batch_size]]
                )
                reports.extend(self._generate(batch, max_new_tokens, 0, False))
        return reports

    def capture(
        self, studies: Sequence[Study], reports: Sequence[str], batch_size: int = 8
    ) -> list[Capture]:
        """Teacher-forced activations at the hooked layer for each (study, report) pair."""
        if len(studies) != len(reports):
            raise ValueError(f"{len(studies)} studies but {len(reports)} reports")
        captures: list[Capture] = []
        for start in range(0, len(studies), batch_size):
            with self._lock:
                chunk = [
                    self.encode(study, report)
                    for study, report in zip(
                        studies[start : start + batch_size],
                        reports[start : start + batch_size],
                        strict=True,
                    )
                ]
                batch = self.batch(chunk)
                hidden = (
                    forward_to_block(
                        self.model,
                        self.block,
                        **batch.model_kwargs(),
                        position_ids=batch.position_ids,
                    )
                    .float()
                    .cpu()
                )
                captures.extend(
                    self._row_capture(row, hidden[index, pad:])
                    for index, (row, pad) in enumerate(zip(chunk, batch.padding, strict=True))
                )
        return captures

    def _row_capture(self, row: EncodedRow, hidden: torch.Tensor) -> Capture:
        ids = row.input_ids
        return Capture(
            report_tokens=display_tokens(self.tokenizer, ids, row.report_positions),
            report_activations=hidden[row.report_positions].clone(),
            prompt_tokens=display_tokens(self.tokenizer, ids, row.field_positions),
            prompt_activations=hidden[row.field_positions].clone(),
            prompt_fields=list(row.field_names),
            report_token_ids=[ids[p] for p in row.report_positions],
            prompt_token_ids=[ids[p] for p in row.field_positions],
        )

    def steer(
        self,
        study: Study,
        directions: torch.Tensor,
        alphas: Sequence[float],
        max_new_tokens: int = 300,
        seed: int = 0,
        do_sample: bool = False,
    ) -> SteerResult:
        """Baseline and steered reports from ONE batched generate: row 0 plain, row 1 steered.

        With `do_sample` the two rows draw different random numbers, so they can differ even at
        alpha 0; greedy decoding (the default) makes alpha 0 reproduce the baseline exactly.
        """
        baseline, steered = self.steer_sweep(
            study, directions, [alphas], True, max_new_tokens, seed, do_sample
        )
        return SteerResult(baseline=baseline, steered=steered)

    def generate_steered(
        self,
        study: Study,
        directions: torch.Tensor,
        alphas: Sequence[float],
        max_new_tokens: int = 300,
        seed: int = 0,
        do_sample: bool = False,
    ) -> str:
        """The steered report alone (one row), for when the baseline report is already known."""
        return self.steer_sweep(
            study, directions, [alphas], False, max_new_tokens, seed, do_sample
        )[0]

    def steer_sweep(
        self,
        study: Study,
        directions: torch.Tensor,
        alpha_rows: Sequence[Sequence[float]],
        with_baseline: bool = True,
        max_new_tokens: int = 300,
        seed: int = 0,
        do_sample: bool = False,
    ) -> list[str]:
        """Reports from ONE batched generate: the baseline first (with `with_baseline`), then one
        report per row of `alpha_rows` (one alpha per direction), each row steered by its own
        vector. Greedy rows do not depend on each other (each sees only its own shift)."""
        vectors = steering_vectors(directions, alpha_rows, self.steering_scale)
        if with_baseline:
            vectors = torch.cat([torch.zeros(1, vectors.shape[1]), vectors])
        with self._lock:
            row = self.encode(study)
            batch = self.batch([row] * vectors.shape[0])
            with adding_per_row(self.block, vectors):
                return self._generate(batch, max_new_tokens, seed, do_sample)
