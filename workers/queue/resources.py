"""Models a worker process loads once, on first use, and keeps for every later job."""

from __future__ import annotations

import logging
import threading
from typing import Any

log = logging.getLogger(__name__)


class Resources:
    """The MAIRA-2 runner and SAEs, shared by all jobs of one worker process (thread-safe).

    Nothing is loaded until a handler asks, so workers start fast and jobs that need no model
    never pay for one.
    """

    def __init__(self, model_path: str, device: str | None = None) -> None:
        self.model_path = model_path
        self._device = device
        self._lock = threading.Lock()
        self._runner: Any = None
        self._saes: dict[tuple[str, float], Any] = {}

    @property
    def device(self) -> str:
        if self._device is None:
            import torch

            self._device = "cuda" if torch.cuda.is_available() else "cpu"
        return self._device

    def runner(self) -> Any:
        """The `Maira2Runner` for this worker's model, loaded on first call."""
        with self._lock:
            if self._runner is None:
                from workers.maira2.runner import Maira2Runner

                log.info("loading model %s on %s", self.model_path, self.device)
                self._runner = Maira2Runner.load(self.model_path, device=self.device)
            return self._runner

    def sae(self, path: str, input_scale: float = 1.0) -> Any:
        """The SAE checkpoint at `path` (ae.pt or its folder), loaded on first call."""
        key = (str(path), float(input_scale))
        with self._lock:
            if key not in self._saes:
                from sae import load_sae

                log.info("loading SAE %s on %s", path, self.device)
                self._saes[key] = load_sae(path, device=self.device, input_scale=input_scale)
            return self._saes[key]
