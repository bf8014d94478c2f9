"""The demo's model organism: the tiny MAIRA-2 classes trained to write findings from drawn images.

`train_organism` builds a tokenizer on the report corpus and a 16-layer MAIRA-2-shaped model
(same classes and file layout as `tiny.py`: Dinov2 at 56 px -> 16 image tokens, Llama at width
64) and trains the whole model teacher-forced on (drawn image, findings) pairs with the real prompt
(`prompt.py`, generation prompt ending "ASSISTANT: ") followed by the report's tokens and EOS.

Two things decide whether its reports follow the image. First, the image encoder is taught alone
before the joint training (`_pretrain_vision`): through the language model's loss alone it never
learned, within the demo's budget, to see an effusion or a pneumothorax at all, so the reports
fell back on the corpus's priors. Second, studies are drawn so that each finding and "normal"
come up more evenly (`sampling_weights`); drawing each finding *combination* equally
often made a lone study of a rare combination (say, pneumothorax with a catheter) as frequent as
all normal studies together, and the model then wrote that memorised report for any image that
shared one of its findings; half of the draws still go by combination, for the findings whose
reports are worded too many ways to be learned from their share of a per-finding balance.

Only the vocabulary the corpus uses is trained: the loss is a softmax over those ids plus one
constant zero logit standing for every other id, and the other rows of `lm_head` are zeroed when
saving, so an unused token's logit is exactly 0 and greedy decoding picks a trained token whenever
training taught it to beat that zero. `ensure_organism_model` caches the result under a key of
the version, the configuration and the report file, so later starts load it at once.

The organism is small and trained briefly, so where its training ends depends on rounding: with
the same seed, one thread and the same data, its held-out macro-F1 was 0.70 with torch's and
MKL's AVX2 kernels and 0.41 with their AVX-512 ones (pneumothorax over-reported). It is therefore
trained in a child process whose kernels are pinned to AVX2 (`PINNED_KERNELS`), so that every
x86-64 machine builds the same organism.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from transformers import GenerationConfig

from workers.corpus.drawn_studies import NORMAL, DrawnStudy, select_studies, split_held_out
from workers.corpus.radiographs import DRAWN_FINDINGS, draw_radiograph
from workers.maira2.inputs import pixel_values
from workers.maira2.loading import save_legacy_checkpoint
from workers.maira2.modeling import Maira2ForConditionalGeneration, image_feature_count
from workers.maira2.prompt import Study, build_prompt
from workers.maira2.tiny import build_tokenizer, tiny_config, tiny_image_processor

log = logging.getLogger(__name__)

VERSION = 2
"""Bumped when training changes, so a cached organism from an older build is rebuilt."""
_COMPLETE = "organism.json"
DEFAULT_REPORTS = Path(__file__).resolve().parents[3] / "shared" / "data" / "openi_reports.csv"


@dataclass(frozen=True)
class OrganismConfig:
    """How the organism is built and trained."""

    steps: int = 480
    batch_size: int = 16
    learning_rate: float = 6e-3
    warmup_steps: int = 30
    n_layers: int = 16
    mlp_width: int = 128
    vocab_size: int = 1200
    max_words: int = 40
    held_out_fraction: float = 0.1
    findings_weight: float = 3.0
    """Weight of the auxiliary loss that reads the drawn findings off each report position."""
    vision_steps: int = 600
    """Steps that first teach the image encoder alone to show each finding in its tokens."""
    vision_batch: int = 32
    vision_images: int = 2048
    finding_rate: float = 0.35
    """Chance of each finding in the random drawings of those steps."""
    seed: int = 0


@dataclass(frozen=True)
class OrganismData:
    """The studies the organism is trained on and the ones held out for evaluation."""

    train: list[DrawnStudy]
    held_out: list[DrawnStudy]


def organism_data(reports_csv: Path, config: OrganismConfig) -> OrganismData:
    studies = select_studies(reports_csv, config.max_words, config.seed)
    train, held_out = split_held_out(studies, config.held_out_fraction, config.seed)
    return OrganismData(train, held_out)


def _prompt_ids(tokenizer, image_seq_length: int) -> list[int]:
    """The findings prompt for a frontal image with every free-text field "N/A"."""
    from PIL import Image

    image_token = tokenizer.convert_ids_to_tokens(tokenizer.convert_tokens_to_ids("<image>"))
    prompt = build_prompt(
        Study(frontal=Image.new("L", (8, 8))), tokenizer, image_seq_length, image_token
    )
    return tokenizer(prompt.text, add_special_tokens=not prompt.text.startswith("<s>"))["input_ids"]


def sampling_weights(studies: list[DrawnStudy]) -> torch.Tensor:
    """One draw weight per study: half of the draws give each drawn finding and "normal" an equal
    share (split evenly over the studies of that class), the other half give each finding
    combination an equal share.

    By combination alone, a lone study of a rare combination is drawn as often as all normal
    studies together and its report is memorised and written for any image sharing one of its
    findings; by class alone, findings whose reports are worded many ways (support devices,
    opacities) are rarely written at all. Held-out macro-F1, 600 steps: 0.71 with this half and
    half mix, 0.60 by class alone, 0.63 with three quarters by combination (bench/organism_eval.py).
    """
    classes = [study.findings or frozenset({NORMAL}) for study in studies]
    per_class = Counter(name for names in classes for name in names)
    by_class = torch.tensor([sum(1 / per_class[name] for name in names) for names in classes])
    per_combination = Counter(study.key for study in studies)
    by_combination = torch.tensor([1 / per_combination[study.key] for study in studies])
    return 0.5 * by_class / by_class.sum() + 0.5 * by_combination / by_combination.sum()


def _image_logits(model: Maira2ForConditionalGeneration, head: torch.nn.Linear, pixels):
    """(n_images, findings): each finding's strongest evidence over an image's tokens."""
    tokens = torch.stack(model.model.get_image_features(pixels).pooler_output)
    return head(tokens).amax(dim=1)


def _pretrain_vision(
    model: Maira2ForConditionalGeneration,
    head: torch.nn.Linear,
    image_processor,
    config: OrganismConfig,
    generator: torch.Generator,
    on_step: Callable[[int, float], None] | None,
) -> None:
    """Train the vision tower and projector so that a linear read of the image tokens finds
    every drawn finding: `vision_images` drawings of random finding sets, `vision_steps`
    batches drawn from them. Through the language model alone the encoder learns too slowly
    to see an effusion or a pneumothorax at all within the demo's time budget."""
    present = torch.rand(config.vision_images, len(DRAWN_FINDINGS), generator=generator)
    present = present < config.finding_rate
    seeds = torch.randint(0, 2**31 - 1, (config.vision_images,), generator=generator).tolist()
    images = [
        draw_radiograph({n for n, on in zip(DRAWN_FINDINGS, row, strict=True) if on}, seed)
        for row, seed in zip(present.tolist(), seeds, strict=True)
    ]
    pixels = pixel_values(image_processor, images)
    parameters = [
        *model.model.vision_tower.parameters(),
        *model.model.multi_modal_projector.parameters(),
        *head.parameters(),
    ]
    optimizer = torch.optim.Adam(parameters, lr=config.learning_rate)
    for step in range(config.vision_steps):
        batch = torch.randint(0, config.vision_images, (config.vision_batch,), generator=generator)
        logits = _image_logits(model, head, pixels[batch])
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, present[batch].float())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if on_step is not None:
            on_step(step, loss.item())


