"""`maira-sae demo`: build the demo dataset once, then serve it with a queue worker beside it.

The dataset (first start, or `--rebuild`): the model organism (`workers.maira2.organism`: the tiny
MAIRA-2 classes trained to write OpenI findings for drawn studies that show them, cached under
MAIRA_SAE_HOME/models/organism; `--reports CSV` to learn other reports, synthetic ones when
OpenI's file is absent), its training studies as the corpus, one capture pass that records the
report-token activations, a Matryoshka BatchTopK SAE trained on them (8 x 64 = 512 features,
k = 16), imported as SAE 'demo', its dashboards computed from the recorded activations (no second
forward pass), and keyword labels (`workers.precompute.keywords`: data-driven, no LLM, marked as
such). Later starts find it in the database and go straight to serving.
"""

from __future__ import annotations

import argparse
import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING

import uvicorn
from sqlalchemy import Engine, text

from app.users import ensure_demo_accounts
from db.aggregates import refresh_sae_aggregates
from db.embedded import embedded_postgres_running, stop_embedded_postgres
from db.engine import make_engine, make_sessionmaker, resolve_database_url
from db.labels import refresh_primary_labels
from db.migrate import upgrade
from db.settings import get_settings, study_sets_dir
from workers.autointerp.demo import label_with_standin
from workers.console import log_to_file, say, stage

if TYPE_CHECKING:
    from workers.maira2.organism import OrganismConfig

log = logging.getLogger(__name__)

DEMO_SAE = "demo"
MODEL = "organism"
LM_NAME = "maira-2-organism"
HELD_OUT_SET = "demo-held-out"
N_REPORTS = 2000
EXPANSION = 8
K = 16
TRAIN_BATCH = 1024
TRAIN_STEPS = 1000
CAPTURE_BATCH = 32
PR_SET_PDEATHSIG = 1


@dataclass
class DemoBuild:
    """Where the demo's files go, and how long each step took (seconds)."""

    home: Path
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def folder(self) -> Path:
        return self.home / "demo"

    @property
    def sae_folder(self) -> Path:
        return self.home / "saes" / DEMO_SAE

    def timed(self, name: str, started: float) -> None:
        self.timings[name] = round(time.monotonic() - started, 2)
        log.info("demo: %s took %.1f s", name, self.timings[name])


def demo_present(engine: Engine) -> bool:
    """True when SAE 'demo' exists and its dashboards were computed."""
    with engine.connect() as connection:
        return bool(
            connection.execute(
                text(
                    "SELECT 1 FROM precompute_runs r JOIN saes s ON s.id = r.sae_id "
                    "WHERE s.slug = :slug AND r.status = 'done'"
                ),
                {"slug": DEMO_SAE},
            ).first()
        )


def capture_corpus(
    build: DemoBuild,
    reports_csv: Path,
    limit: int | None,
    total: int | None = None,
    images: Path | None = None,
) -> tuple[Path, Path]:
    """One pass of the organism over the corpus: (replay folder, activation dataset folder).

    `total` (reports, when known) sizes the progress bar; `images` holds each study's image.
    """
    import shutil

    from sae.activation_shards import ActivationShardWriter
    from workers.corpus import read_reports
    from workers.maira2.runner import Maira2Runner
    from workers.precompute.sources import ReplayWriter, RunnerSource

    replay, activations = build.folder / "replay", build.folder / "activations"
    for folder in (replay, activations):
        shutil.rmtree(folder, ignore_errors=True)
    source = RunnerSource(Maira2Runner.load(MODEL), batch_size=CAPTURE_BATCH)
    recorder = ReplayWriter(replay)
    reports = iter(read_reports(reports_csv, images=images, limit=limit))
    meta = {"lm_name": LM_NAME, "layer": 15, "reports": str(reports_csv)}
    with (
        ActivationShardWriter(activations, source.runner.d_model, meta, dtype="float32") as sink,
        stage("capture", total, "report") as bar,
    ):
        while batch := list(islice(reports, CAPTURE_BATCH * 4)):
            for report, captured in zip(batch, source.capture(batch), strict=True):
                recorder.add(report, captured)
                if captured.activations.shape[0]:
                    sink.add(captured.activations)
            bar.update(len(batch))
    recorder.close()
    return replay, activations


