"""Token ids, token masks and pixel tensors for MAIRA-2: one prompt (+ report) per row, left padded.

A prompt with a report is the whole rendered conversation, tokenised once; the report's tokens are
the ones whose characters overlap the report's span (offsets), so a report whose first token absorbs
the template's trailing space ("ASSISTANT: " + "There" -> ":" "\u2581There") is found all the same.
Masks keep report tokens and the free-text field values, and drop image placeholders, BOS/EOS/
padding and the template's boilerplate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from transformers import PreTrainedTokenizerBase
from transformers.image_processing_utils import BaseImageProcessor

from workers.maira2.prompt import Prompt


@dataclass(frozen=True)
class EncodedRow:
    """One row before padding."""

    input_ids: list[int]
    report_positions: list[int]
    """Positions of the report's tokens (special tokens excluded), ascending."""
    field_positions: list[int]
    """Positions of tokens overlapping a free-text field value, ascending."""
    field_names: list[str]
    """The field each of `field_positions` belongs to."""
    images: list[Image.Image]


@dataclass(frozen=True)
class Batch:
    """Left-padded model inputs; `padding[i]` pad tokens precede row i."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    position_ids: torch.Tensor
    pixel_values: torch.Tensor | None
    padding: list[int]

    def model_kwargs(self) -> dict[str, torch.Tensor]:
        kwargs = {"input_ids": self.input_ids, "attention_mask": self.attention_mask}
        if self.pixel_values is not None:
            kwargs["pixel_values"] = self.pixel_values
        return kwargs


def _adds_bos(tokenizer: PreTrainedTokenizerBase, text: str) -> bool:
    """Whether to let the tokenizer add special tokens (not when the template already wrote BOS)."""
    return not (tokenizer.bos_token and text.startswith(tokenizer.bos_token))


def encode_row(
    tokenizer: PreTrainedTokenizerBase,
    prompt: Prompt,
    image_token_id: int,
    image_seq_length: int,
) -> EncodedRow:
    """Tokenise a prompt (with its report, if any); assert one placeholder per image feature."""
    encoded = tokenizer(
        prompt.text,
        add_special_tokens=_adds_bos(tokenizer, prompt.text),
        return_offsets_mapping=True,
    )
    input_ids: list[int] = encoded["input_ids"]
    n_placeholders = sum(1 for token in input_ids if token == image_token_id)
    expected = image_seq_length * len(prompt.images)
    if n_placeholders != expected:
        raise ValueError(
            f"the prompt tokenises to {n_placeholders} image placeholders, expected {expected} "
            f"({image_seq_length} per image x {len(prompt.images)})"
        )
    special_ids = set(tokenizer.all_special_ids) | {image_token_id}
    field_positions, field_names, report_positions = [], [], []
    for position, (start, end) in enumerate(encoded["offset_mapping"]):
        if end <= start or input_ids[position] in special_ids:
            continue
        if prompt.report is not None and start < prompt.report.end and end > prompt.report.start:
            report_positions.append(position)
            continue
        for span in prompt.fields:
            if start < span.end and end > span.start:
                field_positions.append(position)
                field_names.append(span.name)
                break
    return EncodedRow(
        input_ids=input_ids,
        report_positions=report_positions,
        field_positions=field_positions,
        field_names=field_names,
        images=list(prompt.images),
    )


def model_image(image: Image.Image) -> Image.Image:
    """MAIRA-2's image normalisation, as its reference processor computes it, as RGB.

    Grey (`convert("L")`), then `(x - min) / (max - min) * 255` in float64, truncated to uint8
    (not rounded: a non-full-range image loses up to one grey level, exactly as in the reference).
    A constant image, where the reference would divide by zero, becomes black.
    """
    grey = np.asarray(image.convert("L"))
    low, high = grey.min(), grey.max()
    if high == low:
        stretched = np.zeros_like(grey)
    else:
        stretched = ((grey - low) / (high - low) * 255).astype(np.uint8)
    return Image.fromarray(stretched).convert("RGB")


def pixel_values(image_processor: BaseImageProcessor, images: list[Image.Image]) -> torch.Tensor:
    """(n_images, 3, size, size) float32 in the order the placeholders appear."""
    prepared = [model_image(image) for image in images]
    return image_processor(images=prepared, return_tensors="pt")["pixel_values"]


def collate(
    rows: list[EncodedRow],
    pad_token_id: int,
    image_processor: BaseImageProcessor,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> Batch:
    """Left-pad rows into one batch; position ids count only real tokens (as `generate` does)."""
    width = max(len(row.input_ids) for row in rows)
    padding = [width - len(row.input_ids) for row in rows]
    input_ids = torch.tensor(
        [[pad_token_id] * pad + row.input_ids for pad, row in zip(padding, rows, strict=True)]
    )
    attention_mask = torch.tensor(
        [[0] * pad + [1] * len(row.input_ids) for pad, row in zip(padding, rows, strict=True)]
    )
    position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
    images = [image for row in rows for image in row.images]
    pixels = None
    if images:
        pixels = pixel_values(image_processor, images).to(device=device, dtype=dtype)
    return Batch(
        input_ids=input_ids.to(device),
        attention_mask=attention_mask.to(device),
        position_ids=position_ids.to(device),
        pixel_values=pixels,
        padding=padding,
    )
