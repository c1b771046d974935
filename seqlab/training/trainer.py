"""A task-agnostic trainer: AdamW, warm-up + decay schedule, gradient clipping, validation, best-weights
checkpoints, early stopping, exact resume, a metrics log. It knows no task: an ``Objective`` supplies the
loss and the metrics, a ``Loader`` supplies opaque batches (moved with ``batch.to(device)`` if they have it).

Choices made here:

* Weight decay applies to matrices (``ndim >= 2``) only: biases, other 1-D parameters (norm scales) and
  embedding tables (``nn.Embedding`` / ``nn.EmbeddingBag`` weights) get none — decoupled decay would
  shrink the rows of rare tokens on every step although they receive no gradient.
* The learning rate of optimizer step ``s`` (0-based) is ``lr * lr_factor(s, ...)``: a linear warm-up
  ``(s + 1) / warmup_steps``, then linear / cosine decay to 0 at the planned total or constant.
  Planned total = ``epochs * len(train_loader)``, capped by ``max_steps``.
* The device is the model's: the caller moves the model; batches follow it.
* Validation runs every ``eval_every`` steps (or at each epoch end), and once more at the end of training
  when the last step was not validated. Improvement is strict (``>`` for mode "max", ``<`` for "min").
* At the end of ``fit`` the model holds the best weights (``model.safetensors`` when there is a run
  directory). Without a validation loader the final weights are the best.
* A step whose gradient norm is not finite is skipped (no optimizer update) and counted.
* Resume state is written every ``save_every`` steps, after each validation and at the end; it records
  how many lines ``metrics.jsonl`` had, so a resumed run first drops the lines logged after that save.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import random
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import nn

from seqlab.config import TrainConfig
from seqlab.errors import ConfigError
from seqlab.training.checkpoint import load_model, load_resume, save_model, save_resume

__all__ = ["Trainer", "Objective", "Loader", "lr_factor", "param_groups", "LOG_EVERY"]

LOG_EVERY = 10  # a "train" line in metrics.jsonl every this many steps (and at the end)
SCHEDULES = ("linear", "cosine", "constant")


class Objective(Protocol):
    metric: str  # validation metric that picks the best checkpoint and drives early stopping
    mode: str  # "max" or "min"

    def loss(self, model: nn.Module, batch) -> torch.Tensor: ...  # scalar mean loss of one batch

    def evaluate(self, model: nn.Module, loader: Loader) -> dict[str, float]: ...  # eval mode, no_grad


class Loader(Protocol):
    def set_epoch(self, epoch: int) -> None: ...  # batch order is a function of (seed, epoch) only

    def __iter__(self): ...

    def __len__(self) -> int: ...


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two AdamW groups: decayed matrices, and undecayed biases / 1-D parameters / embedding tables."""
    embeddings = {
        id(p)
        for m in model.modules()
        if isinstance(m, nn.Embedding | nn.EmbeddingBag)
        for p in m.parameters(recurse=False)
    }
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (no_decay if p.ndim < 2 or id(p) in embeddings else decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]


def lr_factor(step: int, warmup: int, total: int, schedule: str) -> float:
    """Multiplier of the peak learning rate for optimizer step ``step`` (0-based)."""
    if step < warmup:
        return (step + 1) / warmup  # linear warm-up, reaching 1 on step warmup - 1
    # p ∈ [0, 1]: progress through the decay phase
    p = min(1.0, (step - warmup) / max(1, total - warmup))
    if schedule == "linear":
        return 1.0 - p
    if schedule == "cosine":
        # η_t = ½ (1 + cos(π p)) η
        return 0.5 * (1.0 + math.cos(math.pi * p))
    return 1.0