def _schedule(step: int, config: OrganismConfig) -> float:
    if step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))


def train_organism(
    folder: Path,
    data: OrganismData,
    config: OrganismConfig,
    on_step: Callable[[int, float], None] | None = None,
) -> Path:
    """Train the organism on `data.train` and save it into `folder` in the released layout;
    `on_step(step, loss)` is called after each of the `vision_steps + steps` steps."""
    reports = [study.report for study in data.train]
    tokenizer = build_tokenizer(seed=config.seed, vocab_size=config.vocab_size, corpus=reports)
    model_config = tiny_config(tokenizer, n_layers=config.n_layers, mlp_width=config.mlp_width)
    image_processor = tiny_image_processor()
    torch.manual_seed(config.seed)
    model = Maira2ForConditionalGeneration(model_config)
    prompt = _prompt_ids(tokenizer, image_feature_count(model_config))
    eos = tokenizer.eos_token_id
    report_ids = [
        tokenizer(text, add_special_tokens=False)["input_ids"] + [eos] for text in reports
    ]
    used = sorted({token for ids in report_ids for token in ids})
    subset = torch.tensor(used)
    to_subset = {token: index for index, token in enumerate(used)}
    weights = sampling_weights(data.train)
    generator = torch.Generator().manual_seed(config.seed)
    probe = torch.nn.Linear(model_config.text_config.hidden_size, len(DRAWN_FINDINGS))
    image_head = torch.nn.Linear(model_config.text_config.hidden_size, len(DRAWN_FINDINGS))
    model.train()
    started = time.monotonic()
    _pretrain_vision(model, image_head, image_processor, config, generator, on_step)
    log.info("organism: %d vision steps in %.1f s", config.vision_steps, time.monotonic() - started)
    optimizer = torch.optim.Adam(
        [*model.parameters(), *probe.parameters()], lr=config.learning_rate
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: _schedule(step, config))
    started = time.monotonic()
    for step in range(config.steps):
        picks = torch.multinomial(weights, config.batch_size, True, generator=generator).tolist()
        seeds = torch.randint(0, 2**31 - 1, (len(picks),), generator=generator).tolist()
        images = [
            DrawnStudy("", "", data.train[pick].findings, seed).image()
            for pick, seed in zip(picks, seeds, strict=True)
        ]
        width = max(len(report_ids[pick]) for pick in picks)
        input_ids = torch.full((len(picks), len(prompt) + width), tokenizer.pad_token_id)
        attention = torch.zeros_like(input_ids)
        targets = torch.full((len(picks), len(prompt) + width), -100)
        for row, pick in enumerate(picks):
            ids = report_ids[pick]
            input_ids[row, : len(prompt) + len(ids)] = torch.tensor(prompt + ids)
            attention[row, : len(prompt) + len(ids)] = 1
            targets[row, len(prompt) - 1 : len(prompt) - 1 + len(ids)] = torch.tensor(
                [to_subset[token] for token in ids]
            )
        hidden = model.model(
            input_ids=input_ids,
            attention_mask=attention,
            pixel_values=pixel_values(image_processor, images),
        ).last_hidden_state
        mask = targets >= 0
        logits = hidden[mask] @ model.lm_head.weight[subset].T
        logits = torch.cat([logits, logits.new_zeros(logits.shape[0], 1)], dim=1)
        loss = torch.nn.functional.cross_entropy(logits, targets[mask])
        drawn = torch.tensor(
            [[name in data.train[pick].findings for name in DRAWN_FINDINGS] for pick in picks],
            dtype=hidden.dtype,
        )
        rows = torch.arange(len(picks)).unsqueeze(1).expand_as(mask)[mask]
        loss = loss + config.findings_weight * torch.nn.functional.binary_cross_entropy_with_logits(
            probe(hidden[mask]), drawn[rows]
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        if on_step is not None:
            on_step(config.vision_steps + step, loss.item())
    log.info("organism: %d steps in %.1f s", config.steps, time.monotonic() - started)
    with torch.no_grad():
        unused = torch.ones(model.lm_head.weight.shape[0], dtype=torch.bool)
        unused[subset] = False
        model.lm_head.weight[unused] = 0.0
    model.eval()
    save_legacy_checkpoint(model, folder)
    tokenizer.save_pretrained(folder)
    image_processor.save_pretrained(folder)
    GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=eos,
        pad_token_id=tokenizer.pad_token_id,
        do_sample=False,
    ).save_pretrained(folder)
    return folder


