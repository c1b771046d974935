"""The experiments behind ``seqlab diagnose``: each trains or loads models, measures, and writes JSON + PNG
files into an output directory. The CLI only parses arguments and prints what these return.

* ``gradient_flow_on_task``: train each cell for the same short budget on adding/copy, then ||dL/dh_t||.
* ``exploding``: W_hh rescaled to spectral radius ρ > 1; gradient flow at init, and training with and
  without clipping (the trainer logs the clipped fraction).
* ``long_range``: adding and copy at several T, RNN vs LSTM vs GRU after equal training, on held-out data.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from seqlab.config import TrainConfig
from seqlab.diagnostics import plots
from seqlab.diagnostics.grad_flow import inspect, scale_recurrent_weights
from seqlab.diagnostics.synthetic import (
    CellConfig,
    LongRangeConfig,
    LongRangeModel,
    LongRangeObjective,
    LongRangeRunConfig,
    SyntheticLoader,
    check_task,
    make_batch,
    train_long_range,
)
from seqlab.engine import CELL_NAMES
from seqlab.errors import ConfigError
from seqlab.training.trainer import strict_json

__all__ = ["parse_cells", "write_json", "gradient_flow_on_task", "write_gradient_flow", "exploding", "long_range",
           "long_range_table"]

PROBE_SEED = 12345  # the fixed batch every cell is measured on (its own stream, never trained on)


def parse_cells(text: str) -> list[str]:
    """``"rnn,lstm,gru"`` -> ["rnn", "lstm", "gru"], each checked against the engine's cell names."""
    cells = [c.strip() for c in text.split(",") if c.strip()]
    valid = (*CELL_NAMES, "rnn")
    bad = [c for c in cells if c not in valid]
    if not cells or bad:
        raise ConfigError(f"--cell must be a comma-separated list of {', '.join(valid)}; got {text!r}")
    return list(dict.fromkeys(cells))


def write_json(path: Path, obj) -> Path:
    """Strict JSON (non-finite floats -> null), written via a temp file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(strict_json(obj), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path




def probe_batch(task: LongRangeConfig, batch_size: int):
    """The fixed measurement batch: the same for every cell, never seen in training."""
    return make_batch(task, batch_size, np.random.default_rng([PROBE_SEED, task.length]))


def _train_config(steps: int, batch_size: int, lr: float, clip: float, seed: int, **kw) -> TrainConfig:
    evals = max(1, steps // 5)  # five validations pick the best weights
    return dataclasses.replace(LongRangeRunConfig().train, max_steps=max(1, steps), batch_size=batch_size, lr=lr,
                               clip_norm=clip, seed=seed, eval_every=evals, **kw)


def _measure(model, task: LongRangeConfig, batch) -> dict:
    """Inspect ``model`` on ``batch`` with the loss of the last step alone."""
    objective = LongRangeObjective(task)
    model.eval()
    r = inspect(model, lambda: objective.last_step_loss(model, batch))["rnn"]
    return {"flow": r["flow"], "spectral_radius": r["spectral_radius"], "saturation": r["saturation"]}


# ---------------------------------------------------------------- gradient flow on adding / copy


def gradient_flow_on_task(cells: list[str], task: LongRangeConfig, *, steps: int = 300, hidden_size: int = 64,
                          batch_size: int = 32, lr: float = 1e-2, clip: float = 1.0, seed: int = 1,
                          log=print) -> dict[str, dict]:
    """Train every cell for ``steps`` fresh batches of ``task`` (0: measure the fresh model), then measure
    ||dL/dh_t|| of the last step's loss on one fixed held-out batch. Returns {cell: measurement}."""
    check_task(task)
    batch = probe_batch(task, batch_size)
    results = {}
    for cell in cells:
        cfg = LongRangeRunConfig(data=task, model=CellConfig(cell=cell, hidden_size=hidden_size),
                                 train=_train_config(steps, batch_size, lr, clip, seed))
        t0 = time.perf_counter()
        if steps > 0:
            model, summary = train_long_range(cfg, seed_model=seed)
            trained = {"steps": summary["steps"], "best_metric": summary["best_metric"], "metric": summary["metric"],
                       "val": summary["last_val"], "clipped_fraction": summary["clipped_fraction"]}
        else:
            torch.manual_seed(seed)
            model, trained = LongRangeModel(task, cfg.model), {"steps": 0}
        results[cell] = _measure(model, task, batch) | {"trained": trained,
                                                         "seconds": round(time.perf_counter() - t0, 1)}
        flow = results[cell]["flow"].top
        log(f"{cell}: trained {trained['steps']} steps; ||dL/dh_t|| at t=0 {flow[0]:.3g}, t=T-1 {flow[-1]:.3g}")
    return results