@dataclass
class _State:
    """Everything the loop needs to continue exactly; saved as the resume trainer_state."""

    step: int = 0  # optimizer steps done
    epoch: int = 0  # current epoch (0-based)
    batch: int = 0  # batches of `epoch` already trained on
    best: float | None = None  # best validation metric so far
    best_step: int | None = None  # step at which it was reached
    bad_evals: int = 0  # validations since the last improvement (early-stopping counter)
    stopped_early: bool = False
    last_val_step: int | None = None
    last_val: dict | None = None  # metrics of the latest validation
    clipped: int = 0  # steps whose gradient norm exceeded clip_norm
    skipped: int = 0  # steps skipped because the gradient norm was not finite
    lr: float = 0.0  # learning rate of the latest step
    grad_norm: float = 0.0  # gradient norm of the latest step, before clipping
    window_loss: float = 0.0  # sum of losses since the last "train" log line
    window_steps: int = 0
    log_lines: int = 0  # lines in metrics.jsonl at the time of saving
    train_batches: int = 0  # len(train_loader)
    config: dict = field(default_factory=dict)


class Trainer:
    """Train ``model`` on ``objective``. With ``run_dir`` it writes checkpoints and ``metrics.jsonl``."""

    def __init__(
        self,
        model: nn.Module,
        objective: Objective,
        config: TrainConfig,
        run_dir: str | Path | None = None,
        meta: dict | None = None,
        progress: bool = True,
    ):
        _check_config(config)
        if objective.mode not in ("max", "min"):
            raise ValueError(f"objective.mode must be 'max' or 'min', got {objective.mode!r}")
        self.model = model
        self.objective = objective
        self.config = config
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.meta = dict(meta or {})
        self.progress = progress
        self.device = resolve_device(config.device)
        model.to(self.device)  # batches follow the model (``batch.to(device)``); checkpoints are saved on CPU
        self.params = [p for p in model.parameters() if p.requires_grad]
        self._best_in_memory: dict[str, torch.Tensor] | None = None
        self._log_file = None
        self._clock = (time.perf_counter(), 0)  # (start time, step at start) of the current fit

    # ------------------------------------------------------------ the loop

    def fit(self, train_loader: Loader, val_loader: Loader | None = None, resume: bool = False) -> dict:
        """Train; return a summary (steps, epochs, best metric, wall time, steps/s, clipped fraction, ...)."""
        cfg = self.config
        if len(train_loader) == 0:
            raise ValueError("train_loader yields no batches; check the dataset split and batch_size")
        if cfg.num_threads > 0:
            torch.set_num_threads(cfg.num_threads)
        _seed_everything(cfg.seed)
        self.total_steps = _planned_steps(cfg, len(train_loader))
        self._build_optimizer()
        st = _State(train_batches=len(train_loader), config=dataclasses.asdict(cfg))
        restored = self._resume(st) if resume else None
        if restored is not None:
            st = restored
            self._open_log(keep=st.log_lines)
            self._log(st, "resume")
        else:
            self._open_log(keep=0)
            self._log(st, "start", total_steps=self.total_steps, config=st.config)
        t0, step0 = self._clock = (time.perf_counter(), st.step)
        self.model.train()
        with _Bar(self.progress, self.total_steps, st.step) as bar:
            while not (st.stopped_early or st.epoch >= cfg.epochs or self._at_max(st)):
                self._run_epoch(train_loader, val_loader, st, bar)
        self._finish(st, val_loader)
        wall = time.perf_counter() - t0
        summary = self._summary(st, wall, st.step - step0)
        self._log(st, "end", **summary)
        self._close_log()
        return summary

    def _run_epoch(self, train_loader: Loader, val_loader: Loader | None, st: _State, bar: _Bar) -> None:
        train_loader.set_epoch(st.epoch)
        batches = iter(train_loader)
        for _ in range(st.batch):  # resume mid-epoch: skip the batches already trained on
            next(batches, None)
        for batch in batches:
            self._train_step(batch, st)
            st.batch += 1
            if bar.enabled:
                bar.update(st.step, self._bar_info(st))
            if self._after_step(st, val_loader):
                return
        st.epoch, st.batch = st.epoch + 1, 0
        if val_loader is not None and self.config.eval_every == 0:
            self._validate(val_loader, st)
            self._save_resume(st)

    def _train_step(self, batch, st: _State) -> None:
        batch = _to(batch, self.device)
        loss = self.objective.loss(self.model, batch)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.diagnose_every and (st.step + 1) % self.config.diagnose_every == 0:
            self._log_grad_flow(st, batch)
        clip = self.config.clip_norm if self.config.clip_norm > 0 else math.inf
        norm = float(nn.utils.clip_grad_norm_(self.params, clip))
        st.lr = self.optimizer.param_groups[0]["lr"]
        if math.isfinite(norm):
            st.clipped += int(norm > clip)
            self.optimizer.step()
        else:
            st.skipped += 1  # a non-finite gradient would poison the AdamW moments
        self.scheduler.step()
        st.step += 1
        st.grad_norm = norm
        st.window_loss += loss.item()
        st.window_steps += 1

    def _after_step(self, st: _State, val_loader: Loader | None) -> bool:
        """Log, validate and save as scheduled; True when training must stop."""
        cfg = self.config
        if st.step % LOG_EVERY == 0:
            self._log_train(st)
        validate = val_loader is not None and cfg.eval_every > 0 and st.step % cfg.eval_every == 0
        if validate:
            self._validate(val_loader, st)
        if validate or (cfg.save_every > 0 and st.step % cfg.save_every == 0):
            self._save_resume(st)
        return st.stopped_early or self._at_max(st)

    def _at_max(self, st: _State) -> bool:
        return self.config.max_steps > 0 and st.step >= self.config.max_steps

    def _finish(self, st: _State, val_loader: Loader | None) -> None:
        if st.window_steps:
            self._log_train(st)
        if val_loader is not None and st.last_val_step != st.step and not st.stopped_early:
            self._validate(val_loader, st, final=True)
        self._save_resume(st)
        if st.best_step is None:  # no validation: the final weights are the best
            self._save_best(st)
        elif self.run_dir is not None:
            state_dict, _ = load_model(self.run_dir, map_location=self.device)
            self.model.load_state_dict(state_dict)
        else:
            self.model.load_state_dict(self._best_in_memory)

    # ------------------------------------------------------------ validation and checkpoints

    def _validate(self, val_loader: Loader, st: _State, final: bool = False) -> None:
        self.model.eval()
        with torch.no_grad():
            found = self.objective.evaluate(self.model, _on(val_loader, self.device))
            metrics = {k: float(v) for k, v in found.items()}
        self.model.train()
        if self.objective.metric not in metrics:
            raise ValueError(
                f"objective.evaluate returned no {self.objective.metric!r} (objective.metric); "
                f"it returned {sorted(metrics)}"
            )
        value = metrics[self.objective.metric]
        improved = math.isfinite(value) and (
            st.best is None or (value > st.best if self.objective.mode == "max" else value < st.best)
        )
        if improved:
            st.best, st.best_step, st.bad_evals = value, st.step, 0
            self._save_best(st)
        else:
            st.bad_evals += 1
            patience = self.config.patience
            st.stopped_early = patience > 0 and st.bad_evals >= patience and not final
        st.last_val_step, st.last_val = st.step, metrics
        self._log(st, "val", metrics=metrics, best=st.best, improved=improved, bad_evals=st.bad_evals)

    def _save_best(self, st: _State) -> None:
        if self.run_dir is None:
            self._best_in_memory = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            return
        info = {"step": st.step, "epoch": st.epoch, "metric": self.objective.metric, "value": st.best}
        save_model(self.run_dir, self.model.state_dict(), {**self.meta, "checkpoint": info})

    def _save_resume(self, st: _State) -> None:
        if self.run_dir is not None:
            save_resume(self.run_dir, self.model, self.optimizer, self.scheduler, dataclasses.asdict(st))

    def _build_optimizer(self) -> None:
        cfg, total = self.config, self.total_steps
        groups = param_groups(self.model, cfg.weight_decay)
        # fused: one kernel over all parameters instead of a loop of small ops (~4x faster for large
        # embedding tables on CPU); the same update rule as the default implementation.
        fused = all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for g in groups for p in g["params"])
        self.optimizer = torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=fused or None)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: lr_factor(s, cfg.warmup_steps, total, cfg.schedule)
        )

    def _resume(self, st: _State) -> _State | None:
        if self.run_dir is None:
            raise ValueError("fit(resume=True) needs run_dir: pass Trainer(..., run_dir=<run to resume>)")
        saved = load_resume(self.run_dir, self.model, self.optimizer, self.scheduler)
        if saved is None:  # nothing saved yet: a fresh start
            return None
        restored = _State(**{k: v for k, v in saved.items() if k in _State.__dataclass_fields__})
        changed = [k for k in st.config if restored.config.get(k) != st.config[k] and k != "num_threads"]
        if changed or restored.train_batches != st.train_batches:
            warnings.warn(
                f"resuming {self.run_dir} with a different setup (config {changed}, batches per epoch "
                f"{restored.train_batches} -> {st.train_batches}); it will not match an uninterrupted run",
                stacklevel=3,
            )
        restored.config, restored.train_batches = st.config, st.train_batches
        return restored

    # ------------------------------------------------------------ metrics.jsonl and the progress bar

    def _open_log(self, keep: int) -> None:
        """Open metrics.jsonl keeping its first ``keep`` lines: on resume, the lines logged up to the
        resume checkpoint; a killed run's later lines are dropped because the resumed run logs them again."""
        if self.run_dir is None:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        path = self.run_dir / "metrics.jsonl"
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)[:keep] if keep else []
        tmp = path.with_name(".metrics.jsonl.tmp")
        tmp.write_text("".join(lines), encoding="utf-8")
        os.replace(tmp, path)
        self._log_file = open(path, "a", encoding="utf-8")

    def _log(self, st: _State, event: str, **fields) -> None:
        if self._log_file is None:
            return
        elapsed = round(time.perf_counter() - self._clock[0], 3)  # wall seconds since this fit() started
        record = {"event": event, "step": st.step, "epoch": st.epoch, "elapsed_s": elapsed, **fields}
        self._log_file.write(json.dumps(strict_json(record)) + "\n")
        self._log_file.flush()
        st.log_lines += 1

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def _log_train(self, st: _State) -> None:
        loss = st.window_loss / st.window_steps
        clipped = st.clipped / max(1, st.step)
        self._log(st, "train", loss=loss, lr=st.lr, grad_norm=st.grad_norm, clipped_fraction=clipped)
        st.window_loss, st.window_steps = 0.0, 0

    def _log_grad_flow(self, st: _State, batch) -> None:
        norms = {n: float(p.grad.norm()) for n, p in self.model.named_parameters() if p.grad is not None}
        self._log(st, "grad_flow", step_of_grads=st.step + 1, grad_norms=norms, **self._diagnose(batch))

    def _diagnose(self, batch) -> dict:
        """Recurrent diagnostics of this batch, logged with the gradient norms: the objective's
        ``diagnose(model, batch) -> dict`` when it has one, else ``seqlab.diagnostics``' generic one (per
        recurrent module and layer: spectral radius of W_hh, gate saturation, ||dL/dh_t|| per step). Runs in
        eval mode on a forked RNG and never touches ``.grad``, so the training trajectory is unchanged."""
        from seqlab.diagnostics.grad_flow import step_diagnostics

        custom = getattr(self.objective, "diagnose", None)
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            self.model.eval()
            try:
                if callable(custom):
                    return custom(self.model, batch)
                return step_diagnostics(self.model, lambda: self.objective.loss(self.model, batch))
            finally:
                self.model.train()

    def _bar_info(self, st: _State) -> str:
        t0, step0 = self._clock
        rate = (st.step - step0) / max(1e-9, time.perf_counter() - t0)
        metric = self.objective.metric
        val = "" if st.last_val is None else f" · {metric} {st.last_val[metric]:.4f}"
        return f"{rate:.1f} steps/s · loss {st.window_loss / max(1, st.window_steps):.4f}{val}"

    def _summary(self, st: _State, wall: float, steps_now: int) -> dict:
        return {
            "steps": st.step,
            "epochs": round(st.epoch + st.batch / max(1, st.train_batches), 4),
            "metric": self.objective.metric,
            "best_metric": st.best,
            "best_step": st.best_step,
            "last_val": st.last_val,
            "wall_time_s": wall,
            "steps_per_s": steps_now / wall if wall > 0 else 0.0,
            "clipped_fraction": st.clipped / max(1, st.step),
            "skipped_steps": st.skipped,
            "stopped_early": st.stopped_early,
        }