def cache_key(reports_csv: Path, config: OrganismConfig) -> str:
    """Version, configuration and report file contents, hashed: what a cached build must match."""
    digest = hashlib.sha256(json.dumps([VERSION, asdict(config)]).encode())
    digest.update(reports_csv.read_bytes())
    return digest.hexdigest()[:16]


def _stamp(folder: Path) -> str | None:
    try:
        return json.loads((folder / _COMPLETE).read_text())["key"]
    except (OSError, ValueError, KeyError):
        return None


def is_built(folder: Path) -> bool:
    """Whether `folder` holds a complete organism build (of any configuration)."""
    return _stamp(folder) is not None


PINNED_KERNELS = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}
"""Environment of the training process: torch's and MKL's AVX2 kernels on every machine."""
_REPO = Path(__file__).resolve().parents[2]


def train_pinned(
    folder: Path,
    reports_csv: Path,
    config: OrganismConfig,
    on_step: Callable[[int, float], None] | None = None,
) -> None:
    """`train_organism` on `organism_data(reports_csv, config)`, in a child process with
    `PINNED_KERNELS` and this process's torch thread count; its steps reach `on_step`."""
    command = [
        sys.executable,
        "-m",
        "workers.maira2.organism",
        str(folder),
        str(reports_csv),
        json.dumps(asdict(config)),
        str(torch.get_num_threads()),
    ]
    path = os.pathsep.join(filter(None, [str(_REPO), os.environ.get("PYTHONPATH")]))
    environment = {**os.environ, **PINNED_KERNELS, "PYTHONPATH": path}
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=environment) as child:
        assert child.stdout is not None
        for line in child.stdout:
            step, _, loss = line.partition(" ")
            if on_step is not None and step.isdigit():
                on_step(int(step), float(loss))
    if child.returncode != 0:
        raise RuntimeError(f"training the organism failed (exit {child.returncode}; see above)")


def _train_here(folder: str, reports_csv: str, config_json: str, threads: str) -> None:
    """The child process of `train_pinned`: one line "step loss" per step on stdout."""
    torch.set_num_threads(int(threads))
    config = OrganismConfig(**json.loads(config_json))
    data = organism_data(Path(reports_csv), config)

    def report(step: int, loss: float) -> None:
        sys.stdout.write(f"{step} {loss}\n")
        sys.stdout.flush()

    train_organism(Path(folder), data, config, report)


def ensure_organism_model(
    folder: Path | str,
    reports_csv: Path = DEFAULT_REPORTS,
    config: OrganismConfig | None = None,
    on_step: Callable[[int, float], None] | None = None,
) -> Path:
    """Return `folder`, training the organism there first (`train_pinned`) unless a matching
    build is cached. Training goes into a sibling temporary folder renamed into place when
    complete."""
    folder = Path(folder)
    config = config or OrganismConfig()
    if not reports_csv.is_file():
        raise FileNotFoundError(f"{reports_csv}: the organism's report CSV is missing")
    key = cache_key(reports_csv, config)
    if _stamp(folder) == key:
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        train_pinned(staging, reports_csv, config, on_step)
        (staging / _COMPLETE).write_text(json.dumps({"key": key, "config": asdict(config)}) + "\n")
        if folder.exists() and _stamp(folder) != key:
            shutil.rmtree(folder)
        try:
            staging.rename(folder)
        except OSError:
            if _stamp(folder) != key:
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


if __name__ == "__main__":
    _train_here(*sys.argv[1:])