def write_gradient_flow(results: dict[str, dict], out: Path, setup: dict, title: str) -> list[Path]:
    """gradient_flow.json ({label: [norm_t]}), gradient_flow_details.json, one PNG per label (+ all together)."""
    out.mkdir(parents=True, exist_ok=True)
    files = [write_json(out / "gradient_flow.json", {k: r["flow"].top for k, r in results.items()})]
    details = {"setup": setup, "runs": {k: {**{n: v for n, v in r.items() if n != "flow"},
                                            **r["flow"].to_dict()} for k, r in results.items()}}
    files.append(write_json(out / "gradient_flow_details.json", details))
    xlabel = "position t (aligned at each sequence's end)" if setup.get("align") == "end" else "step t"
    for label, r in results.items():
        f = r["flow"]
        curves = {f"{f.mode} {name}": v for name, v in f.layers.items()} if len(f.layers) > 1 else {label: f.top}
        files.append(plots.plot_grad_flow(curves, out / f"gradient_flow_{label}.png",
                                          f"{title}: {label} (loss {f.loss:.3g})", xlabel))
    if len(results) > 1:
        files.append(plots.plot_grad_flow({k: r["flow"].top for k, r in results.items()}, out / "gradient_flow.png",
                                          title, xlabel))
    return files


# ---------------------------------------------------------------- exploding gradients


