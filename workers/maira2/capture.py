"""Read the residual stream at one decoder layer with a forward hook, then stop the forward pass.

Layer convention (the hook site): `point="output"` (default) reads the output of decoder block
`layer`, i.e. `model.model.language_model.layers[layer]`, which equals `hidden_states[layer + 1]`
of a full forward (the dictionary_learning/nnsight convention for "layer 15"). `point="input"`
reads the input of block `layer`, which is the output of block `layer - 1` (`hidden_states[layer]`);
it is implemented as exactly that, so `layer` must then be at least 1.

Capture is teacher-forced: one forward pass over prompt + report gives activations for all N report
tokens (capturing during `generate` would miss the last one). The hook raises a private exception
right after the hooked block, so the later blocks and the LM head never run.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn
from transformers import PreTrainedTokenizerBase

HookPoint = Literal["output", "input"]


@dataclass(frozen=True)
class Capture:
    """Activations of one study's tokens at the hooked layer, in residual-stream units (float32)."""

    report_tokens: list[str]
    """Display strings of the report tokens (" effusion"); joined they give the report text."""
    report_activations: torch.Tensor
    """(len(report_tokens), d_model)."""
    prompt_tokens: list[str]
    """Display strings of the free-text prompt fields' tokens, in prompt order."""
    prompt_activations: torch.Tensor
    """(len(prompt_tokens), d_model)."""
    prompt_fields: list[str]
    """Field of each prompt token: prior_report, indication, technique or comparison."""
    report_token_ids: list[int]
    prompt_token_ids: list[int]


class _StopForward(Exception):
    """Raised by the capture hook once the hooked block has run."""


def hooked_block_index(layer: int, point: HookPoint) -> int:
    """Index of the decoder block whose output is read for (`layer`, `point`)."""
    if point == "output":
        return layer
    if point == "input":
        if layer < 1:
            raise ValueError("the input of block 0 is the embedding output; use layer >= 1")
        return layer - 1
    raise ValueError(f"unknown hook point {point!r}; expected 'output' or 'input'")


def block_hidden(output: torch.Tensor | tuple) -> torch.Tensor:
    """A decoder block's hidden states: 5.x returns a tensor, 4.x a tuple."""
    return output[0] if isinstance(output, tuple) else output


@contextmanager
def reading_block_output(block: nn.Module, stop: bool) -> Iterator[list[torch.Tensor]]:
    """Collect `block`'s output on each call; with `stop`, abort the forward pass right after it."""
    captured: list[torch.Tensor] = []

    def hook(_module: nn.Module, _args: tuple, output: torch.Tensor | tuple) -> None:
        captured.append(block_hidden(output).detach())
        if stop:
            raise _StopForward

    handle = block.register_forward_hook(hook)
    try:
        yield captured
    finally:
        handle.remove()


@torch.inference_mode()
def forward_to_block(model: nn.Module, block: nn.Module, **inputs: torch.Tensor) -> torch.Tensor:
    """(B, T, d_model) output of `block` for `inputs`; the blocks after it never run."""
    with reading_block_output(block, stop=True) as captured, suppress(_StopForward):
        model(**inputs, use_cache=False)
    if len(captured) != 1:
        raise RuntimeError(f"the hooked block ran {len(captured)} times, expected once")
    return captured[0]


def display_tokens(
    tokenizer: PreTrainedTokenizerBase, ids: list[int], positions: list[int]
) -> list[str]:
    """Readable text of each token at `positions` ('Ġeffusion' -> ' effusion').

    Each token is decoded in context (the text it adds to the tokens before it), so leading spaces
    survive and consecutive tokens join into the original text; a token ending inside a multi-byte
    character shows as "" and the token completing it carries the whole character.
    """
    strings: list[str] = []
    run_start = 0
    for index in range(1, len(positions) + 1):
        if index == len(positions) or positions[index] != positions[index - 1] + 1:
            strings.extend(
                _decode_run(tokenizer, ids, positions[run_start], positions[index - 1] + 1)
            )
            run_start = index
    return strings


def _decode_run(
    tokenizer: PreTrainedTokenizerBase, ids: list[int], start: int, end: int
) -> list[str]:
    context_start = max(start - 1, 0)

    def decode(stop: int) -> str:
        return tokenizer.decode(
            ids[context_start:stop], skip_special_tokens=False, clean_up_tokenization_spaces=False
        )

    emitted = decode(start)
    strings = []
    for position in range(start, end):
        text = decode(position + 1)
        if text.endswith("\ufffd") and position + 1 < end:
            strings.append("")
        elif text.startswith(emitted):
            strings.append(text[len(emitted) :])
            emitted = text
        else:
            strings.append(
                tokenizer.decode(
                    [ids[position]], skip_special_tokens=False, clean_up_tokenization_spaces=False
                )
            )
            emitted = text
    return strings
