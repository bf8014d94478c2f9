"""Per-feature "keep the `size` entries with the largest keys" buffers with amortised merging."""

from __future__ import annotations

import torch

_KEY_BITS = 33  # keys live in [-1, 2**32); composite = feature << 33 | (2**32 - key)
EMPTY_KEY = -1


class TopKeeper:
    """For each of `n_features` rows, the `size` entries with the largest int64 keys seen so far.

    Keys are non-negative int64 below 2**32 (EMPTY_KEY marks an unused slot). Every entry carries
    payload tensors (e.g. a token id). `offer` drops entries that cannot enter a row and appends
    the rest to a pending buffer; `compact` merges the buffer into the rows with one sort, so the
    cost per batch is proportional to the batch's surviving entries, not to `n_features * size`.
    Ties keep the entry that arrived first. After `compact` every row is sorted, largest first.
    """

    def __init__(
        self,
        n_features: int,
        size: int,
        payloads: dict[str, tuple[torch.dtype, float | int]],
        device: torch.device | str = "cpu",
        pending_limit: int | None = None,
    ) -> None:
        self.n_features = n_features
        self.size = size
        self.keys = torch.full((n_features, size), EMPTY_KEY, dtype=torch.int64, device=device)
        self.payloads = {
            name: torch.full((n_features, size), empty, dtype=dtype, device=device)
            for name, (dtype, empty) in payloads.items()
        }
        self.pending_limit = pending_limit or max(n_features * size, 1 << 16)
        self._pending: list[tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]] = []
        self._pending_count = 0

    def floor(self) -> torch.Tensor:
        """(n_features,) the smallest key still kept in each row (may lag until `compact`)."""
        return self.keys[:, -1]

    def offer(self, features: torch.Tensor, keys: torch.Tensor, payloads: dict[str, torch.Tensor]):
        """Consider entries `features (M,) int64`, `keys (M,) int64`, payloads `(M,)` each."""
        survivors = (keys > self.floor()[features]).nonzero().squeeze(1)
        if survivors.numel() == 0:
            return
        features, keys = features[survivors], keys[survivors]
        payloads = {name: payloads[name][survivors] for name in self.payloads}
        self._pending.append((features, keys, payloads))
        self._pending_count += features.numel()
        if self._pending_count >= self.pending_limit:
            self.compact()

    def compact(self) -> None:
        """Merge pending entries into the rows; afterwards rows are sorted, largest key first."""
        if not self._pending:
            return
        new_features = torch.cat([entry[0] for entry in self._pending])
        new_keys = torch.cat([entry[1] for entry in self._pending])
        new_payloads = {
            name: torch.cat([entry[2][name] for entry in self._pending]) for name in self.payloads
        }
        self._pending, self._pending_count = [], 0
        pending_counts = torch.bincount(new_features, minlength=self.n_features)
        touched = pending_counts.nonzero().squeeze(1)
        features = torch.cat([touched.repeat_interleave(self.size), new_features])
        keys = torch.cat([self.keys[touched].flatten(), new_keys])
        order = torch.sort((features << _KEY_BITS) | ((1 << 32) - keys), stable=True).indices
        # Sorted by feature, then key descending; each touched feature owns a run of its old
        # `size` entries plus its new ones, and keeps the first `size` of that run.
        run_lengths = pending_counts[touched] + self.size
        run_starts = torch.cumsum(run_lengths, 0) - run_lengths
        slots = torch.arange(self.size, device=order.device)
        kept = order[(run_starts[:, None] + slots[None, :]).flatten()]
        self.keys[touched] = keys[kept].view(-1, self.size)
        for name, table in self.payloads.items():
            merged = torch.cat([table[touched].flatten(), new_payloads[name]])
            table[touched] = merged[kept].view(-1, self.size)

    def absorb(self, other: TopKeeper) -> None:
        """Merge another keeper's rows into this one (exact: the union's top `size` per row)."""
        if (other.n_features, other.size, set(other.payloads)) != (
            self.n_features,
            self.size,
            set(self.payloads),
        ):
            raise ValueError("cannot merge keepers of different shapes or payloads")
        other.compact()
        used = other.keys != EMPTY_KEY
        features = torch.arange(self.n_features, device=self.keys.device)[:, None].expand_as(used)
        self.offer(
            features[used],
            other.keys[used],
            {name: table[used] for name, table in other.payloads.items()},
        )
        self.compact()

    def state_dict(self, prefix: str) -> dict[str, torch.Tensor]:
        self.compact()
        state = {f"{prefix}keys": self.keys.clone()}
        state.update({f"{prefix}{name}": table.clone() for name, table in self.payloads.items()})
        return state

    def load_state_dict(self, state: dict[str, torch.Tensor], prefix: str) -> None:
        self._pending, self._pending_count = [], 0
        for name, table in [("keys", self.keys), *self.payloads.items()]:
            loaded = state[f"{prefix}{name}"]
            if loaded.shape != table.shape:
                raise ValueError(
                    f"{prefix}{name} has shape {tuple(loaded.shape)}, expected {tuple(table.shape)}"
                )
            table.copy_(loaded)
