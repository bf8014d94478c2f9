"""MAIRA-2's findings prompt: the study's chat message, rendered by the tokenizer's template.

The message is one user turn whose content alternates text items and image items, in MAIRA-2's
order: "Given the current frontal image[ only]" + frontal, then the lateral and the prior frontal
with their phrases, then " PRIOR_REPORT: ..." (only with a prior image), then the instruction and
" INDICATION: {i} TECHNIQUE: {t} COMPARISON: {c}". As in the reference processor, a field that is
None or "" becomes "N/A" and any other value is kept verbatim (whitespace included). The
checkpoint's own chat template renders it; each `<image>` is then expanded to `image_seq_length`
placeholders.

With a report (teacher-forced capture) the template renders the whole conversation, the user turn
and an assistant turn holding the report, and `Prompt.report` records where the report's characters
lie: tokens are found by character offsets, never by assuming the report's tokens follow the
generation prompt's (the released template ends "ASSISTANT: ", whose lone "\u2581" merges into the
report's first token).

Text-only prompt: a `Study` with `frontal=None` gives the same text without any image item (for
report corpora that have no images). Its wording still says "Given the current frontal image only",
so activations stay comparable with the imaged prompt's text tokens.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from PIL import Image
from transformers import PreTrainedTokenizerBase

INSTRUCTION = (
    " Provide a structured description of the findings in the radiology study in comparison to"
    " the prior frontal image."
)
GROUNDING_INSTRUCTION = (
    " Each finding should be described as a self-contained plain-text sentence. If the finding is"
    " groundable, locate the finding in the current frontal chest X-ray image, with bounding boxes"
    " indicating all locations where it can be seen in the current frontal image. Otherwise,"
    " generate just the ungrounded finding without bounding boxes."
)
FREE_TEXT_FIELDS = ("prior_report", "indication", "technique", "comparison")


@dataclass(eq=False)
class Study:
    """One chest X-ray study: images as PIL images (see `images.prepare_image`) and free text."""

    frontal: Image.Image | None
    lateral: Image.Image | None = None
    prior_frontal: Image.Image | None = None
    prior_report: str | None = None
    indication: str | None = None
    technique: str | None = None
    comparison: str | None = None


@dataclass(frozen=True)
class FieldSpan:
    """Character span [start, end) of a free-text field's value inside a prompt's text."""

    name: str
    start: int
    end: int


@dataclass(frozen=True)
class Prompt:
    """A rendered prompt with images expanded to placeholders, ready to tokenize."""

    text: str
    images: list[Image.Image] = field(default_factory=list)
    fields: list[FieldSpan] = field(default_factory=list)
    report: FieldSpan | None = None
    """Where the report lies in `text` when the conversation was rendered with one."""


@dataclass(frozen=True)
class _Item:
    text: str | None
    image: Image.Image | None = None
    fields: tuple[FieldSpan, ...] = ()


def _value(text: str | None) -> str | None:
    """The field's text, or None for "N/A": the reference maps only None and "" to "N/A"."""
    return text if text else None


def _study_items(study: Study, grounded: bool) -> list[_Item]:
    """The content items in MAIRA-2's order; field spans are relative to their item's text."""
    if study.frontal is None and (study.lateral is not None or study.prior_frontal is not None):
        raise ValueError("a lateral or prior image needs a current frontal image")
    with_images = study.frontal is not None
    has_lateral, has_prior = study.lateral is not None, study.prior_frontal is not None
    items: list[_Item] = []
    opening = "Given the current frontal image" + ("" if has_lateral or has_prior else " only")
    items.append(_Item(opening))
    if with_images:
        items.append(_Item(None, study.frontal))
    if has_lateral:
        items.append(
            _Item(" the current lateral image" if has_prior else " and the current lateral image")
        )
        items.append(_Item(None, study.lateral))
    if has_prior:
        items.append(_Item(" and the prior frontal image"))
        items.append(_Item(None, study.prior_frontal))
        items.append(_field_item([(" PRIOR_REPORT: ", "prior_report", study.prior_report)]))
    instruction = INSTRUCTION + (GROUNDING_INSTRUCTION if grounded else "")
    items.append(
        _field_item(
            [
                (instruction + " INDICATION: ", "indication", study.indication),
                (" TECHNIQUE: ", "technique", study.technique),
                (" COMPARISON: ", "comparison", study.comparison),
            ]
        )
    )
    return items


def _field_item(parts: list[tuple[str, str, str | None]]) -> _Item:
    """Join (label, field name, value) parts into one text item, recording non-empty value spans."""
    text, spans = "", []
    for label, name, raw in parts:
        value = _value(raw)
        text += label
        if value is None:
            text += "N/A"
        else:
            spans.append(FieldSpan(name, len(text), len(text) + len(value)))
            text += value
    return _Item(text, fields=tuple(spans))


def build_prompt(
    study: Study,
    tokenizer: PreTrainedTokenizerBase,
    image_seq_length: int,
    image_token: str = "<image>",
    grounded: bool = False,
    report: str | None = None,
) -> Prompt:
    """Render `study` with the tokenizer's chat template and expand each image placeholder.

    Without `report` the text ends with the template's generation prompt; with one it is the whole
    conversation, the report as the assistant's turn.
    """
    items = _study_items(study, grounded)
    content = []
    for index, item in enumerate(items):
        if item.image is None:
            content.append({"index": None, "text": item.text, "type": "text"})
        else:
            content.append({"index": index, "text": None, "type": "image"})
    messages = [{"role": "user", "content": content}]
    if report:
        messages.append(
            {"role": "assistant", "content": [{"index": None, "text": report, "type": "text"}]}
        )
    rendered = tokenizer.apply_chat_template(
        messages, add_generation_prompt=not report, tokenize=False
    )
    pieces: list[str] = []
    fields: list[FieldSpan] = []
    images: list[Image.Image] = []
    cursor, length = 0, 0
    for item in items:
        needle = image_token if item.image is not None else item.text
        found = rendered.find(needle, cursor)
        if found < 0:
            raise ValueError(f"the chat template did not render {needle!r} verbatim")
        pieces.append(rendered[cursor:found])
        length += found - cursor
        if item.image is not None:
            pieces.append(image_token * image_seq_length)
            length += len(image_token) * image_seq_length
            images.append(item.image)
        else:
            fields.extend(FieldSpan(s.name, length + s.start, length + s.end) for s in item.fields)
            pieces.append(needle)
            length += len(needle)
        cursor = found + len(needle)
    report_span = None
    if report:
        found = rendered.find(report, cursor)
        if found < 0:
            raise ValueError("the chat template did not render the report verbatim")
        start = length + found - cursor
        report_span = FieldSpan("report", start, start + len(report))
    pieces.append(rendered[cursor:])
    text = "".join(pieces)
    if text.count(image_token) != image_seq_length * len(images):
        raise ValueError(
            f"the prompt holds {text.count(image_token)} {image_token} placeholders, expected "
            f"{image_seq_length} x {len(images)} images"
        )
    return Prompt(text=text, images=images, fields=fields, report=report_span)
