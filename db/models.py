"""SQLAlchemy 2 ORM models: language models, SAEs, features, report documents, examples,
explanations and their scores."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Text,
    UniqueConstraint,
    Uuid,
    func,
    literal_column,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, REAL, TSVECTOR
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

EXPLANATION_SOURCES = ("csv", "llm", "human", "heuristic")
EXAMPLE_KINDS = ("top", "interval")
SCORE_SPLITS = ("train", "heldout")


class Base(DeclarativeBase):
    """Declarative base with a naming convention, so migrations name constraints predictably."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _created_at() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class LanguageModel(Base):
    """A language model whose residual stream an SAE reads (MAIRA-2, or the tiny test model)."""

    __tablename__ = "models"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(Text, unique=True)
    name: Mapped[str] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(Text, doc="Hub id or local path of the weights.")
    n_layers: Mapped[int | None] = mapped_column(Integer)
    d_model: Mapped[int | None] = mapped_column(Integer)
    config: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    created_at: Mapped[datetime] = _created_at()

    saes: Mapped[list[Sae]] = relationship(back_populates="model")


class Sae(Base):
    """One sparse autoencoder on one hook point of a language model."""

    __tablename__ = "saes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(Text, unique=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="RESTRICT"))
    description: Mapped[str] = mapped_column(Text, server_default="")
    architecture: Mapped[str] = mapped_column(Text, server_default="matryoshka_batch_topk")
    hookpoint: Mapped[str] = mapped_column(Text, doc="Module whose output is read.")
    layer: Mapped[int] = mapped_column(Integer)
    d_in: Mapped[int] = mapped_column(Integer)
    d_sae: Mapped[int] = mapped_column(Integer)
    k: Mapped[int] = mapped_column(Integer)
    threshold: Mapped[float] = mapped_column(Float)
    group_sizes: Mapped[list[int]] = mapped_column(ARRAY(Integer))
    input_scale: Mapped[float] = mapped_column(
        Float, server_default="1", doc="Activations are divided by this before encoding."
    )
    weights_path: Mapped[str | None] = mapped_column(Text)
    weights_sha256: Mapped[str | None] = mapped_column(Text)
    mean_token_norm: Mapped[float | None] = mapped_column(
        Float,
        doc="Mean L2 norm of a report token's raw activation at the hooked layer (precompute).",
    )
    config: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    created_at: Mapped[datetime] = _created_at()

    model: Mapped[LanguageModel] = relationship(back_populates="saes")

    __table_args__ = (
        CheckConstraint("d_sae > 0 AND d_in > 0 AND k > 0", name="positive_sizes"),
        CheckConstraint("input_scale > 0", name="positive_input_scale"),
        CheckConstraint(
            "mean_token_norm IS NULL OR mean_token_norm > 0", name="positive_mean_token_norm"
        ),
    )