def exploding(cell: str, task: LongRangeConfig, out: Path, *, radius: float = 3.0, steps: int = 200,
              clip: float = 1.0, hidden_size: int = 64, batch_size: int = 32, lr: float = 2e-3, seed: int = 1,
              log=print) -> dict:
    """Scale every W_hh gate block to spectral radius ``radius``; measure ||dL/dh_t|| before and after; train
    from the scaled init without clipping (``out/noclip``) and with ``clip`` (``out/clip``)."""
    check_task(task)
    if not radius > 0 or clip <= 0:
        raise ConfigError(f"--radius and --clip must be > 0, got {radius} and {clip}")
    batch = probe_batch(task, batch_size)
    model_cfg = CellConfig(cell=cell, hidden_size=hidden_size)
    torch.manual_seed(seed)
    model = LongRangeModel(task, model_cfg)
    default = _measure(model, task, batch)
    scale_recurrent_weights(model.rnn, radius)
    scaled = _measure(model, task, batch)
    init = {k: v.detach().clone() for k, v in model.state_dict().items()}
    runs = {}
    for name, c in (("no clipping", 0.0), (f"clip {clip:g}", clip)):
        run_dir = out / ("noclip" if c == 0 else "clip")
        cfg = LongRangeRunConfig(data=task, model=model_cfg, train=_train_config(steps, batch_size, lr, c, seed))
        _, summary = train_long_range(cfg, run_dir=run_dir, init=lambda m: m.load_state_dict(init))
        lines = [json.loads(s) for s in (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]
        train = [r for r in lines if r["event"] == "train"]
        runs[name] = {"run_dir": str(run_dir), "clip_norm": c, "clipped_fraction": summary["clipped_fraction"],
                      "skipped_steps": summary["skipped_steps"], "best_val": summary["best_metric"],
                      "metric": summary["metric"], "steps": [r["step"] for r in train],
                      "grad_norm": [r["grad_norm"] for r in train], "loss": [r["loss"] for r in train]}
        log(f"{name}: clipped {100 * summary['clipped_fraction']:.0f}% of steps, skipped "
            f"{summary['skipped_steps']} non-finite, best validation {summary['metric']} {summary['best_metric']}")
    rho0 = max(v["radius"] for v in default["spectral_radius"]["l0"].values())
    flows = {f"default init (ρ={rho0:.2f})": default["flow"].top, f"scaled (ρ={radius:g})": scaled["flow"].top}
    result = {"cell": cell, "task": dataclasses.asdict(task), "radius": radius, "hidden_size": hidden_size,
              "batch_size": batch_size, "lr": lr, "steps": steps, "seed": seed,
              "grad_flow": {k: v for k, v in flows.items()},
              "spectral_radius": {"default": default["spectral_radius"], "scaled": scaled["spectral_radius"]},
              "saturation": {"default": default["saturation"], "scaled": scaled["saturation"]}, "runs": runs}
    write_json(out / "exploding.json", result)
    plots.plot_exploding(flows, runs, out / "exploding.png",
                         f"{cell} on {task.task} T={task.length}: W_hh scaled to ρ={radius:g}, AdamW lr {lr:g}")
    return result


# ---------------------------------------------------------------- the long-range benchmark


def long_range(tasks: list[str], lengths: list[int], cells: list[str], out: Path, *, steps: int = 500,
               hidden_size: int = 64, batch_size: int = 64, lr: float = 1e-2, clip: float = 1.0, seed: int = 1,
               test_examples: int = 1024, copy_len: int = 10, symbols: int = 8, num_threads: int = 0,
               log=print) -> list[dict]:
    """Every (task, T, cell): train ``steps`` fresh batches (the same stream and budget for every cell), pick
    the best of five validations, score on a separate test stream. ``out/long_range.json`` is rewritten
    after every run, so an interrupted benchmark keeps what it finished."""
    rows = []
    for task_name in tasks:
        for T in lengths:
            task = LongRangeConfig(task=task_name, length=T, symbols=symbols, copy_len=copy_len)
            check_task(task)
            for cell in cells:
                cfg = LongRangeRunConfig(data=task, model=CellConfig(cell=cell, hidden_size=hidden_size),
                                         train=_train_config(steps, batch_size, lr, clip, seed,
                                                             num_threads=num_threads))
                t0 = time.perf_counter()
                model, summary = train_long_range(cfg, seed_model=seed)
                test = LongRangeObjective(task).evaluate(model.eval(), SyntheticLoader(
                    task, 256, max(1, test_examples // 256), seed, "test"))
                flow = _measure(model, task, probe_batch(task, batch_size))["flow"].top
                rows.append({"task": task_name, "length": T, "cell": cell, "steps": summary["steps"],
                             "best_val": summary["best_metric"], "best_step": summary["best_step"],
                             "test": test, "chance": 1 / symbols if task_name == "copy" else 1 / 6,
                             "grad_ratio": flow[0] / flow[-1] if flow[-1] > 0 else float("nan"), "grad_flow": flow,
                             "clipped_fraction": summary["clipped_fraction"],
                             "seconds": round(time.perf_counter() - t0, 1)})
                log(_row_text(rows[-1]))
                write_json(out / "long_range.json", {"setup": _setup(locals()), "results": rows})
    (out / "long_range.md").write_text(long_range_table(rows), encoding="utf-8")
    plots.plot_long_range(rows, out / "long_range.png", "held-out score after equal training")
    return rows


def _setup(scope: dict) -> dict:
    keys = ("tasks", "lengths", "cells", "steps", "hidden_size", "batch_size", "lr", "clip", "seed",
            "test_examples", "copy_len", "symbols")
    return {k: scope[k] for k in keys}


def _row_text(r: dict) -> str:
    score = (f"test MSE {r['test']['mse']:.4f} (r2 {r['test']['r2']:.3f})" if r["task"] == "adding"
             else f"test accuracy {r['test']['accuracy']:.3f}")
    return f"{r['task']} T={r['length']} {r['cell']}: {score}, {r['steps']} steps in {r['seconds']:.0f}s"


def long_range_table(rows: list[dict]) -> str:
    """Markdown: one row per (task, T); per cell the held-out score (adding: test MSE and r2; copy: test
    accuracy on the recalled symbols) and ||dL/dh_0|| / ||dL/dh_{T-1}|| of the trained model."""
    cells = list(dict.fromkeys(r["cell"] for r in rows))
    head = ("| task | T | " + " | ".join(f"{c} score | {c} grad ratio" for c in cells) + " |\n|---|---|"
            + "---|---|" * len(cells) + "\n")
    body = []
    for task, T in dict.fromkeys((r["task"], r["length"]) for r in rows):
        by_cell = {r["cell"]: r for r in rows if (r["task"], r["length"]) == (task, T)}
        label = "adding: test MSE (r2)" if task == "adding" else "copy: test accuracy"
        body.append(f"| {label} | {T} | " + " | ".join(_cells(task, by_cell.get(c)) for c in cells) + " |")
    return head + "\n".join(body) + "\n"


def _cells(task: str, r: dict | None) -> str:
    if r is None:
        return "— | —"
    m = r["test"]
    score = f"{m['mse']:.4f} ({m['r2']:.2f})" if task == "adding" else f"{m['accuracy']:.3f}"
    ratio = r["grad_ratio"]
    return f"{score} | " + ("0 (float32 underflow)" if ratio == 0 else f"{ratio:.2g}")
