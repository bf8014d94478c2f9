"""The tiny MAIRA-2 stand-in: same architecture and file layout, random weights, built offline.

`ensure_tiny_model(folder)` writes a folder shaped like the released checkpoint: a raw
`config.json` (model_type maira2, RoPE scaling kept), `model.safetensors` in the legacy key layout,
a tokenizer with the released one's class, whitespace handling and special ids (its BPE pieces
trained here on a generated radiology corpus), a Vicuna-style chat template whose generation prompt
ends "ASSISTANT: " as the released one does, and a `BitImageProcessor` config. Dinov2 (hidden
32, 2 layers, 56 px, patch 14 -> 16 image tokens) feeds a Llama (hidden 64, 18 layers, so layer 15
and the layers after it exist). Random weights produce garbage text: test shapes and invariants.
"""

from __future__ import annotations

import json
import random
import shutil
import tempfile
from pathlib import Path

import torch
from tokenizers import AddedToken, Tokenizer, models, pre_tokenizers, trainers
from transformers import GenerationConfig, LlamaTokenizer, PreTrainedTokenizerBase
from transformers.models.bit.image_processing_pil_bit import BitImageProcessorPil

from workers.maira2.loading import save_legacy_checkpoint
from workers.maira2.modeling import Maira2Config, Maira2ForConditionalGeneration

SYSTEM_PROMPT = (
    "You are an expert radiology assistant tasked with interpreting a chest X-ray study."
)
GROUNDING_TOKENS = (
    "<obj>",
    "</obj>",
    *(f"<x{i}>" for i in range(100)),
    *(f"<y{i}>" for i in range(100)),
    "<box>",
    "</box>",
)
"""Added after the 32,000 SentencePiece pieces, in the released ids: <obj> 32000 ... </box> 32203.
Not special (decoding with `skip_special_tokens` keeps them, as grounded reports need)."""
IMAGE_TOKENS = ("<image>", "<prev_im>", "<lat_image>")
"""32204, 32205, 32206 in the released vocabulary."""
LLAMA_PIECES = 32_000
METASPACE = "\u2581"
METASPACE_ID = 29871
"""Llama-2's id of the lone word-boundary piece; the released prompt ends with it."""
IMAGE_SIZE = 56
PATCH_SIZE = 14
N_LAYERS = 18
_COMPLETE = "tiny-model.json"
LAYOUT_VERSION = 2
"""Bumped when the files' layout changes (2: the released tokenizer layout and template), so a
cached tiny model from an older build is rebuilt rather than reused."""

CHAT_TEMPLATE = (
    "{{ '" + SYSTEM_PROMPT + "' }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'user' %}{{ '  USER: ' }}"
    "{% elif message['role'] == 'assistant' %}{{ '  ASSISTANT: ' }}{% endif %}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}{{ '<image>' }}{% else %}{{ item['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "{% if message['role'] == 'assistant' %}{{ eos_token }}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '  ASSISTANT: ' }}{% endif %}"
)
"""Vicuna-style: system line, "  USER: " turn, generation prompt "  ASSISTANT: " with the released
template's trailing space (it tokenizes to a lone "\u2581"). Image items render as `<image>`, to be
expanded to one placeholder per image feature."""

_FINDINGS = (
    "There is no pleural effusion.",
    "There is a small left pleural effusion.",
    "Moderate right pleural effusion is present.",
    "No pneumothorax is seen.",
    "There is a small apical pneumothorax on the right.",
    "The heart size is normal.",
    "Mild cardiomegaly is noted.",
    "The cardiomediastinal silhouette is within normal limits.",
    "The lungs are clear.",
    "There is no focal consolidation.",
    "Patchy opacity in the left lower lobe may represent atelectasis or pneumonia.",
    "Bibasilar atelectasis is present.",
    "Pulmonary vascular congestion without frank edema.",
    "Interstitial markings are increased bilaterally.",
    "Degenerative changes of the thoracic spine.",
    "A right internal jugular central venous catheter terminates in the superior vena cava.",
    "Endotracheal tube tip lies 4 cm above the carina.",
    "Nasogastric tube courses below the diaphragm.",
    "Sternotomy wires are intact.",
    "The osseous structures are unremarkable.",
    "Hyperinflated lungs consistent with emphysema.",
    "Calcified granuloma in the right upper lobe.",
    "Compared with the prior study, the effusion has decreased.",
    "Unchanged appearance of the mediastinum since the prior radiograph.",
    "Blunting of the costophrenic angle.",
    "Elevated left hemidiaphragm.",
)
_PROMPT_WORDS = (
    SYSTEM_PROMPT,
    "USER: Given the current frontal image only and the current lateral image and the prior "
    "frontal image PRIOR_REPORT: Provide a structured description of the findings in the "
    "radiology study in comparison to the prior frontal image. ASSISTANT:",
    "INDICATION: Shortness of breath. TECHNIQUE: PA and lateral views of the chest. "
    "COMPARISON: None. N/A",
    "INDICATION: Fever and cough, evaluate for pneumonia. TECHNIQUE: Portable AP chest. "
    "COMPARISON: Chest radiograph from yesterday.",
)


def radiology_corpus(n_reports: int = 400, seed: int = 0) -> list[str]:
    """A deterministic corpus of made-up findings sections plus the prompt's own wording."""
    rng = random.Random(seed)
    reports = [" ".join(rng.sample(_FINDINGS, rng.randint(2, 6))) for _ in range(n_reports)]
    return [*reports, *(_PROMPT_WORDS * 20)]