class SaeAggregates(Base):
    """Per-SAE aggregates the overview and home pages show, stored by `db.aggregates`.

    `statistics` holds counts, the F1 and density histograms, the frequency-vs-F1 grid and
    Spearman's rho as JSON; `version` is the format that computed it (older rows are recomputed).
    """

    __tablename__ = "sae_aggregates"

    sae_id: Mapped[int] = mapped_column(ForeignKey("saes.id", ondelete="CASCADE"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    n_features: Mapped[int] = mapped_column(Integer)
    n_explained: Mapped[int] = mapped_column(Integer)
    statistics: Mapped[dict[str, Any]] = mapped_column(JSONB)
    computed_at: Mapped[datetime] = _created_at()


class Feature(Base):
    """One SAE latent: its Matryoshka group, activation statistics and decoder neighbours.

    `label` and `f1` mirror the feature's primary explanation (the one with the best held-out
    detection F1) so that list queries filter and sort on indexed columns of this table alone.
    """

    __tablename__ = "features"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    sae_id: Mapped[int] = mapped_column(ForeignKey("saes.id", ondelete="CASCADE"))
    index: Mapped[int] = mapped_column(Integer)
    group: Mapped[int] = mapped_column(Integer, doc="Matryoshka group (0 = coarsest).")
    frequency: Mapped[float | None] = mapped_column(
        Float, doc="Share of scored tokens on which the feature is active."
    )
    n_active: Mapped[int | None] = mapped_column(BigInteger)
    n_tokens: Mapped[int | None] = mapped_column(BigInteger)
    max_activation: Mapped[float | None] = mapped_column(Float)
    mean_activation: Mapped[float | None] = mapped_column(
        Float, doc="Mean over the tokens where the feature is active."
    )
    histogram_edges: Mapped[list[float] | None] = mapped_column(ARRAY(REAL))
    histogram_counts: Mapped[list[int] | None] = mapped_column(ARRAY(BigInteger))
    neighbour_indices: Mapped[list[int] | None] = mapped_column(ARRAY(Integer))
    neighbour_cosines: Mapped[list[float] | None] = mapped_column(ARRAY(REAL))
    label: Mapped[str | None] = mapped_column(Text)
    f1: Mapped[float | None] = mapped_column(Float)
    label_tsv: Mapped[Any] = mapped_column(
        TSVECTOR,
        Computed("to_tsvector('english', coalesce(label, ''))", persisted=True),
    )
    review_state: Mapped[str | None] = mapped_column(
        Text, doc="NULL (unreviewed), 'reviewed' or 'disputed' (see app.services.review.summary)."
    )
    review_mean: Mapped[float | None] = mapped_column(Float, doc="Mean rating, 1 to 5.")
    review_n: Mapped[int | None] = mapped_column(Integer, doc="Ratings summarised.")
    review_reviewers: Mapped[int | None] = mapped_column(Integer, doc="Distinct reviewers.")
    review_agreement: Mapped[float | None] = mapped_column(
        Float, doc="Share of the ratings within 1 of their median."
    )

    sae: Mapped[Sae] = relationship()
    explanations: Mapped[list[Explanation]] = relationship(
        back_populates="feature", cascade="all, delete-orphan", passive_deletes=True
    )

    __table_args__ = (
        UniqueConstraint("sae_id", "index"),
        Index("ix_features_sae_f1", "sae_id", "f1", "index", postgresql_include=["frequency"]),
        Index(
            "ix_features_sae_frequency", "sae_id", "frequency", "index", postgresql_include=["f1"]
        ),
        Index("ix_features_label_tsv", "label_tsv", postgresql_using="gin"),
        Index("ix_features_sae_review_mean", "sae_id", "review_mean", "index"),
        Index("ix_features_sae_review_state", "sae_id", "review_state", "index"),
        CheckConstraint("review_state IN ('reviewed', 'disputed')", name="review_state"),
    )


class Corpus(Base):
    """A report collection that examples were computed on (one precompute input)."""

    __tablename__ = "corpora"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(Text, unique=True)
    name: Mapped[str] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(Text, doc="File the reports were read from.")
    text_only: Mapped[bool] = mapped_column(
        Boolean, server_default="true", doc="True when reports were run without their images."
    )
    n_documents: Mapped[int] = mapped_column(Integer, server_default="0")
    created_at: Mapped[datetime] = _created_at()


class Document(Base):
    """One report, tokenised once; examples point into its token array."""

    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    corpus_id: Mapped[int] = mapped_column(ForeignKey("corpora.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(Text, doc="The report's id in its source corpus.")
    tokens: Mapped[list[str]] = mapped_column(ARRAY(Text))
    meta: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")

    __table_args__ = (UniqueConstraint("corpus_id", "external_id"),)


class Example(Base):
    """A window of a document on which a feature is active, with the per-token values.

    `values` holds little-endian float32, one per token of `tokens[start:end]` (a packed array
    keeps millions of examples compact and fast to bulk-load; `db.examples` decodes it).
    """

    __tablename__ = "examples"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    feature_id: Mapped[int] = mapped_column(ForeignKey("features.id", ondelete="CASCADE"))
    corpus_id: Mapped[int] = mapped_column(ForeignKey("corpora.id", ondelete="CASCADE"))
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(Text)
    rank: Mapped[int] = mapped_column(Integer, doc="Order within its kind and bucket.")
    start: Mapped[int] = mapped_column(Integer, doc="First token of the window (inclusive).")
    end: Mapped[int] = mapped_column(Integer, doc="Last token of the window (exclusive).")
    values: Mapped[bytes] = mapped_column(LargeBinary)
    max_value: Mapped[float] = mapped_column(Float)
    max_position: Mapped[int] = mapped_column(Integer, doc="Document position of the maximum.")
    bin_min: Mapped[float | None] = mapped_column(Float)
    bin_max: Mapped[float | None] = mapped_column(Float)
    bin_share: Mapped[float | None] = mapped_column(
        Float, doc="Share of the feature's active tokens that fall in this interval."
    )

    __table_args__ = (
        CheckConstraint("kind IN ('top', 'interval')", name="kind"),
        CheckConstraint('start >= 0 AND "end" > start', name="span"),
        Index("ix_examples_feature_kind_rank", "feature_id", "kind", "bin_min", "rank"),
        Index("ix_examples_corpus", "corpus_id"),
        Index("ix_examples_document", "document_id"),
    )


class WindowSample(Base):
    """One window of a (SAE, corpus) pair's fixed random sample, with the features active in it.

    `feature_indices` is ascending and `feature_maxima` holds each one's maximum over the window,
    so a feature is inactive in the window exactly when its index is absent.
    """

    __tablename__ = "window_samples"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    sae_id: Mapped[int] = mapped_column(ForeignKey("saes.id", ondelete="CASCADE"))
    corpus_id: Mapped[int] = mapped_column(ForeignKey("corpora.id", ondelete="CASCADE"))
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer, doc="Order in which the sample drew it.")
    start: Mapped[int] = mapped_column(Integer, doc="First token of the window (inclusive).")
    end: Mapped[int] = mapped_column(Integer, doc="Last token of the window (exclusive).")
    seed: Mapped[int] = mapped_column(Integer, doc="Seed of the draw.")
    feature_indices: Mapped[list[int]] = mapped_column(ARRAY(Integer))
    feature_maxima: Mapped[list[float]] = mapped_column(ARRAY(REAL))

    __table_args__ = (
        CheckConstraint('start >= 0 AND "end" > start', name="span"),
        CheckConstraint(
            "cardinality(feature_indices) = cardinality(feature_maxima)", name="sparse"
        ),
        UniqueConstraint("sae_id", "corpus_id", "position"),
        Index("ix_window_samples_features", "feature_indices", postgresql_using="gin"),
        Index("ix_window_samples_document", "document_id"),
    )


class Explanation(Base):
    """A natural-language label of a feature: from a CSV, an LLM, a person or a rule (heuristic)."""

    __tablename__ = "explanations"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    feature_id: Mapped[int] = mapped_column(ForeignKey("features.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text)
    source_key: Mapped[str] = mapped_column(
        Text, doc="Identifies the origin (e.g. 'csv:ef4.csv'); one explanation per key."
    )
    model_name: Mapped[str | None] = mapped_column(Text)
    provenance: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    created_at: Mapped[datetime] = _created_at()
    text_tsv: Mapped[Any] = mapped_column(
        TSVECTOR, Computed("to_tsvector('english', text)", persisted=True)
    )

    feature: Mapped[Feature] = relationship(back_populates="explanations")
    scores: Mapped[list[Score]] = relationship(
        back_populates="explanation", cascade="all, delete-orphan", passive_deletes=True
    )

    __table_args__ = (
        CheckConstraint("source IN ('csv', 'llm', 'human', 'heuristic')", name="source"),
        UniqueConstraint("feature_id", "source_key"),
        Index("ix_explanations_text_tsv", "text_tsv", postgresql_using="gin"),
        Index("ix_explanations_text_lower", func.lower(literal_column("text"))),
    )


class Score(Base):
    """How well an explanation predicts its feature, on the train or held-out split."""

    __tablename__ = "scores"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    explanation_id: Mapped[int] = mapped_column(ForeignKey("explanations.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(Text, doc="Scoring method, e.g. 'detection'.")
    split: Mapped[str] = mapped_column(Text)
    accuracy: Mapped[float | None] = mapped_column(Float)
    balanced_accuracy: Mapped[float | None] = mapped_column(Float)
    precision: Mapped[float | None] = mapped_column(Float)
    recall: Mapped[float | None] = mapped_column(Float)
    f1: Mapped[float | None] = mapped_column(Float)
    n: Mapped[int | None] = mapped_column(Integer)
    auc: Mapped[float | None] = mapped_column(Float)
    details: Mapped[dict[str, Any]] = mapped_column(
        JSONB,
        server_default="{}",
        doc="Autointerp: intervals, unparseable/failed counts, scorer and provenance.",
    )

    explanation: Mapped[Explanation] = relationship(back_populates="scores")

    __table_args__ = (
        CheckConstraint("split IN ('train', 'heldout')", name="split"),
        UniqueConstraint("explanation_id", "kind", "split"),
    )


PRECOMPUTE_STATUSES = ("running", "merging", "done", "failed")


class PrecomputeRun(Base):
    """Progress of computing one SAE's dashboards over one corpus (one row per pair, reused on
    re-runs). `shards` maps each shard number to its progress, e.g.
    `{"0": {"status": "done", "documents": 120, "tokens": 9000}}`."""

    __tablename__ = "precompute_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sae_id: Mapped[int] = mapped_column(ForeignKey("saes.id", ondelete="CASCADE"))
    corpus_id: Mapped[int] = mapped_column(ForeignKey("corpora.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(Text)
    n_shards: Mapped[int] = mapped_column(Integer, server_default="1")
    shards: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    n_documents: Mapped[int] = mapped_column(
        Integer, server_default="0", doc="Documents processed so far, all shards together."
    )
    n_tokens: Mapped[int] = mapped_column(
        BigInteger, server_default="0", doc="Report tokens encoded so far, all shards together."
    )
    config: Mapped[dict[str, Any]] = mapped_column(
        JSONB, server_default="{}", doc="Inputs of the run: reports file, images, model, top-k."
    )
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    sae: Mapped[Sae] = relationship()
    corpus: Mapped[Corpus] = relationship()

    __table_args__ = (
        CheckConstraint("status IN ('running', 'merging', 'done', 'failed')", name="status"),
        UniqueConstraint("sae_id", "corpus_id"),
    )


JOB_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
FINISHED_JOB_STATUSES = ("succeeded", "failed", "cancelled")


class Job(Base):
    """One unit of queued model work (encode, steer, a precompute shard) and all the UI shows
    about it. procrastinate only carries the job id to a worker; status, progress, result and
    the human-readable error live here (`db.jobs` reads and writes them)."""

    __tablename__ = "jobs"

    id: Mapped[uuid.UUID] = mapped_column(
        Uuid, primary_key=True, default=uuid.uuid4, server_default=func.gen_random_uuid()
    )
    kind: Mapped[str] = mapped_column(Text, doc="Handler name, e.g. 'encode' or 'steer'.")
    status: Mapped[str] = mapped_column(Text, server_default="queued")
    priority: Mapped[int] = mapped_column(Integer, server_default="0", doc="Higher runs first.")
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    cache_key: Mapped[str | None] = mapped_column(
        Text, doc="Identical requests share one job (unique while set)."
    )
    progress: Mapped[float] = mapped_column(Float, server_default="0", doc="0..1.")
    progress_message: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    error: Mapped[str | None] = mapped_column(Text, doc="Why it failed, in plain words.")
    error_kind: Mapped[str | None] = mapped_column(
        Text, doc="invalid_input, internal, timeout, worker_lost or infrastructure."
    )
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    max_attempts: Mapped[int] = mapped_column(Integer, server_default="3")
    timeout_s: Mapped[float | None] = mapped_column(
        Float, doc="Time limit of one attempt; NULL uses the worker's setting."
    )
    worker: Mapped[str | None] = mapped_column(Text, doc="host:pid of the worker running it.")
    procrastinate_job_id: Mapped[int | None] = mapped_column(BigInteger)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, server_default="false")
    created_at: Mapped[datetime] = _created_at()
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    owner_user_id: Mapped[int | None] = mapped_column(
        BigInteger,
        ForeignKey("users.id", ondelete="CASCADE"),
        doc="The signed-in user who created it (NULL: anonymous or the command line).",
    )
    owner_anon: Mapped[str | None] = mapped_column(
        Text, doc="sha256 of the anonymous browser id that created it (see db.ownership)."
    )

    __table_args__ = (
        CheckConstraint(
            "status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')", name="status"
        ),
        CheckConstraint("progress >= 0 AND progress <= 1", name="progress"),
        CheckConstraint("max_attempts >= 1", name="max_attempts"),
        Index(
            "uq_jobs_cache_key",
            "cache_key",
            unique=True,
            postgresql_where=text("cache_key IS NOT NULL"),
        ),
        Index(
            "ix_jobs_queue_order",
            text("priority DESC"),
            "created_at",
            postgresql_where=text("status = 'queued'"),
        ),
        Index(
            "ix_jobs_running_heartbeat", "heartbeat_at", postgresql_where=text("status = 'running'")
        ),
        Index("ix_jobs_created_at", "created_at"),
        Index("ix_jobs_kind_status", "kind", "status"),
        Index("ix_jobs_owner_user_id", "owner_user_id"),
    )


class Upload(Base):
    """An uploaded image, stored as a pixels-only PNG under `settings.uploads_dir` until it
    expires (no DICOM header or other metadata is ever kept)."""

    __tablename__ = "uploads"

    id: Mapped[uuid.UUID] = mapped_column(
        Uuid, primary_key=True, default=uuid.uuid4, server_default=func.gen_random_uuid()
    )
    sha256: Mapped[str] = mapped_column(Text, doc="Hex sha256 of the stored PNG's pixels.")
    path: Mapped[str] = mapped_column(
        Text, doc="File name under uploads_dir; uploads of identical pixels share one file."
    )
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    n_bytes: Mapped[int] = mapped_column(BigInteger, doc="Size of the stored PNG.")
    created_at: Mapped[datetime] = _created_at()
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    owner_user_id: Mapped[int | None] = mapped_column(
        BigInteger,
        ForeignKey("users.id", ondelete="CASCADE"),
        doc="The signed-in user who created it (NULL: anonymous or the command line).",
    )
    owner_anon: Mapped[str | None] = mapped_column(
        Text, doc="sha256 of the anonymous browser id that created it (see db.ownership)."
    )

    __table_args__ = (
        CheckConstraint("expires_at > created_at", name="expiry"),
        Index("ix_uploads_owner_user_id", "owner_user_id"),
        Index("ix_uploads_owner_anon", "owner_anon"),
        Index("ix_uploads_expires_at", "expires_at"),
        Index("ix_uploads_sha256", "sha256"),
        Index("ix_uploads_path", "path"),
    )


class Worker(Base):
    """A running `maira-sae worker` (host:pid). It beats `heartbeat_at` every few seconds and
    deletes its row when it stops; a row older than `stale_after_s` is a worker that died."""

    __tablename__ = "workers"

    name: Mapped[str] = mapped_column(Text, primary_key=True, doc="host:pid.")
    concurrency: Mapped[int] = mapped_column(Integer, doc="Jobs it runs at once.")
    stale_after_s: Mapped[float] = mapped_column(
        Float, doc="Without a heartbeat for this long, the worker (and its jobs) are lost."
    )
    started_at: Mapped[datetime] = _created_at()
    heartbeat_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )

    __table_args__ = (CheckConstraint("stale_after_s > 0", name="stale_after_positive"),)


CAMPAIGN_STATUSES = ("open", "closed")
MEANINGFUL_ANSWERS = ("yes", "no", "unsure")
REVIEW_CATEGORIES = (
    "finding",
    "device",
    "anatomy",
    "negation_or_uncertainty",
    "comparison_or_change",
    "report_structure_or_style",
    "other",
)


class Campaign(Base):
    """A label review: which SAE's features, which label source, how many reviewers each.

    `selection` is the spec the items were drawn from (explicit list, stratified sample or
    feature-list filters) as JSON; `label_source` is the explanations' `source_key` under review
    (NULL: each feature's primary explanation). `created_by` is the admin who created it (NULL
    once that account is deleted).
    """

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    sae_id: Mapped[int] = mapped_column(ForeignKey("saes.id", ondelete="CASCADE"))
    selection: Mapped[dict[str, Any]] = mapped_column(JSONB)
    label_source: Mapped[str | None] = mapped_column(Text)
    reviewers_per_feature: Mapped[int] = mapped_column(Integer)
    overlap_size: Mapped[int] = mapped_column(
        Integer, doc="Items every reviewer rates, for agreement."
    )
    blinded: Mapped[bool] = mapped_column(Boolean, server_default="true")
    decoy_share: Mapped[float] = mapped_column(Float, server_default="0")
    seed: Mapped[int] = mapped_column(Integer, server_default="0")
    n_items: Mapped[int] = mapped_column(Integer, server_default="0")
    status: Mapped[str] = mapped_column(Text, server_default="open")
    created_by: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = _created_at()

    sae: Mapped[Sae] = relationship()

    __table_args__ = (
        CheckConstraint("status IN ('open', 'closed')", name="status"),
        CheckConstraint("reviewers_per_feature >= 1", name="reviewers_per_feature"),
        CheckConstraint("overlap_size >= 0", name="overlap_size"),
        CheckConstraint("decoy_share >= 0 AND decoy_share < 1", name="decoy_share"),
    )


class CampaignItem(Base):
    """One thing to rate: a feature shown with one label. A decoy shows the label of
    `decoy_source_index` instead of its own; overlap items are rated by every reviewer.
    `position` numbers a campaign's items 0..n_items-1 (reviewers' orders permute it) and
    `n_ratings` counts its submitted (not skipped) ratings."""

    __tablename__ = "campaign_items"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    feature_index: Mapped[int] = mapped_column(Integer)
    explanation_id: Mapped[int] = mapped_column(
        ForeignKey("explanations.id", ondelete="CASCADE"), doc="The label shown."
    )
    is_decoy: Mapped[bool] = mapped_column(Boolean, server_default="false")
    decoy_source_index: Mapped[int | None] = mapped_column(Integer)
    is_overlap: Mapped[bool] = mapped_column(Boolean, server_default="false")
    n_ratings: Mapped[int] = mapped_column(Integer, server_default="0")

    explanation: Mapped[Explanation] = relationship()

    __table_args__ = (
        UniqueConstraint("campaign_id", "position"),
        CheckConstraint(
            "is_decoy = (decoy_source_index IS NOT NULL) AND NOT (is_decoy AND is_overlap)",
            name="decoy",
        ),
        Index(
            "ix_campaign_items_open",
            "campaign_id",
            "n_ratings",
            postgresql_include=["position"],
            postgresql_where=text("NOT is_overlap"),
        ),
        Index("ix_campaign_items_feature", "campaign_id", "feature_index"),
        Index("ix_campaign_items_explanation_id", "explanation_id"),
    )


class Rating(Base):
    """One reviewer's answer on one item (or a skip); a reviewer may change it later.
    `campaign_id` repeats the item's campaign so a reviewer's answers are one index range."""

    __tablename__ = "ratings"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    item_id: Mapped[int] = mapped_column(ForeignKey("campaign_items.id", ondelete="CASCADE"))
    reviewer_id: Mapped[int] = mapped_column(
        BigInteger,
        ForeignKey("users.id", ondelete="RESTRICT"),
        doc="The reviewer (an account that rated cannot be deleted).",
    )
    rating: Mapped[int | None] = mapped_column(Integer, doc="1 (wrong) to 5 (exact).")
    meaningful: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(Text)
    corrected_label: Mapped[str | None] = mapped_column(Text)
    comment: Mapped[str | None] = mapped_column(Text)
    skipped: Mapped[bool] = mapped_column(Boolean, server_default="false")
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )

    item: Mapped[CampaignItem] = relationship()

    __table_args__ = (
        UniqueConstraint("item_id", "reviewer_id"),
        CheckConstraint("rating BETWEEN 1 AND 5", name="rating"),
        CheckConstraint("skipped OR rating IS NOT NULL", name="answered"),
        CheckConstraint("meaningful IN ('yes', 'no', 'unsure')", name="meaningful"),
        CheckConstraint(
            "category IN ('finding', 'device', 'anatomy', 'negation_or_uncertainty', "
            "'comparison_or_change', 'report_structure_or_style', 'other')",
            name="category",
        ),
        Index("ix_ratings_campaign_reviewer", "campaign_id", "reviewer_id", "item_id"),
    )


class SteeringStudy(Base):
    """A steering study: features of one SAE steered over many studies at chosen alphas.

    `params` holds the request as queued (alphas, targets, generation settings); `job_ids` the
    `steering_study_part` jobs it was split into, whose results are aggregated when shown.
    """

    __tablename__ = "steering_studies"

    id: Mapped[uuid.UUID] = mapped_column(
        Uuid, primary_key=True, default=uuid.uuid4, server_default=func.gen_random_uuid()
    )
    sae_id: Mapped[int] = mapped_column(ForeignKey("saes.id", ondelete="CASCADE"))
    features: Mapped[list[int]] = mapped_column(ARRAY(Integer))
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    job_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(Uuid))
    created_at: Mapped[datetime] = _created_at()

    __table_args__ = (Index("ix_steering_studies_features", "features", postgresql_using="gin"),)


AUTOINTERP_RUN_STATUSES = ("queued", "running", "done", "failed")
VERDICT_STATUSES = ("ok", "unparseable", "failed")


class AutointerpRun(Base):
    """One autointerp run over features of an SAE: its settings, progress and spending."""

    __tablename__ = "autointerp_runs"

    id: Mapped[uuid.UUID] = mapped_column(
        Uuid, primary_key=True, default=uuid.uuid4, server_default=func.gen_random_uuid()
    )
    sae_id: Mapped[int] = mapped_column(ForeignKey("saes.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(Text, server_default="queued")
    config: Mapped[dict[str, Any]] = mapped_column(JSONB)
    feature_indices: Mapped[list[int]] = mapped_column(ARRAY(Integer))
    token_budget: Mapped[int | None] = mapped_column(BigInteger)
    n_calls: Mapped[int] = mapped_column(Integer, server_default="0")
    n_cached: Mapped[int] = mapped_column(Integer, server_default="0")
    n_failed_calls: Mapped[int] = mapped_column(Integer, server_default="0")
    prompt_tokens: Mapped[int] = mapped_column(BigInteger, server_default="0")
    completion_tokens: Mapped[int] = mapped_column(BigInteger, server_default="0")
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created_at()
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint("status IN ('queued', 'running', 'done', 'failed')", name="status"),
    )


class AutointerpRunFeature(Base):
    """A feature an autointerp run finished (done, or failed with the reason)."""

    __tablename__ = "autointerp_run_features"

    run_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("autointerp_runs.id", ondelete="CASCADE"), primary_key=True
    )
    feature_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(Text)
    explanation_id: Mapped[int | None] = mapped_column(
        ForeignKey("explanations.id", ondelete="SET NULL")
    )
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created_at()

    __table_args__ = (CheckConstraint("status IN ('done', 'failed')", name="status"),)


class AutointerpVerdict(Base):
    """One example a score was computed on, with the truth and the LLM's verdict."""

    __tablename__ = "autointerp_verdicts"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    score_id: Mapped[int] = mapped_column(ForeignKey("scores.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    example_id: Mapped[int | None] = mapped_column(
        BigInteger, doc="The stored example the window came from (this or another feature's)."
    )
    document_id: Mapped[int] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(Text, doc="top, interval, neighbour or random.")
    activating: Mapped[bool] = mapped_column(Boolean)
    prediction: Mapped[bool | None] = mapped_column(Boolean)
    probability: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(Text)
    shown: Mapped[str] = mapped_column(Text, doc="The example as the scorer saw it.")

    __table_args__ = (
        CheckConstraint("status IN ('ok', 'unparseable', 'failed')", name="status"),
        Index("ix_autointerp_verdicts_score_id", "score_id", "position"),
    )


class LlmResponse(Base):
    """A cached LLM answer, keyed by the hash of its request, so no call is paid twice."""

    __tablename__ = "llm_responses"

    key: Mapped[str] = mapped_column(Text, primary_key=True)
    model: Mapped[str] = mapped_column(Text)
    response: Mapped[dict[str, Any]] = mapped_column(JSONB)
    prompt_tokens: Mapped[int] = mapped_column(Integer, server_default="0")
    completion_tokens: Mapped[int] = mapped_column(Integer, server_default="0")
    created_at: Mapped[datetime] = _created_at()


USER_ROLES = ("admin", "reviewer", "researcher")


class User(Base):
    """An account: a name, an argon2 password hash and one role."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(Text, unique=True)
    role: Mapped[str] = mapped_column(Text)
    password_hash: Mapped[str] = mapped_column(Text, doc="argon2id, PHC string format.")
    created_at: Mapped[datetime] = _created_at()
    password_changed_at: Mapped[datetime] = _created_at()

    __table_args__ = (
        CheckConstraint("role IN ('admin', 'reviewer', 'researcher')", name="role"),
        CheckConstraint("length(name) BETWEEN 1 AND 64", name="name_length"),
    )


class UserSession(Base):
    """A signed-in browser: the sha256 of its cookie's random token (never the token itself)."""

    __tablename__ = "sessions"

    token_sha256: Mapped[str] = mapped_column(Text, primary_key=True)
    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = _created_at()
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class ApiKey(Base):
    """A named API key of a user: only the sha256 of the key and its first characters are kept."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(Text)
    prefix: Mapped[str] = mapped_column(Text, doc="The key's first characters, to recognise it.")
    key_sha256: Mapped[str] = mapped_column(Text, unique=True)
    created_at: Mapped[datetime] = _created_at()
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RateLimitWindow(Base):
    """Requests one subject (key, user or client address) made to one bucket in the current
    fixed window; shared by every web process."""

    __tablename__ = "rate_limits"

    bucket: Mapped[str] = mapped_column(Text, primary_key=True)
    subject: Mapped[str] = mapped_column(Text, primary_key=True)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    count: Mapped[int] = mapped_column(Integer)


class Adjudication(Base):
    """An admin's final verdict on a feature's label within a campaign: the label is correct,
    wrong, or should read `corrected_label`. `adjudicator_id` is the admin who decided (an
    account that adjudicated cannot be deleted)."""

    __tablename__ = "adjudications"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    feature_index: Mapped[int] = mapped_column(Integer)
    verdict: Mapped[str] = mapped_column(Text)
    corrected_label: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    adjudicator_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="RESTRICT")
    )
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )

    __table_args__ = (
        UniqueConstraint("campaign_id", "feature_index"),
        CheckConstraint("verdict IN ('correct', 'wrong', 'corrected')", name="verdict"),
        CheckConstraint(
            "(verdict = 'corrected') = (corrected_label IS NOT NULL)", name="corrected_label"
        ),
    )
