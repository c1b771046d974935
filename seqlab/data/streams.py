"""Batches for language modelling on one long token sequence: parallel streams for truncated BPTT.

Shapes: B streams (batch), T window length (``window`` = k steps, the last window of a pass may be shorter).

Stream batching (stateful TBPTT, ``StreamBatches``). The M targets of the sequence are cut into B contiguous
streams of L = ⌈M / B⌉ steps each (the last stream is padded), then read left to right in windows of k::

    tokens   c t₀ t₁ t₂ … t_{M-1}            c: the context token before the text (optional)
    stream b inputs  s[bL : bL+L]             s = [c, t₀, …, t_{M-2}]  (or t₀ … t_{M-2} without c)
    stream b targets u[bL : bL+L]             u = s shifted left by one: the next token
    window j         columns [jk, jk+k) of every stream → inputs (B, T), targets (B, T)

Row b of window j+1 continues row b of window j, so a model that starts window j+1 from the state window j
ended in (detached) computes exactly the full forward over each stream, with gradients truncated to k
steps. ``Window.reset`` is True on the first window of each pass (a new epoch): start from a zero state.
Every target appears exactly once; padded cells have target ``IGNORE`` (-100, skipped by the loss).

Random windows (``RandomWindows``): each batch holds B windows of k steps at uniformly random offsets,
every one starting from a zero state (stateless training, as in the textbook char-RNN). Offsets come from
a private generator seeded with ``(seed, epoch)``, never from global RNG state.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["IGNORE", "Window", "StreamBatches", "RandomWindows"]

IGNORE = -100  # target of a padded cell; torch's cross_entropy ignore_index default


@dataclass(frozen=True)
class Window:
    inputs: torch.Tensor  # (B, T) int64 token ids; padded cells hold 0 (<pad>)
    targets: torch.Tensor  # (B, T) int64 next-token ids; padded cells hold IGNORE
    reset: bool  # True: start from a zero state (first window of a pass, or a random window)
    index: int  # position of this window in its pass (0-based); window index+1 continues this one

    def to(self, device) -> Window:
        return Window(self.inputs.to(device), self.targets.to(device), self.reset, self.index)

    @property
    def num_targets(self) -> int:
        return int((self.targets != IGNORE).sum())


def _check(batch_size: int, window: int) -> None:
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size (number of streams) must be an int >= 1, got {batch_size!r}")
    if not isinstance(window, int) or window < 1:
        raise ValueError(f"window (TBPTT steps k) must be an int >= 1, got {window!r}")


class StreamBatches:
    """Consecutive windows over B parallel streams of ``ids`` (see the module docstring).

    ``context`` is the token just before ``ids[0]`` (e.g. the last token of the preceding split): with it,
    ``ids[0]`` is a target too and all ``len(ids)`` tokens are predicted; without it, ``len(ids) - 1``.
    ``chars`` is how many characters of text the targets cover (for bits per character); default: one per
    target. B is reduced to the number of targets when there are fewer. Deterministic: ``set_epoch``
    changes nothing, every pass yields the same windows.
    """

    def __init__(self, ids: Sequence[int] | np.ndarray, batch_size: int, window: int, *,
                 context: int | None = None, chars: int | None = None):
        _check(batch_size, window)
        seq = np.asarray(ids, dtype=np.int64)
        if context is not None:
            seq = np.concatenate([np.asarray([context], dtype=np.int64), seq])
        M = len(seq) - 1  # targets
        if M < 1:
            raise ValueError(f"need at least one target token: got {len(ids)} token(s) "
                             f"{'with' if context is not None else 'and no'} context token")
        self.num_targets = M
        self.chars = M if chars is None else int(chars)
        self.window = window
        self.streams = min(batch_size, M)  # B
        self.length = -(-M // self.streams)  # L steps per stream
        inputs = np.zeros(self.streams * self.length, dtype=np.int64)
        targets = np.full(self.streams * self.length, IGNORE, dtype=np.int64)
        inputs[:M], targets[:M] = seq[:-1], seq[1:]
        self.inputs = torch.from_numpy(inputs.reshape(self.streams, self.length))  # (B, L)
        self.targets = torch.from_numpy(targets.reshape(self.streams, self.length))  # (B, L)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return -(-self.length // self.window)

    def __iter__(self) -> Iterator[Window]:
        for j, start in enumerate(range(0, self.length, self.window)):
            cols = slice(start, start + self.window)
            yield Window(self.inputs[:, cols], self.targets[:, cols], reset=j == 0, index=j)


class RandomWindows:
    """Batches of B windows of k steps at random offsets of ``ids``; each starts from a zero state.

    One epoch has ``⌊(len(ids) - 1) / (B k)⌋`` batches (at least one): about one pass over the targets.
    """

    def __init__(self, ids: Sequence[int] | np.ndarray, batch_size: int, window: int, seed: int):
        _check(batch_size, window)
        self.ids = torch.as_tensor(np.asarray(ids, dtype=np.int64))
        if len(self.ids) < window + 1:
            raise ValueError(f"random windows of {window} steps need at least {window + 1} tokens, "
                             f"got {len(self.ids)}")
        self.batch_size, self.window, self.seed = batch_size, window, seed
        self.num_targets = len(self.ids) - 1
        self.chars = self.num_targets
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return max(1, self.num_targets // (self.batch_size * self.window))

    def __iter__(self) -> Iterator[Window]:
        rng = np.random.default_rng([self.seed, self.epoch])
        k = self.window
        steps = torch.arange(k + 1)  # (k+1,)
        for j in range(len(self)):
            starts = torch.from_numpy(rng.integers(0, len(self.ids) - k, size=self.batch_size))  # (B,)
            rows = self.ids[starts.unsqueeze(1) + steps]  # (B, k+1)
            yield Window(rows[:, :-1], rows[:, 1:], reset=True, index=j)
