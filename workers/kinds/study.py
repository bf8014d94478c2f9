"""Parameters shared by the kinds that run MAIRA-2 on a study: images, text, SAE, generation."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict, Field, computed_field

from workers.kinds.contract import NOT_KEYED, JobParams, digest, key_payload

IMAGE_ROLES = ("frontal", "lateral", "prior_frontal")
TEXT_FIELDS = ("indication", "technique", "comparison", "prior_report")
BASELINE_KEY_VERSION = 2


class UploadRef(BaseModel):
    """A stored upload: its id (which expires) and the hash of its pixels (which decides)."""

    model_config = ConfigDict(frozen=True)

    id: uuid.UUID = Field(json_schema_extra=NOT_KEYED)
    sha256: str


class StudyParams(BaseModel):
    """A study as the model sees it: up to three images and the prompt's free text."""

    model_config = ConfigDict(frozen=True)

    frontal: UploadRef
    lateral: UploadRef | None = None
    prior_frontal: UploadRef | None = None
    indication: str | None = None
    technique: str | None = None
    comparison: str | None = None
    prior_report: str | None = None

    def uploads(self) -> dict[str, UploadRef]:
        """The study's images by role (frontal, lateral, prior_frontal)."""
        refs = {role: getattr(self, role) for role in IMAGE_ROLES}
        return {role: ref for role, ref in refs.items() if ref is not None}


class StudyJobParams(JobParams):
    """What every report-writing kind needs: model, SAE, study and generation settings."""

    model: str = Field(description="Slug of the language model the SAE was trained on.")
    sae: str = Field(description="Slug of the SAE.")
    sae_weights_sha256: str | None = Field(description="Hash of the SAE's weights file.")
    study: StudyParams
    max_new_tokens: int = Field(ge=1, description="Cap on generated report tokens.")
    seed: int = Field(0, ge=0)
    greedy: bool = True

    @computed_field  # type: ignore[prop-decorator]
    @property
    def baseline_key(self) -> str:
        """Keys the unsteered report (model, study, generation), shared across kinds."""
        return digest(
            {
                "v": BASELINE_KEY_VERSION,
                "model": self.model,
                "study": key_payload(self.study),
                "max_new_tokens": self.max_new_tokens,
                "seed": self.seed,
                "greedy": self.greedy,
            }
        )
