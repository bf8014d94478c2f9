"""Arguments of `maira-sae autointerp` (its command lives in workers.autointerp.cli)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any


def feature_list(value: str) -> list[int]:
    """'3,5,10-12' as [3, 5, 10, 11, 12]."""
    indices: list[int] = []
    try:
        for part in value.split(","):
            first, _, last = part.strip().partition("-")
            start, end = int(first), int(last or first)
            if start < 0 or end < start or end - start > 100_000:
                raise ValueError
            indices.extend(range(start, end + 1))
    except ValueError:
        raise argparse.ArgumentTypeError("expected indices like 3,5,10-12") from None
    return indices


def add_autointerp_arguments(
    commands: Any, positive_int: Callable[[str], int]
) -> argparse.ArgumentParser:
    """The `autointerp` sub-parser."""
    parser = commands.add_parser(
        "autointerp", help="explain and score features with an OpenAI-compatible LLM"
    )
    parser.add_argument("--sae", required=True, help="slug of the SAE")
    parser.add_argument("--features", type=feature_list, help="indices, e.g. 3,5,10-12")
    parser.add_argument("--limit", type=positive_int, help="at most this many features")
    parser.add_argument("--unlabelled", action="store_true", help="only features without a label")
    parser.add_argument("--min-frequency", type=float, help="only features at least this frequent")
    parser.add_argument("--explainer", required=True, help="model name that writes explanations")
    parser.add_argument("--scorer", required=True, help="model name that scores them")
    parser.add_argument("--base-url", help="endpoint (default: MAIRA_SAE_LLM_BASE_URL)")
    parser.add_argument("--preset", choices=["default", "paper"], default="default")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--examples-per-prompt", type=positive_int, default=5)
    parser.add_argument("--token-budget", type=positive_int, help="stop calling after this many")
    parser.add_argument("--batch-size", type=positive_int, default=8, help="features per job")
    parser.add_argument(
        "--local", action="store_true", help="run the batches in this process, not on the queue"
    )
    parser.add_argument("--resume", help="continue this run id in this process (implies --local)")
    parser.set_defaults(command_key="autointerp")
    return parser
