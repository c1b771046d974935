"""Length-bucketed, padded batches. Shapes: B batch, T longest sequence in the batch (after ``max_len``).

Each epoch: shuffle the example order, cut it into pools of ``bucket_size * batch_size`` examples, sort each
pool by length and slice it into batches (similar lengths → little padding), then shuffle the batch order.
The order depends only on ``(seed, epoch)`` through a private NumPy generator, never on global RNG state.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["Batch", "BucketBatches", "padding_fraction"]


@dataclass(frozen=True)
class Batch:
    tokens: torch.Tensor  # (B, T) int64, right-padded with 0 (<pad>)
    lengths: torch.Tensor  # (B,) int64, every entry >= 1
    targets: torch.Tensor  # (B,) for one target per example; (B, T_y) padded with target_pad for sequences
    indices: torch.Tensor  # (B,) int64 positions in the original ``sequences`` (to restore input order)

    def __len__(self) -> int:
        return self.tokens.shape[0]

    def to(self, device) -> Batch:
        """The same batch on ``device`` (the engine copies lengths back to the CPU where packing needs them)."""
        return Batch(self.tokens.to(device), self.lengths.to(device), self.targets.to(device), self.indices)


def padding_fraction(batches_lengths: Sequence[Sequence[int]]) -> float:
    """Share of padded cells over all ``(B, T)`` token tensors, given each batch's lengths."""
    cells = sum(len(lengths) * max(lengths) for lengths in batches_lengths)
    real = sum(sum(lengths) for lengths in batches_lengths)
    return 1.0 - real / cells if cells else 0.0


class BucketBatches:
    """Iterate ``Batch``es over ``sequences`` (token id lists) and their ``targets``.

    ``bucket_size`` is the number of batches per sorting pool; ``bucket_size=1`` disables bucketing (plain
    shuffled batches, no sorting). ``shuffle=False`` keeps the input order of the pools and batches
    (evaluation). ``max_len`` truncates sequences (and per-token targets). Call ``set_epoch(e)`` before
    each epoch; iterating twice in the same epoch repeats the same batches.
    """

    def __init__(
        self,
        sequences: Sequence[Sequence[int]],
        targets: Sequence | torch.Tensor,
        batch_size: int,
        seed: int,
        shuffle: bool = True,
        bucket_size: int = 50,
        max_len: int | None = None,
        target_pad: int = -100,
    ):
        if len(sequences) != len(targets):
            raise ValueError(
                f"sequences and targets must have the same length, got {len(sequences)} and {len(targets)}"
            )
        if batch_size < 1 or bucket_size < 1:
            raise ValueError(f"batch_size and bucket_size must be >= 1, got {batch_size} and {bucket_size}")
        if max_len is not None and max_len < 1:
            raise ValueError(f"max_len must be >= 1 or None, got {max_len}")
        empty = next((i for i, s in enumerate(sequences) if len(s) == 0), None)
        if empty is not None:
            raise ValueError(
                f"sequences[{empty}] is empty; every example needs at least one token: drop it or "
                "encode it as [<unk>] before batching"
            )
        self.sequences = sequences
        self.targets = targets
        self.batch_size = batch_size
        self.seed = seed
        self.shuffle = shuffle
        self.bucket_size = bucket_size
        self.max_len = max_len
        self.target_pad = target_pad
        full = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
        self.lengths = np.minimum(full, max_len) if max_len is not None else full
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return -(-len(self.sequences) // self.batch_size)

    def batch_indices(self, epoch: int | None = None) -> list[np.ndarray]:
        """The example indices of every batch of ``epoch`` (default: the current one), in iteration order."""
        epoch = self.epoch if epoch is None else epoch
        n = len(self.sequences)
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(n) if self.shuffle else np.arange(n)
        batches = []
        pool_size = self.bucket_size * self.batch_size
        for start in range(0, n, pool_size):
            pool = order[start : start + pool_size]
            if self.bucket_size > 1:
                pool = pool[np.argsort(-self.lengths[pool], kind="stable")]  # longest first within the pool
            batches.extend(pool[i : i + self.batch_size] for i in range(0, len(pool), self.batch_size))
        if self.shuffle:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        return batches

    def padding_fraction(self, epoch: int | None = None) -> float:
        """Share of padded token cells this epoch would produce (0.0 = no padding)."""
        return padding_fraction([self.lengths[b].tolist() for b in self.batch_indices(epoch)])

    def __iter__(self) -> Iterator[Batch]:
        for idx in self.batch_indices():
            yield self._collate(idx)

    def _collate(self, idx: np.ndarray) -> Batch:
        lengths = self.lengths[idx]
        tokens = np.zeros((len(idx), int(lengths.max())), dtype=np.int64)  # (B, T)
        for row, (i, n) in enumerate(zip(idx.tolist(), lengths.tolist(), strict=True)):
            tokens[row, :n] = self.sequences[i][:n]
        return Batch(
            tokens=torch.from_numpy(tokens),
            lengths=torch.from_numpy(lengths.copy()),
            targets=self._targets(idx),
            indices=torch.from_numpy(idx.astype(np.int64)),
        )

    def _targets(self, idx: np.ndarray) -> torch.Tensor:
        if isinstance(self.targets, torch.Tensor):
            return self.targets[torch.from_numpy(idx)]
        picked = [self.targets[i] for i in idx.tolist()]
        if not isinstance(picked[0], Sequence | np.ndarray):
            return torch.as_tensor(picked)  # (B,)
        picked = [list(t)[: self.max_len] if self.max_len is not None else list(t) for t in picked]
        out = torch.full((len(picked), max(map(len, picked))), self.target_pad, dtype=torch.long)  # (B, T_y)
        for row, t in enumerate(picked):
            out[row, : len(t)] = torch.as_tensor(t, dtype=torch.long)
        return out
