"""Where a pass gets each report's tokens and layer activations: the live model, or a replay.

`RunnerSource` runs the MAIRA-2 runner (teacher-forced capture). `ReplayWriter` records what a
capture produced (raw float32 activations + tokens per report) and `ReplaySource` serves it back,
so a corpus captured once (e.g. the demo's pass that collects training activations) can be
encoded by a freshly trained SAE without a second forward pass; its values are bit-identical.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import numpy as np
import torch

from workers.corpus import Report
from workers.precompute.studies import study_for

ACTIVATIONS = "activations.f32"
INDEX = "reports.jsonl"


class CapturedReport(NamedTuple):
    """A report's display tokens and its (T, d_model) float32 activations at the hooked layer."""

    tokens: list[str]
    activations: torch.Tensor


class ActivationSource(Protocol):
    def capture(self, reports: list[Report]) -> list[CapturedReport]: ...


class RunnerSource:
    """Captures with a `Maira2Runner` (images and prompt fields from each report)."""

    def __init__(self, runner: Any, batch_size: int = 16) -> None:
        self.runner = runner
        self.batch_size = batch_size

    def capture(self, reports: list[Report]) -> list[CapturedReport]:
        captures = self.runner.capture(
            [study_for(report) for report in reports],
            [report.text for report in reports],
            batch_size=self.batch_size,
        )
        return [
            CapturedReport(list(capture.report_tokens), capture.report_activations)
            for capture in captures
        ]


class ReplayWriter:
    """Appends captured reports to a replay folder (activations file + one index line each)."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self._activations = (folder / ACTIVATIONS).open("wb")
        self._index = (folder / INDEX).open("w", encoding="utf-8")
        self._rows = 0

    def add(self, report: Report, captured: CapturedReport) -> None:
        array = captured.activations.detach().to(torch.float32).cpu().numpy()
        self._activations.write(np.ascontiguousarray(array).tobytes())
        line = {
            "index": report.index,
            "tokens": captured.tokens,
            "row": self._rows,
            "d_model": int(array.shape[1]),
        }
        self._index.write(json.dumps(line, ensure_ascii=False) + "\n")
        self._rows += array.shape[0]

    def close(self) -> None:
        self._activations.close()
        self._index.close()


class ReplaySource:
    """Serves the captures a `ReplayWriter` recorded, by report index."""

    def __init__(self, folder: Path) -> None:
        self._entries: dict[int, tuple[list[str], int]] = {}
        d_model = 0
        with (folder / INDEX).open(encoding="utf-8") as handle:
            for line in handle:
                entry = json.loads(line)
                self._entries[entry["index"]] = (entry["tokens"], entry["row"])
                d_model = entry["d_model"]
        n_values = (folder / ACTIVATIONS).stat().st_size // 4
        self._activations = (
            np.memmap(folder / ACTIVATIONS, dtype=np.float32, mode="r").reshape(-1, d_model)
            if n_values
            else np.zeros((0, max(d_model, 1)), dtype=np.float32)
        )

    def capture(self, reports: list[Report]) -> list[CapturedReport]:
        captured = []
        for report in reports:
            if report.index not in self._entries:
                raise KeyError(f"report {report.index} ({report.external_id}) was not recorded")
            tokens, row = self._entries[report.index]
            array = np.array(self._activations[row : row + len(tokens)])
            captured.append(CapturedReport(tokens, torch.from_numpy(array)))
        return captured
