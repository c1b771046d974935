"""Two long-range synthetic tasks on which the vanishing gradient shows in outcomes, not only in plots.

adding (Hochreiter & Schmidhuber 1997, in the form of Arjovsky et al. 2016). Input (T, 2): a value
u_t ~ U(0, 1) and a marker m_t ∈ {0, 1}, with exactly two markers, one in each half of the sequence. The
target, read at the last step, is the sum of the two marked values:

    y = Σ_t m_t u_t

Predicting the mean (1.0) scores MSE = Var(u_a + u_b) = 1/6 ≈ 0.167: what a model that carries nothing
across time reaches. ``r2 = 1 - MSE / Var(y)`` puts that baseline at 0 and a perfect model at 1.

copy (Hochreiter & Schmidhuber 1997; Arjovsky et al. 2016), T input steps in all: K symbols drawn from
{1..S} at steps 0..K-1, blanks (0), the delimiter S+1 at step T-K-1, and K more blanks during which the model
must output the K symbols in order. Each symbol travels T-K steps; chance accuracy on them is 1/S. The loss
is the cross-entropy on those K outputs (outputs during the delay are not scored). Inputs are one-hot (S+2).

Batches are drawn fresh for every step from ``numpy.random.default_rng([seed, stream, epoch, index])``:
no global RNG is touched, the order is a function of (seed, epoch), and the validation and test streams
(1 and 2) never share a draw with training (0).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

from seqlab.config import TrainConfig, from_dict
from seqlab.engine import build_rnn
from seqlab.errors import ConfigError

__all__ = [
    "TASKS", "STREAMS", "LongRangeConfig", "CellConfig", "LongRangeRunConfig", "SynthBatch", "make_batch",
    "SyntheticLoader", "LongRangeModel", "LongRangeObjective", "build_model", "train_long_range",
]

TASKS = ("adding", "copy")
STREAMS = {"train": 0, "val": 1, "test": 2}  # independent random streams per split


@dataclass(frozen=True)
class LongRangeConfig:
    task: str = "adding"  # adding | copy
    length: int = 100  # T: input steps per sequence
    symbols: int = 8  # copy: alphabet size S (symbols 1..S; 0 is the blank, S+1 the delimiter)
    copy_len: int = 10  # copy: K symbols to remember and recall at the last K steps

    @property
    def input_size(self) -> int:
        return 2 if self.task == "adding" else self.symbols + 2

    @property
    def output_size(self) -> int:
        return 1 if self.task == "adding" else self.symbols


@dataclass(frozen=True)
class CellConfig:
    cell: str = "lstm"  # rnn_tanh | rnn_relu | lstm | gru (rnn means rnn_tanh)
    hidden_size: int = 64  # H
    num_layers: int = 1  # stacked recurrent layers
    impl: str = "auto"  # auto | explicit | fused: which engine path runs the recurrence
    forget_bias: float = 1.0  # LSTM: added to the forget-gate bias at init (Jozefowicz et al. 2015); 0 = torch's


def _train_defaults() -> TrainConfig:
    return TrainConfig(epochs=1, max_steps=300, batch_size=32, lr=1e-2, weight_decay=0.0, warmup_steps=0,
                       schedule="constant", clip_norm=1.0, eval_every=100, save_every=0)


@dataclass(frozen=True)
class LongRangeRunConfig:
    """A synthetic long-range run; saved in model.json so ``build_model(meta)`` rebuilds it."""

    task: str = "long_range"  # marks runs of these synthetic tasks
    data: LongRangeConfig = field(default_factory=LongRangeConfig)
    model: CellConfig = field(default_factory=CellConfig)
    train: TrainConfig = field(default_factory=_train_defaults)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def check_task(cfg: LongRangeConfig) -> None:
    """Raise ConfigError naming the field and the fix."""
    if cfg.task not in TASKS:
        raise ConfigError(f"task must be one of {', '.join(TASKS)}, got {cfg.task!r}")
    if cfg.task == "adding" and cfg.length < 2:
        raise ConfigError(f"adding needs length >= 2 (one marker per half), got {cfg.length}")
    if cfg.task == "copy":
        if cfg.symbols < 2 or cfg.copy_len < 1:
            raise ConfigError(f"copy needs symbols >= 2 and copy_len >= 1, got {cfg.symbols}, {cfg.copy_len}")
        if cfg.length < 2 * cfg.copy_len + 1:
            raise ConfigError(f"copy needs length >= 2 * copy_len + 1 = {2 * cfg.copy_len + 1} (symbols, "
                              f"delimiter, recall), got {cfg.length}; raise --length or lower copy_len")


# ---------------------------------------------------------------- data


@dataclass(frozen=True)
class SynthBatch:
    x: Tensor  # (B, T, I) float inputs
    y: Tensor  # adding: (B,) float sums; copy: (B, K) int64 symbol indices 0..S-1 (symbol s is class s-1)

    def to(self, device) -> SynthBatch:
        return SynthBatch(self.x.to(device), self.y.to(device))

    def __len__(self) -> int:
        return self.x.shape[0]


def make_batch(cfg: LongRangeConfig, n: int, rng: np.random.Generator) -> SynthBatch:
    """``n`` examples of ``cfg.task`` drawn from ``rng``."""
    T = cfg.length
    if cfg.task == "adding":
        u = rng.random((n, T))  # u_t ~ U(0, 1)
        a = rng.integers(0, T // 2, n)  # first marker: first half
        b = rng.integers(T // 2, T, n)  # second marker: second half
        m = np.zeros((n, T))
        m[np.arange(n), a] = m[np.arange(n), b] = 1.0
        x = np.stack([u, m], axis=-1)  # (B, T, 2)
        # y = Σ_t m_t u_t
        y = (u * m).sum(1)
        return SynthBatch(torch.from_numpy(x).float(), torch.from_numpy(y).float())
    K, S = cfg.copy_len, cfg.symbols
    sym = rng.integers(1, S + 1, (n, K))  # (B, K) symbols 1..S
    tokens = np.zeros((n, T), dtype=np.int64)  # blanks
    tokens[:, :K] = sym
    tokens[:, T - K - 1] = S + 1  # the delimiter: recall starts at the next step
    x = np.eye(S + 2, dtype=np.float32)[tokens]  # one-hot (B, T, S+2)
    return SynthBatch(torch.from_numpy(x), torch.from_numpy(sym - 1))


class SyntheticLoader:
    """``batches`` batches of ``batch_size`` per epoch; batch i of epoch e comes from
    ``default_rng([seed, stream, e, i])``. ``fixed=True`` (validation/test) ignores the epoch."""

    def __init__(self, cfg: LongRangeConfig, batch_size: int, batches: int, seed: int, split: str = "train"):
        check_task(cfg)
        self.cfg, self.batch_size, self.batches, self.seed = cfg, batch_size, batches, seed
        self.stream, self.fixed, self.epoch = STREAMS[split], split != "train", 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.batches

    def __iter__(self):
        epoch = 0 if self.fixed else self.epoch
        for i in range(self.batches):
            yield make_batch(self.cfg, self.batch_size, np.random.default_rng([self.seed, self.stream, epoch, i]))


# ---------------------------------------------------------------- model and objective


class LongRangeModel(nn.Module):
    """x (B, T, I) -> engine (B, T, H) -> linear (B, T, O): one output per step; the task scores some."""

    def __init__(self, task: LongRangeConfig, cfg: CellConfig):
        super().__init__()
        self.rnn = build_rnn(cfg.cell, task.input_size, cfg.hidden_size, cfg.num_layers, batch_first=True,
                             impl=cfg.impl)
        self.out = nn.Linear(cfg.hidden_size, task.output_size)
        if self.rnn.mode == "lstm" and cfg.forget_bias:
            with torch.no_grad():
                for name, b in self.rnn.named_parameters():
                    if name.startswith("bias_hh"):
                        b.chunk(4)[1].add_(cfg.forget_bias)  # gate order i, f, g, o: f_t starts near σ(1) ≈ 0.73

    def forward(self, x: Tensor) -> Tensor:
        h, _ = self.rnn(x)  # (B, T, H)
        return self.out(h)  # (B, T, O)


@dataclass
class LongRangeObjective:
    """adding: MSE at the last step (metric ``mse``, lower is better). copy: cross-entropy over the K recall
    steps (metric ``accuracy`` on the recalled symbols)."""

    cfg: LongRangeConfig
    metric: str = ""
    mode: str = ""

    def __post_init__(self) -> None:
        check_task(self.cfg)
        self.metric, self.mode = ("mse", "min") if self.cfg.task == "adding" else ("accuracy", "max")

    def loss(self, model: nn.Module, batch: SynthBatch) -> Tensor:
        out = model(batch.x)  # (B, T, O)
        if self.cfg.task == "adding":
            return nn.functional.mse_loss(out[:, -1, 0], batch.y)
        K = self.cfg.copy_len
        return nn.functional.cross_entropy(out[:, -K:].reshape(-1, out.shape[-1]), batch.y.reshape(-1))

    def last_step_loss(self, model: nn.Module, batch: SynthBatch) -> Tensor:
        """The loss of the last output step alone: adding's only loss; copy's last recalled symbol."""
        out = model(batch.x)  # (B, T, O)
        if self.cfg.task == "adding":
            return nn.functional.mse_loss(out[:, -1, 0], batch.y)
        return nn.functional.cross_entropy(out[:, -1], batch.y[:, -1])

    @torch.no_grad()
    def evaluate(self, model: nn.Module, loader) -> dict[str, float]:
        if self.cfg.task == "adding":
            preds, ys = zip(*[(model(b.x)[:, -1, 0], b.y) for b in loader], strict=True)
            p, y = torch.cat(preds).double(), torch.cat(ys).double()
            mse = float((p - y).square().mean())
            return {"mse": mse, "r2": 1.0 - mse / float(y.var(unbiased=False))}
        K, right, seqs, nll, n = self.cfg.copy_len, 0, 0, 0.0, 0
        for b in loader:
            logits = model(b.x)[:, -K:]  # (B, K, S)
            hit = logits.argmax(-1) == b.y  # (B, K)
            right += int(hit.sum())
            seqs += int(hit.all(1).sum())
            nll += float(nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), b.y.reshape(-1),
                                                     reduction="sum"))
            n += len(b)
        return {"accuracy": right / (n * K), "seq_accuracy": seqs / n, "loss": nll / (n * K)}


def build_model(meta: dict) -> LongRangeModel:
    """Rebuild a synthetic run's model from its model.json alone."""
    cfg = from_dict(LongRangeRunConfig, meta["config"])
    return LongRangeModel(cfg.data, cfg.model)


