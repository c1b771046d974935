"""A tiny, deterministic training setup for the trainer tests, and a script the resume test runs in a
subprocess: ``python tinyrun.py RUN_DIR [--resume] [--stall-after K]``.

Task: is the first token of a length-6 sequence larger than the last? Model: embedding → LSTM → dropout →
linear, so dropout makes every step consume the torch RNG.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from seqlab.config import TrainConfig
from seqlab.training.trainer import Trainer

V, T, E, H = 10, 6, 8, 16  # vocab, time steps, embedding width, hidden size

CONFIG = TrainConfig(
    epochs=3,
    batch_size=8,
    lr=1e-2,
    warmup_steps=3,
    schedule="cosine",
    clip_norm=0.5,
    eval_every=0,
    save_every=3,
    seed=7,
    num_threads=1,
    diagnose_every=4,
)


@dataclass
class Batch:
    x: torch.Tensor  # (B, T) token ids
    y: torch.Tensor  # (B,) labels

    def to(self, device) -> Batch:
        return Batch(self.x.to(device), self.y.to(device))


class TinyLoader:
    """Batches of a fixed dataset; the order is a function of (seed, epoch) only."""

    def __init__(self, n: int = 64, batch_size: int = 8, seed: int = 0, shuffle: bool = True):
        rng = np.random.default_rng(1234 + n)
        self.x = torch.from_numpy(rng.integers(0, V, size=(n, T)))  # (N, T)
        self.y = (self.x[:, 0] > self.x[:, -1]).long()  # (N,)
        self.batch_size, self.seed, self.shuffle, self.epoch = batch_size, seed, shuffle, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return -(-len(self.y) // self.batch_size)

    def __iter__(self):
        n = len(self.y)
        order = np.random.default_rng([self.seed, self.epoch]).permutation(n) if self.shuffle else np.arange(n)
        for i in range(0, n, self.batch_size):
            idx = torch.from_numpy(order[i : i + self.batch_size])
            yield Batch(self.x[idx], self.y[idx])


class StallingLoader(TinyLoader):
    """Before handing out batch K+1 (counted over the whole process) it writes ``marker`` and sleeps, so
    a test can SIGKILL the process at a known point: K steps done, at least one resume checkpoint on disk."""

    def __init__(self, stall_after: int, marker: Path, **kw):
        super().__init__(**kw)
        self.stall_after, self.marker, self.served = stall_after, marker, 0

    def __iter__(self):
        for batch in super().__iter__():
            if self.served == self.stall_after:
                self.marker.write_text("stalled")
                time.sleep(120)
            self.served += 1
            yield batch


class TinyModel(nn.Module):
    def __init__(self, dropout: float = 0.3):
        super().__init__()
        self.emb = nn.Embedding(V, E)
        self.rnn = nn.LSTM(E, H, batch_first=True)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(H, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, _ = self.rnn(self.emb(x))  # (B, T, H)
        return self.out(self.drop(h[:, -1]))  # (B, 2)


class Classify:
    metric, mode = "accuracy", "max"

    def loss(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        return nn.functional.cross_entropy(model(batch.x), batch.y)

    def evaluate(self, model: nn.Module, loader) -> dict[str, float]:
        right = total = loss = 0.0
        for batch in loader:
            logits = model(batch.x)
            loss += float(nn.functional.cross_entropy(logits, batch.y, reduction="sum"))
            right += float((logits.argmax(-1) == batch.y).sum())
            total += len(batch.y)
        return {"accuracy": right / total, "loss": loss / total}


def make_model(seed: int = 0) -> TinyModel:
    torch.manual_seed(seed)
    return TinyModel()


def run(run_dir: Path | None, config: TrainConfig = CONFIG, resume: bool = False, train=None, **kw) -> dict:
    trainer = Trainer(make_model(), Classify(), config, run_dir=run_dir, meta={"task": "tiny"}, progress=False)
    summary = trainer.fit(train or TinyLoader(), TinyLoader(n=32, shuffle=False), resume=resume, **kw)
    summary["model"] = trainer.model
    return summary


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--stall-after", type=int, default=-1)
    args = ap.parse_args()
    torch.set_num_threads(1)
    train = None
    if args.stall_after >= 0:
        train = StallingLoader(args.stall_after, args.run_dir / "stalled")
    run(args.run_dir, resume=args.resume, train=train)
    print("done", os.getpid(), dataclasses.asdict(CONFIG)["epochs"])


if __name__ == "__main__":
    main()
