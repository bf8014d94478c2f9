"""The `maira-sae` command line: parses arguments, hands each command to the module owning it.

Commands that run models (`worker`, `import-sae`, `precompute`, `train`, `demo`) live in
`workers` and are imported only when invoked, so the web process never loads torch.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from app.cli_autointerp import add_autointerp_arguments

COMMANDS: dict[str, str] = {
    "demo": "workers.demo:command",
    "serve": "app.server:command",
    "worker": "workers.queue.worker:command",
    "db upgrade": "db.migrate:command",
    "import-sae": "workers.importing:command",
    "import-autointerp": "db.importers.autointerp:command",
    "precompute": "workers.precompute.cli:command",
    "train": "workers.training:command",
    "synthetic": "db.importers.synthetic:command",
    "llm-standin": "workers.autointerp.standin:command",
    "autointerp": "workers.autointerp.cli:command",
    "user add": "app.users:add_command",
    "user reset-password": "app.users:reset_command",
}


def _input_scale(value: str) -> str | float:
    if value == "auto":
        return value
    try:
        scale = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError("expected 'auto' or a positive number") from None
    if scale <= 0:
        raise argparse.ArgumentTypeError("the input scale must be positive")
    return scale


def _positive_int(value: str) -> int:
    number = int(value)
    if number <= 0:
        raise argparse.ArgumentTypeError("expected a positive integer")
    return number


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser; each sub-parser records its command key in `args.command_key`."""
    parser = argparse.ArgumentParser(prog="maira-sae", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo", help="build the demo dataset if absent, start a worker, serve"
    )
    demo.add_argument("--reports", type=Path, help="report CSV for the demo corpus")
    demo.add_argument("--host", default=None)
    demo.add_argument("--port", type=int, default=None)
    demo.add_argument("--rebuild", action="store_true", help="rebuild the demo dataset")
    demo.add_argument(
        "--limit", type=_positive_int, help="use only the first N reports (a quick, small demo)"
    )
    demo.add_argument("--steps", type=_positive_int, help="SAE training steps (default 1000)")
    demo.add_argument(
        "--model-steps", type=_positive_int, help="model organism training steps (default 600)"
    )
    demo.set_defaults(command_key="demo")

    serve = commands.add_parser("serve", help="serve the web application and JSON API")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument(
        "--workers",
        type=_positive_int,
        default=None,
        help="web processes sharing the port (default MAIRA_SAE_WEB_WORKERS, 1); each keeps "
        "MAIRA_SAE_DB_POOL_SIZE database connections",
    )
    serve.set_defaults(command_key="serve")

    worker = commands.add_parser("worker", help="run a model worker that serves queued jobs")
    worker.add_argument("--concurrency", type=_positive_int, default=1)
    worker.add_argument("--model", default=None, help="MAIRA-2 weights folder, or 'tiny'")
    worker.set_defaults(command_key="worker")

    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="DB_COMMAND")
    db_commands.add_parser("upgrade", help="apply Alembic migrations").set_defaults(
        command_key="db upgrade"
    )

    import_sae = commands.add_parser("import-sae", help="import a dictionary_learning checkpoint")
    import_sae.add_argument("path", type=Path, help="ae.pt, or the folder holding it")
    import_sae.add_argument("--name", required=True, help="slug of the SAE")
    import_sae.add_argument("--layer", type=int, default=15)
    import_sae.add_argument("--model", default=None, help="model slug or weights path")
    import_sae.add_argument("--input-scale", type=_input_scale, default=1.0)
    import_sae.add_argument(
        "--replace", action="store_true", help="replace an SAE of this name with other weights"
    )
    import_sae.add_argument("--reports", type=Path, help="report CSV for --input-scale auto")
    import_sae.set_defaults(command_key="import-sae")

    autointerp = commands.add_parser("import-autointerp", help="import an autointerp label CSV")
    autointerp.add_argument("csv", type=Path)
    autointerp.add_argument("--sae", required=True, help="slug of the SAE")
    autointerp.set_defaults(command_key="import-autointerp")

    precompute = commands.add_parser("precompute", help="compute feature dashboards over a corpus")
    precompute.add_argument("--sae", required=True)
    precompute.add_argument("--reports", type=Path, required=True)
    precompute.add_argument("--images", type=Path)
    precompute.add_argument("--model", default="tiny")
    precompute.add_argument("--limit", type=_positive_int)
    precompute.add_argument("--top-k", type=_positive_int, default=64)
    precompute.add_argument("--shards", type=_positive_int, default=1)
    precompute.add_argument("--shard", type=int, help="run only this shard (0-based)")
    precompute.add_argument(
        "--window-sample",
        type=int,
        default=4096,
        help="windows in the random sample autointerp takes negatives from (0: none)",
    )
    precompute.add_argument("--window-seed", type=int, default=0, help="seed of that sample")
    precompute.add_argument("--queue", action="store_true", help="defer shards as queue jobs")
    precompute.add_argument("--save-activations", type=Path, help="also write activation shards")
    precompute.set_defaults(command_key="precompute")

    train = commands.add_parser("train", help="train a Matryoshka BatchTopK SAE")
    train.add_argument("--activations", type=Path, required=True)
    train.add_argument("--out", type=Path, required=True)
    train.add_argument("--expansion", type=_positive_int, default=4)
    train.add_argument("--k", type=_positive_int, default=256)
    train.add_argument("--steps", type=_positive_int)
    train.add_argument("--batch-size", type=_positive_int, default=4096)
    train.add_argument("--lr", type=float)
    train.add_argument("--seed", type=int, default=0)
    train.set_defaults(command_key="train")

    synthetic = commands.add_parser("synthetic", help="generate a synthetic dataset at any scale")
    synthetic.add_argument("--features", type=_positive_int, required=True)
    synthetic.add_argument("--examples", type=_positive_int, default=64)
    synthetic.add_argument("--tokens", type=_positive_int, default=64)
    synthetic.add_argument("--name", required=True)
    synthetic.add_argument("--reports", type=Path, help="cut examples from this report CSV")
    synthetic.add_argument("--d-in", type=_positive_int, default=4096)
    synthetic.add_argument("--seed", type=int, default=0)
    synthetic.set_defaults(command_key="synthetic")

    standin = commands.add_parser(
        "llm-standin", help="serve the rule-following stand-in LLM (OpenAI chat completions)"
    )
    standin.add_argument("--host", default="127.0.0.1")
    standin.add_argument("--port", type=int, default=8011)
    standin.set_defaults(command_key="llm-standin")

    add_autointerp_arguments(commands, _positive_int)

    user = commands.add_parser("user", help="accounts: add a user, reset a password")
    user_commands = user.add_subparsers(dest="user_command", required=True, metavar="USER_COMMAND")
    add = user_commands.add_parser("add", help="create a user (asks for the password)")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=("admin", "reviewer", "researcher"))
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    add.set_defaults(command_key="user add")
    reset = user_commands.add_parser("reset-password", help="set a new password for a user")
    reset.add_argument("name")
    reset.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    reset.set_defaults(command_key="user reset-password")

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `maira-sae`; returns the process exit status."""
    args = build_parser().parse_args(argv)
    module_name, function_name = COMMANDS[args.command_key].split(":")
    # Imported before logging is set up, so that what libraries log on import (alembic lists its
    # plugins) does not reach the terminal.
    handler = getattr(importlib.import_module(module_name), function_name)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:
        # Every command migrates its database first; Alembic's progress lines are noise then.
        logging.getLogger("alembic").setLevel(logging.WARNING)
    return int(handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