def train_long_range(cfg: LongRangeRunConfig, *, run_dir=None, seed_model: int | None = None, init=None,
                     val_examples: int = 512, progress: bool = False) -> tuple[LongRangeModel, dict]:
    """Train ``cfg.model`` on ``cfg.data`` for ``cfg.train.max_steps`` fresh batches; validation picks the
    best weights. ``init(model)`` may change the initial weights (e.g. scale W_hh). Returns (model, summary)."""
    from seqlab.training.trainer import Trainer

    check_task(cfg.data)
    tc = cfg.train
    if tc.max_steps <= 0:
        raise ConfigError(f"train.max_steps must be > 0 for a synthetic run (fresh batches each step), "
                          f"got {tc.max_steps}")
    torch.manual_seed(tc.seed if seed_model is None else seed_model)
    model = LongRangeModel(cfg.data, cfg.model)
    if init is not None:
        init(model)
    train = SyntheticLoader(cfg.data, tc.batch_size, tc.max_steps, tc.seed, "train")
    val = SyntheticLoader(cfg.data, 256, max(1, val_examples // 256), tc.seed, "val")
    meta = {"task": "long_range", "config": cfg.to_dict()}
    summary = Trainer(model, LongRangeObjective(cfg.data), tc, run_dir=run_dir, meta=meta,
                      progress=progress).fit(train, val)
    return model, summary