class _Bar:
    """A rich progress bar on stderr, or nothing when disabled or stderr is not a terminal."""

    def __init__(self, enabled: bool, total: int, completed: int):
        self._progress = None
        self.enabled = enabled and sys.stderr.isatty()
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._progress = Progress(
                TextColumn("train"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[info]}"),
                TimeRemainingColumn(),
                console=Console(stderr=True),
            )
            self._task = self._progress.add_task("train", total=total, completed=completed, info="")

    def __enter__(self) -> _Bar:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.stop()

    def update(self, step: int, info: str) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=step, info=info)


# ------------------------------------------------------------ helpers


def _check_config(cfg: TrainConfig) -> None:
    if cfg.schedule not in SCHEDULES:
        raise ConfigError(f"train.schedule must be one of {', '.join(SCHEDULES)}; got {cfg.schedule!r}")
    if not cfg.lr > 0:
        raise ConfigError(f"train.lr must be > 0, got {cfg.lr}")
    ints = ("epochs", "max_steps", "warmup_steps", "patience", "eval_every", "save_every", "num_threads")
    for name in ints:
        if getattr(cfg, name) < 0:
            raise ConfigError(f"train.{name} must be >= 0, got {getattr(cfg, name)}")
    if cfg.clip_norm < 0 or cfg.weight_decay < 0:
        raise ConfigError(
            f"train.clip_norm and train.weight_decay must be >= 0, got {cfg.clip_norm}, {cfg.weight_decay}"
        )


