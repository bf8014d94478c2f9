"""Deployment settings read from `MAIRA_SAE_*` environment variables, shared by web and workers."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LABEL_KINDS = ("adjudicated", "consensus", "llm-best")


def study_sets_dir(home: Path) -> Path:
    """Where named study sets live: `<home>/study_sets/<name>/reports.csv` and `images/`."""
    return home / "study_sets"


class Settings(BaseSettings):
    """Every knob of a deployment; built by `get_settings()`, never at import."""

    model_config = SettingsConfigDict(env_prefix="MAIRA_SAE_", frozen=True)

    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the PostgreSQL server; unset starts an embedded server "
        "with its data under `home`.",
    )
    home: Path = Field(Path("var"), description="Data folder: embedded database, uploads, models.")
    host: str = Field("127.0.0.1", description="Address the web server binds to.")
    port: int = Field(8000, description="Port the web server listens on.")
    db_pool_size: int = Field(
        10,
        ge=1,
        description="Database connections each web process keeps; it also lets at most this "
        "many requests use the database at once (the others queue for admission).",
    )
    db_read_pool_size: int = Field(
        4,
        ge=1,
        description="Connections each web process keeps, besides `db_pool_size`, for the reads "
        "it runs on the event loop (a feature's JSON record); admitted requests wait for one.",
    )
    db_pool_timeout_s: float = Field(
        5.0, gt=0, description="Longest wait for a pooled connection before a 503 (a backstop)."
    )
    admission_timeout_s: float = Field(
        10.0,
        gt=0,
        description="Longest a request queues for a database slot before it is answered 503 "
        "with Retry-After.",
    )
    admission_max_waiting: int = Field(
        1000, ge=0, description="Requests allowed to queue per web process; more get 503 at once."
    )
    busy_retry_after_s: int = Field(
        1, ge=1, description="The Retry-After, in seconds, sent with a 503 when the server is busy."
    )
    web_workers: int = Field(
        1, ge=1, description="Web processes `maira-sae serve` starts (uvicorn workers)."
    )
    upload_max_bytes: int = Field(32 * 1024 * 1024, description="Largest accepted upload.")
    upload_max_pixels: int = Field(
        50_000_000, description="Largest accepted image, in pixels (decompression bombs)."
    )
    upload_retention_hours: float = Field(
        72.0, description="Stored uploads are deleted this long after they arrive."
    )
    upload_max_aspect_ratio: float = Field(
        4.0, ge=1, description="An image's long side may be at most this many times its short side."
    )
    upload_decode_budget_bytes: int = Field(
        256 * 1024 * 1024,
        gt=0,
        description="Memory one web process may use at once to check uploaded images; an image "
        "that alone needs more (judged from its header) is refused with 413, others wait.",
    )
    upload_storage_max_bytes: int = Field(
        4 * 1024**3,
        gt=0,
        description="Total size of stored uploads; a new image beyond it is refused with 507.",
    )
    body_stall_timeout_s: float = Field(
        30.0,
        gt=0,
        description="A client that sends no part of its request body for this long gets 408.",
    )
    job_timeout_s: float = Field(600.0, description="A job running longer than this fails.")
    job_heartbeat_s: float = Field(
        2.0, gt=0, description="How often a worker marks its running jobs (and itself) alive."
    )
    job_stale_after_s: float = Field(
        6.0,
        gt=0,
        description="A running job whose heartbeat is older than this is re-queued (or failed "
        "after its last attempt) by any other worker within one more heartbeat interval.",
    )
    job_max_attempts: int = Field(
        3, ge=1, description="Attempts of a job lost to a dead worker or a database failure."
    )
    extra_handlers: str = Field(
        "",
        description="Comma-separated modules a worker imports to register more job handlers "
        "(plugins), besides those listed in workers.queue.handlers.HANDLER_MODULES.",
    )
    worker_shutdown_grace_s: float = Field(
        10.0, ge=0, description="On SIGTERM a worker waits this long, then re-queues its jobs."
    )
    model_path: str = Field(
        "tiny", description="MAIRA-2 weights folder, or 'tiny' for the offline test model."
    )
    steering_scale: float = Field(
        1.0, description="Steering adds alpha * steering_scale * unit decoder row (raw units)."
    )

    llm_base_url: str = Field(
        "http://127.0.0.1:8011/v1",
        description="OpenAI-compatible endpoint for autointerp (vLLM, Ollama, llama.cpp, the "
        "stand-in of `maira-sae llm-standin`), or the Azure OpenAI resource URL.",
    )
    llm_endpoint_kind: Literal["openai", "azure"] = Field(
        "openai", description="'azure' uses the Azure OpenAI client (with llm_api_version)."
    )
    llm_api_key: str | None = Field(None, description="Key of the LLM endpoint, if it needs one.")
    llm_api_version: str | None = Field(None, description="Azure OpenAI API version.")
    llm_allow_remote: bool = Field(
        False,
        description="Allow an LLM endpoint outside loopback/private addresses (report text "
        "then leaves the site). Forbidden by default.",
    )
    llm_concurrency: int = Field(16, ge=1, description="LLM calls in flight per autointerp job.")
    llm_timeout_s: float = Field(120.0, gt=0, description="Time limit of one LLM call.")
    llm_max_attempts: int = Field(
        5, ge=1, description="Attempts of an LLM call answered 429, 5xx or not at all."
    )
    llm_backoff_s: float = Field(
        0.5, ge=0, description="First back-off of a retried LLM call; doubles per attempt."
    )

    upload_quota_bytes: int = Field(
        512 * 1024**2,
        gt=0,
        description="Stored uploads one user (or anonymous browser) may hold at once; beyond "
        "it a new image is refused with 507.",
    )
    require_login: bool = Field(
        False,
        description="Every page and API call requires signing in (pages redirect to /login, "
        "the API answers 401); off, browsing is public.",
    )
    session_days: float = Field(14.0, gt=0, description="A sign-in lasts this many days.")
    secure_cookies: bool = Field(
        False, description="Mark cookies Secure (set it when the site is served over HTTPS)."
    )
    rate_limit_per_window: int = Field(
        30,
        ge=1,
        description="Requests each API key, user or anonymous client address may make to each "
        "expensive endpoint (encode, steer, uploads) per window; more get 429 with Retry-After.",
    )
    rate_limit_window_s: int = Field(60, ge=1, description="Length of a rate-limit window.")
    rate_limits: dict[str, int] = Field(
        default_factory=dict,
        description="Per-bucket limits overriding rate_limit_per_window, as JSON, e.g. "
        '{"encode": 10, "login": 5}. Buckets: encode, steer, uploads, login, autointerp, '
        "steering_studies.",
    )
    login_attempts_per_window: int = Field(
        10, ge=1, description="Sign-in attempts each client address may make per window."
    )

    def rate_limit(self, bucket: str) -> int:
        """Requests allowed per window in `bucket`."""
        if bucket in self.rate_limits:
            return self.rate_limits[bucket]
        return self.login_attempts_per_window if bucket == "login" else self.rate_limit_per_window

    label_precedence: str = Field(
        "adjudicated,consensus,llm-best",
        description="Which label a feature shows first, as a comma-separated order of "
        "'adjudicated' (an admin's verdict in a review campaign), 'consensus' (a correction "
        "reviewers agreed on) and 'llm-best' (the imported or LLM label with the best held-out "
        "detection F1). Kinds left out rank after those named.",
    )

    @field_validator("label_precedence")
    @classmethod
    def _known_label_kinds(cls, value: str) -> str:
        kinds = [kind.strip() for kind in value.split(",") if kind.strip()]
        unknown = set(kinds) - set(LABEL_KINDS)
        if unknown or len(set(kinds)) != len(kinds):
            raise ValueError(f"list each of {', '.join(LABEL_KINDS)} at most once (got {value!r})")
        return ",".join(kinds)

    @property
    def label_order(self) -> list[str]:
        """Every label kind, the ones the setting names first, in its order."""
        named = [kind for kind in self.label_precedence.split(",") if kind]
        return named + [kind for kind in LABEL_KINDS if kind not in named]

    @property
    def uploads_dir(self) -> Path:
        return self.home / "uploads"

    @property
    def study_sets_dir(self) -> Path:
        return study_sets_dir(self.home)


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return Settings()