def build_tokenizer(
    seed: int = 0, vocab_size: int = 800, corpus: list[str] | None = None
) -> PreTrainedTokenizerBase:
    """A Llama-2-style tokenizer laid out like the released MAIRA-2 one, pieces trained here.

    Same class and whitespace handling as the released files (`LlamaTokenizer`, `legacy=False`:
    no normalizer, Metaspace with prepend scheme "first" and no split, byte fallback, a decoder
    that strips one leading space), the same ids for <unk>/<s>/</s> (0-2), the byte pieces
    (3-258), the lone "\u2581" (29871) and the added tokens (32000-32206), 32,207 in all, pad =
    <unk>. Only the BPE pieces between are trained, on `corpus` plus the prompt's wording (default
    `radiology_corpus`); unused ids are filler.
    """
    texts = radiology_corpus(seed=seed) if corpus is None else [*corpus, *(_PROMPT_WORDS * 20)]
    trainer_backend = Tokenizer(models.BPE(unk_token="<unk>"))
    trainer_backend.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="always", split=True)
    trainer_backend.train_from_iterator(
        texts,
        trainers.BpeTrainer(
            vocab_size=vocab_size, special_tokens=["<unk>", "<s>", "</s>"], show_progress=False
        ),
    )
    trained = json.loads(trainer_backend.to_str())["model"]
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2} | {f"<0x{i:02X}>": 3 + i for i in range(256)}
    pieces = sorted(trained["vocab"], key=trained["vocab"].__getitem__)
    for piece in pieces:
        if piece not in vocab and piece != METASPACE:
            vocab[piece] = len(vocab)
    while len(vocab) < LLAMA_PIECES:
        if len(vocab) == METASPACE_ID:
            vocab[METASPACE] = METASPACE_ID
        else:
            vocab[f"<unused{len(vocab)}>"] = len(vocab)
    merges = [
        tuple(merge.split(" ")) if isinstance(merge, str) else tuple(merge)
        for merge in trained["merges"]
    ]
    tokenizer = LlamaTokenizer(
        vocab=vocab,
        merges=merges,
        legacy=False,
        add_bos_token=True,
        add_eos_token=False,
        pad_token="<unk>",
        padding_side="left",
        model_max_length=4096,
    )
    tokenizer.add_tokens([AddedToken(t, special=False, normalized=False) for t in GROUNDING_TOKENS])
    tokenizer.add_tokens(
        [AddedToken(t, special=True, normalized=False) for t in IMAGE_TOKENS], special_tokens=True
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def tiny_config(
    tokenizer: PreTrainedTokenizerBase, n_layers: int = N_LAYERS, mlp_width: int = 128
) -> Maira2Config:
    """MAIRA-2's config shape at toy width; `image_seq_length` = (56 / 14)^2 = 16."""
    text_config = {
        "model_type": "llama",
        "vocab_size": len(tokenizer),
        "hidden_size": 64,
        "intermediate_size": mlp_width,
        "num_hidden_layers": n_layers,
        "num_attention_heads": 4,
        "num_key_value_heads": 4,
        "max_position_embeddings": 2048,
        "rope_scaling": {"type": "linear", "factor": 1.5},
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
        "tie_word_embeddings": False,
    }
    vision_config = {
        "model_type": "dinov2",
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "mlp_ratio": 2,
        "image_size": IMAGE_SIZE,
        "patch_size": PATCH_SIZE,
        "apply_layernorm": True,
        "reshape_hidden_states": False,
        "out_features": ["stage2"],
    }
    return Maira2Config(
        text_config=text_config,
        vision_config=vision_config,
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        image_seq_length=(IMAGE_SIZE // PATCH_SIZE) ** 2,
        projector_hidden_act="gelu",
        projector_n_layers=4,
        vision_feature_layer=-1,
        vision_feature_select_strategy="default",
        pad_token_id=tokenizer.pad_token_id,
    )


def tiny_image_processor() -> BitImageProcessorPil:
    """RAD-DINO's preprocessing (shortest edge, centre crop, mean 0.5307, std 0.2583) at 56 px."""
    return BitImageProcessorPil(
        size={"shortest_edge": IMAGE_SIZE},
        crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
        image_mean=[0.5307, 0.5307, 0.5307],
        image_std=[0.2583, 0.2583, 0.2583],
    )


def build_tiny_model(folder: Path, seed: int = 0) -> Path:
    """Write a fresh tiny model into `folder` (overwriting it); deterministic in `seed`."""
    tokenizer = build_tokenizer(seed=seed)
    config = tiny_config(tokenizer)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Maira2ForConditionalGeneration(config)
    save_legacy_checkpoint(model, folder)
    tokenizer.save_pretrained(folder)
    tiny_image_processor().save_pretrained(folder)
    GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        do_sample=False,
    ).save_pretrained(folder)
    (folder / _COMPLETE).write_text(json.dumps({"seed": seed, "layout": LAYOUT_VERSION}) + "\n")
    return folder


def _is_current(folder: Path, seed: int) -> bool:
    """Whether `folder` holds a complete build of this layout version and seed."""
    try:
        stamp = json.loads((folder / _COMPLETE).read_text())
    except (OSError, ValueError):
        return False
    return stamp == {"seed": seed, "layout": LAYOUT_VERSION}


def ensure_tiny_model(folder: Path | str, seed: int = 0) -> Path:
    """Return `folder`, building the tiny model there first unless a current build is present.

    The build goes into a sibling temporary folder that is renamed into place, so concurrent
    callers never see a half-written model; a build of an older layout is replaced.
    """
    folder = Path(folder)
    if _is_current(folder, seed):
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        build_tiny_model(staging, seed=seed)
        if folder.exists() and not _is_current(folder, seed):
            shutil.rmtree(folder)
        try:
            staging.rename(folder)
        except OSError:
            if not _is_current(folder, seed):
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder
