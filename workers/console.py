"""What `maira-sae demo` shows at the terminal: one progress bar per stage, short messages, and
every log record sent to a file instead (the database set-up alone logs ~100 lines)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tqdm import tqdm

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def say(message: str) -> None:
    """One line for the person at the terminal (kept clear of any progress bar)."""
    tqdm.write(message, file=sys.stdout)
    sys.stdout.flush()


def _not_a_python_warning(record: logging.LogRecord) -> bool:
    return record.name != "py.warnings"


def log_to_file(path: Path) -> Path:
    """Send every log record and Python warning to `path` (appended); only warnings and errors
    logged by the code itself also reach the terminal."""
    path.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    for handler in root.handlers[:]:
        root.removeHandler(handler)
        handler.close()
    to_file = logging.FileHandler(path, encoding="utf-8")
    to_file.setFormatter(logging.Formatter(LOG_FORMAT))
    to_terminal = logging.StreamHandler(sys.stderr)
    to_terminal.setLevel(logging.WARNING)
    to_terminal.addFilter(_not_a_python_warning)
    to_terminal.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root.addHandler(to_file)
    root.addHandler(to_terminal)
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)
    return path


@contextmanager
def stage(name: str, total: int | None, unit: str) -> Iterator[tqdm]:
    """A progress bar for one stage of the build, closed (and left on screen) when it ends."""
    bar = tqdm(total=total, desc=f"{name:<10}", unit=unit, file=sys.stderr, dynamic_ncols=True)
    try:
        yield bar
    finally:
        bar.close()
