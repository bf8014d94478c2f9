"""Our own transformers-5.x MAIRA-2 classes: LLaVA layout, Dinov2 backbone, 4-layer projector.

MAIRA-2 ships as remote code written for transformers < 4.52 (MSRLA licence, not copied here). This
module rebuilds the architecture on transformers 5.x: `Maira2Model(LlavaModel)` holds the RAD-DINO
vision tower (`Dinov2Backbone` via `AutoBackbone`), the projector and the Vicuna language model;
`Maira2ForConditionalGeneration(LlavaForConditionalGeneration)` adds the bias-free `lm_head`.
Decoder layers live at `model.model.language_model.layers[i]`.
"""

from __future__ import annotations

import torch
from huggingface_hub.dataclasses import strict
from torch import nn
from transformers import AutoBackbone, AutoModel, LlavaConfig
from transformers.activations import ACT2FN
from transformers.modeling_outputs import BaseModelOutputWithPooling
from transformers.models.llava.modeling_llava import LlavaForConditionalGeneration, LlavaModel


@strict
class Maira2Config(LlavaConfig):
    """`LlavaConfig` plus the projector depth; reads MAIRA-2's raw `config.json` (maira2).

    The text config keeps its RoPE scaling (`rope_scaling` is read into `rope_parameters`).
    """

    model_type = "maira2"
    projector_n_layers: int = 4


class Maira2MultiModalProjector(nn.Module):
    """`projector_n_layers` linear layers with an activation between each pair.

    Parameters are named `layers.{0,2,4,6}` (activations at odd indices), as in the checkpoint.
    """

    def __init__(self, config: Maira2Config) -> None:
        super().__init__()
        if config.projector_n_layers < 1:
            raise ValueError("projector_n_layers must be at least 1")
        vision_width = config.vision_config.hidden_size
        text_width = config.text_config.hidden_size
        bias = config.multimodal_projector_bias
        modules: list[nn.Module] = [nn.Linear(vision_width, text_width, bias=bias)]
        for _ in range(config.projector_n_layers - 1):
            modules.append(ACT2FN[config.projector_hidden_act])
            modules.append(nn.Linear(text_width, text_width, bias=bias))
        self.layers = nn.Sequential(*modules)

    def forward(self, image_features: torch.Tensor) -> torch.Tensor:
        return self.layers(image_features)


class Maira2Model(LlavaModel):
    """LLaVA body with a Dinov2 backbone whose feature maps (after LayerNorm) feed the projector."""

    config_class = Maira2Config

    def __init__(self, config: Maira2Config) -> None:
        super(LlavaModel, self).__init__(config)
        self.vision_tower = AutoBackbone.from_config(config.vision_config)
        self.multi_modal_projector = Maira2MultiModalProjector(config)
        self.language_model = AutoModel.from_config(config.text_config)
        self.post_init()

    def get_image_features(
        self,
        pixel_values: torch.Tensor,
        vision_feature_layer: int | list[int] | None = None,
        vision_feature_select_strategy: str | None = None,
        **kwargs: object,
    ) -> BaseModelOutputWithPooling:
        """Project the backbone's feature map: (n_images, 3, H, W) -> n_images x (tokens, d_model).

        `feature_maps[vision_feature_layer]` is taken after the backbone LayerNorm; strategy
        "default" drops the CLS token. Reshaped (B, C, h, w) maps are flattened (they carry no CLS).
        """
        layer = (
            self.config.vision_feature_layer
            if vision_feature_layer is None
            else vision_feature_layer
        )
        strategy = (
            self.config.vision_feature_select_strategy
            if vision_feature_select_strategy is None
            else vision_feature_select_strategy
        )
        if not isinstance(layer, int):
            raise ValueError("MAIRA-2 uses a single vision feature layer")
        backbone_output = self.vision_tower(pixel_values, return_dict=True)
        features = backbone_output.feature_maps[layer]
        if features.ndim == 4:
            features = features.flatten(2).transpose(1, 2)
        elif strategy == "default":
            features = features[:, 1:]
        projected = self.multi_modal_projector(features)
        return BaseModelOutputWithPooling(last_hidden_state=features, pooler_output=list(projected))


class Maira2ForConditionalGeneration(LlavaForConditionalGeneration):
    """MAIRA-2 for report generation: `Maira2Model` plus a bias-free `lm_head`."""

    config_class = Maira2Config

    def __init__(self, config: Maira2Config) -> None:
        super(LlavaForConditionalGeneration, self).__init__(config)
        self.model = Maira2Model(config)
        self.lm_head = nn.Linear(
            config.text_config.hidden_size, config.text_config.vocab_size, bias=False
        )
        self.post_init()

    def decoder_layers(self) -> nn.ModuleList:
        """The language model's decoder blocks, `model.model.language_model.layers`."""
        return self.model.language_model.layers


def image_feature_count(config: Maira2Config) -> int:
    """Image features (= `<image>` placeholders) per image, from the vision geometry.

    `(image_size / patch_size)^2` patch tokens, plus the CLS token unless the "default" strategy
    drops it or the backbone's reshaped maps never had it (see `get_image_features`):
    (518 / 14)^2 = 1,369 for RAD-DINO. As in the reference pipeline, `config.json`'s
    `image_seq_length` is never read.
    """
    vision = config.vision_config
    per_side = vision.image_size // vision.patch_size
    keeps_cls = config.vision_feature_select_strategy != "default" and not getattr(
        vision, "reshape_hidden_states", False
    )
    return per_side * per_side + int(keeps_cls)
