"""Requests and answers of the live endpoints: uploads, encode and steer jobs."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from workers.findings.phrases import OBSERVATIONS
from workers.kinds.steer import MAX_SWEEP

MAX_NEW_TOKENS_CAP = 300
DEFAULT_MAX_NEW_TOKENS = 150
MAX_STEERED_FEATURES = 16
ALPHA_LIMIT = 1000.0

MAX_SHIFT_NORMS = 2.0
SUGGESTED_NORM_ALPHA = 0.45

ALPHA_DESCRIPTION = (
    "Steering strength, one number or a list (an alpha sweep: one steered report per value, "
    "all from one batched generate; every listed feature then gives as many values). "
    'With `alpha_unit` "raw" (default) alpha is in raw residual-stream units at layer 15: '
    "the worker adds `alpha * steering_scale * W_dec[index] / |W_dec[index]|` to the layer's "
    "output at every position (prompt, image tokens and each generated token); "
    '`steering_scale` is a deployment setting (default 1). With `alpha_unit` "norm" alpha '
    "is a fraction of the layer's mean token norm, measured by precompute and shown on the SAE "
    "(0.45 is the paper's alpha = 10 on MAIRA-2, whose tokens have norm about 22). A push "
    f"larger than {MAX_SHIFT_NORMS:g} × the mean token norm (summed over the features of a "
    "step) is rejected with 422: generation then degenerates into repeated tokens."
)

AlphaValue = Annotated[float, Field(ge=-ALPHA_LIMIT, le=ALPHA_LIMIT)]


def _as_list(value: object) -> object:
    return value if isinstance(value, list) else [value]


_ALPHA_NUMBER = {"type": "number", "minimum": -ALPHA_LIMIT, "maximum": ALPHA_LIMIT}
AlphaSweep = Annotated[
    list[AlphaValue],
    BeforeValidator(_as_list),
    Field(min_length=1, max_length=MAX_SWEEP),
    WithJsonSchema(
        {
            "anyOf": [
                _ALPHA_NUMBER,
                {"type": "array", "items": _ALPHA_NUMBER, "minItems": 1, "maxItems": MAX_SWEEP},
            ]
        }
    ),
]


class UploadOut(BaseModel):
    """A stored, de-identified image (pixels only) and when it will be deleted."""

    id: uuid.UUID
    sha256: str = Field(description="sha256 of the stored pixels (equal images hash equal).")
    width: int
    height: int
    created_at: datetime
    expires_at: datetime = Field(description="The image is deleted at this time.")
    url: str = Field(description="This upload in the API (DELETE it to remove it now).")


class StudyFields(BaseModel):
    """The free-text parts of MAIRA-2's prompt; empty means 'N/A'."""

    model_config = ConfigDict(str_strip_whitespace=True)

    indication: str | None = Field(None, max_length=4000, description="Reason for the study.")
    technique: str | None = Field(None, max_length=4000, description="e.g. 'PA and lateral'.")
    comparison: str | None = Field(None, max_length=4000, description="Prior studies compared.")
    prior_report: str | None = Field(
        None, max_length=20000, description="The prior study's report (used with a prior image)."
    )


class StudyRef(StudyFields):
    """A study whose images are stored uploads (POST /api/v1/uploads returns their ids)."""

    frontal: uuid.UUID = Field(description="Upload id of the current frontal image.")
    lateral: uuid.UUID | None = Field(None, description="Upload id of the current lateral image.")
    prior_frontal: uuid.UUID | None = Field(
        None, description="Upload id of the prior frontal image."
    )


class EncodeRequest(StudyRef):
    """Generate the findings report for a study and read its SAE features token by token."""

    sae: str = Field(description="Slug of the SAE to encode with.")
    max_new_tokens: int = Field(
        DEFAULT_MAX_NEW_TOKENS, ge=1, le=MAX_NEW_TOKENS_CAP, description="Report length cap."
    )
    top_features: int = Field(10, ge=1, le=64, description="Features listed per token.")


class FeatureAlpha(BaseModel):
    """One feature to steer with and its strength."""

    index: int = Field(ge=0, description="Feature index in the SAE.")
    alpha: AlphaSweep = Field(description=ALPHA_DESCRIPTION)

    def alphas(self) -> list[float]:
        """The alphas (one value: a list of one)."""
        return list(self.alpha)


class SteerRequest(StudyRef):
    """Generate the report with and without adding SAE decoder directions, then compare."""

    sae: str = Field(description="Slug of the SAE whose decoder rows steer the model.")
    features: list[FeatureAlpha] = Field(
        min_length=1, max_length=MAX_STEERED_FEATURES, description="Features and strengths."
    )
    alpha_unit: Literal["raw", "norm"] = Field(
        "raw",
        description="raw: residual-stream units; norm: fractions of the SAE's mean token norm.",
    )
    targets: list[Literal[OBSERVATIONS]] | None = Field(  # type: ignore[valid-type]
        None,
        max_length=len(OBSERVATIONS),
        description="CheXpert observations the steering aims at; default: those the features' "
        "labels name.",
    )
    max_new_tokens: int = Field(
        DEFAULT_MAX_NEW_TOKENS, ge=1, le=MAX_NEW_TOKENS_CAP, description="Report length cap."
    )
    seed: int = Field(0, ge=0, le=2**31 - 1, description="Random seed (matters when sampling).")
    greedy: bool = Field(
        True, description="Greedy decoding (default): alpha 0 reproduces the baseline exactly."
    )


class JobAccepted(BaseModel):
    """A queued (or already existing) job; poll `api_url` or open `url`."""

    id: uuid.UUID
    kind: str
    status: str
    cached: bool = Field(description="True when an identical earlier request's job is reused.")
    url: str = Field(description="The job's page (progress, then the result).")
    api_url: str = Field(description="The job in the API: status, progress, result.")


def _inline(schema: object, definitions: dict[str, object]) -> object:
    if isinstance(schema, dict):
        reference = schema.get("$ref")
        if isinstance(reference, str) and reference.startswith("#/$defs/"):
            return _inline(definitions[reference.removeprefix("#/$defs/")], definitions)
        return {key: _inline(value, definitions) for key, value in schema.items() if key != "$defs"}
    if isinstance(schema, list):
        return [_inline(item, definitions) for item in schema]
    return schema


def request_body_docs(model: type[BaseModel], *, json: bool) -> dict[str, object]:
    """OpenAPI `requestBody` for an endpoint that reads its body itself: multipart (image
    fields take a file or an upload id; `features` is JSON text) and, with `json`, JSON."""
    schema = model.model_json_schema()
    flat = _inline(schema, schema.get("$defs", {}))
    assert isinstance(flat, dict)
    form = {**flat, "properties": dict(flat["properties"])}
    for role in ("frontal", "lateral", "prior_frontal"):
        form["properties"][role] = {
            "description": "An image file (PNG, JPEG or DICOM), or the id of an earlier upload.",
            "type": "string",
            "format": "binary",
        }
    if "features" in form["properties"]:
        form["properties"]["features"] = {
            "type": "string",
            "description": 'JSON list, e.g. [{"index": 12, "alpha": 10}]. ' + ALPHA_DESCRIPTION,
        }
    content: dict[str, object] = {"multipart/form-data": {"schema": form}}
    if json:
        content["application/json"] = {"schema": flat}
    return {"requestBody": {"required": True, "content": content}}