def resolve_device(name: str) -> torch.device:
    """``train.device`` -> a torch.device; a clear ConfigError for a GPU that is not there."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise ConfigError(f"train.device must be cpu, cuda, cuda:N or auto; got {name!r}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"train.device={name!r} but this machine has no CUDA GPU; use train.device=cpu or auto")
    if device.type not in ("cpu", "cuda"):
        raise ConfigError(f"train.device must be cpu, cuda, cuda:N or auto; got {name!r}")
    return device


def _to(batch, device: torch.device):
    """Batches that know how to move (``batch.to``) go to ``device``; opaque ones are left as they are."""
    return batch.to(device) if callable(getattr(batch, "to", None)) else batch


def _on(loader, device: torch.device):
    """``loader`` with its batches moved to ``device`` (for validation); the loader itself on the CPU."""
    return loader if device.type == "cpu" else _MovedLoader(loader, device)


class _MovedLoader:
    """A loader whose batches are moved to ``device`` (those that have ``.to``); every other attribute (an
    objective may read e.g. ``loader.chars``) is the wrapped loader's."""

    def __init__(self, loader, device: torch.device):
        self.loader, self.device = loader, device

    def __getattr__(self, name: str):
        return getattr(self.loader, name)

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        for batch in self.loader:
            yield _to(batch, self.device)


def _planned_steps(cfg: TrainConfig, batches_per_epoch: int) -> int:
    total = cfg.epochs * batches_per_epoch
    return min(total, cfg.max_steps) if cfg.max_steps > 0 else total


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # seeds every CUDA device too


def strict_json(obj):
    """Non-finite floats become null so every metrics line (and report) is strict JSON."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: strict_json(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [strict_json(v) for v in obj]
    return obj