def train_demo_sae(build: DemoBuild, activations: Path, steps: int) -> Path:
    """Train the demo SAE on the recorded activations and save it under home/saes/demo."""
    from sae import save_sae
    from sae.activation_shards import iter_activation_batches, read_meta
    from sae.train import (
        StepMetrics,
        TrainConfig,
        estimate_norm_factor,
        library_config,
        train_sae,
    )
    from workers.training import endless_batches

    meta = read_meta(activations)
    batch_size = min(TRAIN_BATCH, int(meta["n_tokens"]))
    config = TrainConfig(
        dict_size=EXPANSION * int(meta["d_in"]),
        k=K,
        steps=steps,
        warmup_steps=steps // 10,
        threshold_start_step=steps // 5,
        dead_feature_threshold=max(batch_size, steps * batch_size // 10),
        layer=15,
        lm_name=LM_NAME,
    )
    norm_factor = estimate_norm_factor(iter_activation_batches(activations, batch_size))
    with stage("train", steps, "step") as bar:

        def on_step(step: int, metrics: StepMetrics) -> None:
            bar.update(1)
            if step % 50 == 0 or step == steps - 1:
                bar.set_postfix(fvu=f"{metrics.fvu:.3f}", refresh=False)

        result = train_sae(
            endless_batches(activations, batch_size, 0), config, norm_factor, on_step=on_step
        )
    buffer = {"activations": str(activations), "n_tokens": meta["n_tokens"]}
    save_sae(result.sae, build.sae_folder, library_config(config, result.sae, norm_factor, buffer))
    log.info("demo SAE: final FVU %.3f, threshold %.4g", result.metrics.fvu, result.sae.threshold)
    return build.sae_folder


def import_demo_sae(sae_folder: Path) -> None:
    from workers.importing import import_checkpoint

    arguments = argparse.Namespace(
        path=sae_folder,
        name=DEMO_SAE,
        layer=15,
        model=MODEL,
        input_scale=1.0,
        reports=None,
        replace=True,
    )
    log.info("%s", import_checkpoint(arguments))


def precompute_and_label(
    engine: Engine,
    build: DemoBuild,
    reports_csv: Path,
    limit: int | None,
    replay: Path,
    total: int | None = None,
    images: Path | None = None,
) -> None:
    from workers.precompute.config import PrecomputeConfig
    from workers.precompute.keywords import keyword_labels, write_keyword_labels
    from workers.precompute.pipeline import find_sae, run_precompute
    from workers.precompute.sources import ReplaySource
    from workers.precompute.state import Progress

    config = PrecomputeConfig(
        reports=reports_csv.resolve(),
        images=images.resolve() if images is not None else None,
        limit=limit,
        batch_size=128,
    )
    started = time.monotonic()
    with stage("dashboards", total, "report") as bar:

        def on_checkpoint(shard: int, progress: Progress) -> None:
            bar.update(progress.documents - bar.n)

        run_precompute(
            engine,
            config,
            DEMO_SAE,
            build.home,
            source=ReplaySource(replay),
            on_checkpoint=on_checkpoint,
        )
    build.timed("precompute", started)
    started = time.monotonic()
    sae = find_sae(engine, DEMO_SAE)
    with engine.connect() as connection:
        corpus_id = connection.execute(
            text("SELECT corpus_id FROM precompute_runs WHERE sae_id = :id"), {"id": sae.id}
        ).scalar_one()
        labels = keyword_labels(connection, sae.id, corpus_id)
    with make_sessionmaker(engine)() as session:
        write_keyword_labels(session.connection(), sae.id, labels)
        refresh_primary_labels(session, sae.id)
        refresh_sae_aggregates(session, sae.id)
        session.commit()
    build.timed("labels", started)


def train_model(build: DemoBuild, source: Path, config: OrganismConfig) -> tuple[Path, Path]:
    """Train (or find cached) the organism; write its studies: (corpus CSV, held-out CSV).

    The corpus (the training studies) feeds capture and dashboards; the held-out studies, never
    trained on, are for evaluation and steering studies: they are the study set `demo-held-out`
    that the steering-study form offers. Each CSV has an `images` folder beside it.
    """
    from workers.corpus.drawn_studies import write_studies
    from workers.maira2.organism import ensure_organism_model, organism_data
    from workers.maira2.runner import default_organism_folder

    data = organism_data(source, config)
    corpus_csv = write_studies(data.train, build.folder / "studies")
    held_out_csv = write_studies(data.held_out, study_sets_dir(build.home) / HELD_OUT_SET)
    with stage("model", config.vision_steps + config.steps, "step") as bar:

        def on_step(step: int, loss: float) -> None:
            bar.update(1)
            if step % 20 == 0:
                bar.set_postfix(loss=f"{loss:.2f}", refresh=False)

        ensure_organism_model(default_organism_folder(), source, config, on_step)
    return corpus_csv, held_out_csv


def organism_source(build: DemoBuild, reports: Path | None) -> Path:
    """The reports the organism learns from: `reports`, else OpenI's, else synthetic ones."""
    from workers.corpus.synthetic import write_synthetic_reports
    from workers.maira2.organism import DEFAULT_REPORTS

    if reports is not None:
        return reports
    if DEFAULT_REPORTS.is_file():
        return DEFAULT_REPORTS
    return write_synthetic_reports(build.folder / "synthetic.csv", N_REPORTS)


def build_demo(
    engine: Engine,
    home: Path,
    reports: Path | None = None,
    limit: int | None = None,
    steps: int = TRAIN_STEPS,
    model_steps: int | None = None,
) -> DemoBuild:
    """Build (or rebuild) the whole demo dataset into the database behind `engine`.

    The organism (`workers.maira2.organism`, `model_steps` training steps, default 480) learns
    to write findings for drawn studies made from `reports` (default: OpenI's); the demo SAE is
    trained on its activations over the training studies. Torch runs on one thread: the tiny
    model's operations are too small to gain from more, and on a small shared machine extra
    threads mostly contend (7-10x slower measured on 2 busy cores).
    """
    import dataclasses

    import torch

    from workers.corpus import read_reports
    from workers.maira2.organism import OrganismConfig

    torch.set_num_threads(1)
    build = DemoBuild(home)
    config = OrganismConfig()
    if model_steps is not None:
        config = dataclasses.replace(config, steps=model_steps)
    started = time.monotonic()
    source = organism_source(build, reports)
    build.timed("corpus", started)
    started = time.monotonic()
    reports_csv, _ = train_model(build, source, config)
    images = reports_csv.parent / "images"
    build.timed("model", started)
    total = sum(1 for _ in read_reports(reports_csv, limit=limit))
    started = time.monotonic()
    replay, activations = capture_corpus(build, reports_csv, limit, total, images)
    build.timed("capture", started)
    started = time.monotonic()
    sae_folder = train_demo_sae(build, activations, steps)
    build.timed("train", started)
    started = time.monotonic()
    say(f"import    : SAE {DEMO_SAE!r} into the database")
    import_demo_sae(sae_folder)
    build.timed("import", started)
    precompute_and_label(engine, build, reports_csv, limit, replay, total, images)
    started = time.monotonic()
    label_with_standin(engine, DEMO_SAE)
    build.timed("llm labels", started)
    return build


def _die_with_parent() -> None:
    """In the child: ask Linux to send SIGTERM when the demo process dies, however it dies
    (uvicorn re-raises SIGTERM/SIGINT after its shutdown, so a `finally` may never run)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def start_worker(url: str, log_file: Path) -> subprocess.Popen:
    """`maira-sae worker` as a child process on the same database, logging to `log_file`."""
    environment = {**os.environ, "MAIRA_SAE_DATABASE_URL": url, "MAIRA_SAE_MODEL_PATH": MODEL}
    with log_file.open("ab") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "app.cli", "worker"],
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )


def stop_worker(worker: subprocess.Popen) -> None:
    worker.terminate()
    try:
        worker.wait(timeout=30)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()


def _announce_when_listening(server: uvicorn.Server, url: str) -> None:
    """Print the address once the server's socket accepts connections (not before)."""
    while not server.started:
        if server.should_exit:
            return
        time.sleep(0.05)
    say(f"ready: {url}  (Ctrl+C stops the demo, its worker and its database)")


def serve(host: str, port: int) -> None:
    """Serve the explorer until interrupted; its log records go where the demo's go."""
    config = uvicorn.Config(
        "app.main:create_app", factory=True, host=host, port=port, log_config=None
    )
    server = uvicorn.Server(config)
    url = f"http://{host}:{port}"
    threading.Thread(target=_announce_when_listening, args=(server, url), daemon=True).start()
    server.run()


def _stop_database(home: Path) -> None:
    try:
        if stop_embedded_postgres(home):
            say("stopped the embedded PostgreSQL")
    except OSError as error:
        say(f"could not stop the embedded PostgreSQL under {home / 'postgres'}: {error}")


def _exit_on_sigterm(signum: int, frame: object) -> None:
    """SIGTERM unwinds like Ctrl+C, so the worker and the embedded database are stopped."""
    raise SystemExit(128 + signum)


def command(args: argparse.Namespace) -> int:
    """CLI target: prepare the database, build the demo if needed, run a worker, serve.

    The terminal shows one progress bar per build stage and "ready: URL" once the server
    listens; log records go to MAIRA_SAE_HOME/logs/demo.log. On exit (Ctrl+C or SIGTERM) the
    worker stops, and so does the embedded PostgreSQL when the demo started it.
    """
    started = time.monotonic()
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    settings = get_settings()
    log_file = log_to_file(settings.home.resolve() / "logs" / "demo.log")
    say(f"maira-sae demo: details are logged to {log_file}")
    embedded = settings.database_url is None
    started_database = embedded and not embedded_postgres_running(settings.home)
    worker: subprocess.Popen | None = None
    try:
        where = "the server in MAIRA_SAE_DATABASE_URL"
        if embedded:
            where = f"embedded PostgreSQL under {settings.home / 'postgres'}"
        say(f"database  : {where}")
        url = resolve_database_url(settings)
        upgrade(url)
        os.environ["MAIRA_SAE_DATABASE_URL"] = url
        get_settings.cache_clear()
        settings = get_settings()
        engine = make_engine(url)
        try:
            if args.rebuild or not demo_present(engine):
                say("building the demo dataset (first start or --rebuild)")
                build = build_demo(
                    engine,
                    settings.home,
                    args.reports,
                    args.limit,
                    args.steps or TRAIN_STEPS,
                    args.model_steps,
                )
                log.info("demo dataset built: %s", build.timings)
                say(f"built in {sum(build.timings.values()):.0f} s")
            else:
                say("demo dataset found; skipping the build")
            say(ensure_demo_accounts(engine, settings.home))
        finally:
            engine.dispose()
        worker = start_worker(url, log_file)
        host, port = args.host or settings.host, args.port or settings.port
        log.info("demo starting the server %.1f s after start", time.monotonic() - started)
        serve(host, port)
    except KeyboardInterrupt:
        return 130
    finally:
        if worker is not None:
            stop_worker(worker)
        if started_database:
            _stop_database(settings.home)
    return 0
