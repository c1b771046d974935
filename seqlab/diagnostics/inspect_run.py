"""Diagnostics of a trained run directory: gradient flow and gates on a batch of held-out data, and the hidden
states of one input. A run is rebuilt from its ``model.json`` alone (``seqlab.pipelines.<task>.build_model``;
runs of the synthetic long-range tasks by ``seqlab.diagnostics.synthetic.build_model``).

Supported runs: ``classify`` (a batch of a split of its dataset, or of ``--data FILE``) and ``long_range``
(the fixed probe batch of its task). The loss is the run's own training loss on that batch (classify:
cross-entropy of the pooled features, so with ``model.pooling=last`` it is a loss at the last step).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from seqlab.diagnostics import plots
from seqlab.diagnostics.experiments import probe_batch, write_json
from seqlab.diagnostics.grad_flow import inspect
from seqlab.diagnostics.hidden_states import SIGMOID_GATES, recording
from seqlab.errors import ConfigError
from seqlab.training.checkpoint import load_model

__all__ = ["Probe", "load_run", "probe", "measure_run", "hidden_states_of_run", "write_gates"]

SUPPORTED = ("classify", "long_range")


def load_run(run_dir: str | Path) -> tuple[torch.nn.Module, dict]:
    """(model in eval mode with the run's best weights, meta)."""
    state, meta = load_model(run_dir)
    task = meta.get("task", "classify")
    if task not in SUPPORTED:
        raise ConfigError(f"{run_dir}: seqlab diagnose reads {' and '.join(SUPPORTED)} runs; this run's task is "
                          f"{task!r}. Use --cell/--task for a fresh model instead")
    if task == "long_range":
        from seqlab.diagnostics.synthetic import build_model
    else:
        from seqlab.pipelines import pipeline

        build_model = pipeline(task).build_model
    model = build_model(meta)
    model.load_state_dict(state)
    return model.eval(), meta


@dataclass
class Probe:
    """A batch of a run's held-out data and the loss to differentiate on it."""

    loss_fn: object  # () -> scalar loss of the model on the batch
    label: str  # the cell, for file names and legends
    setup: dict  # what was measured: data, split, examples, loss


def probe(run_dir: str | Path, model, meta: dict, *, data: str | None = None, split: str = "test",
          batch_size: int = 64, seed: int = 0, data_dir=None, text_col=None, label_col=None) -> Probe:
    """A seeded random sample of ``batch_size`` examples of the split (never the training split's model
    selection concern: diagnostics only), batched as the run batches them."""
    task = meta.get("task", "classify")
    if task == "long_range":
        from seqlab.diagnostics.synthetic import LongRangeObjective, LongRangeRunConfig, from_dict

        cfg = from_dict(LongRangeRunConfig, meta["config"])
        batch = probe_batch(cfg.data, batch_size)
        objective = LongRangeObjective(cfg.data)
        return Probe(lambda: objective.last_step_loss(model, batch), cfg.model.cell,
                     {"run_dir": str(run_dir), "task": cfg.data.task, "length": cfg.data.length,
                      "examples": batch_size, "loss": "the loss of the last output step", "align": "end"})
    from seqlab.config import RunConfig
    from seqlab.data import LabelSet, tokenizer_from_dict
    from seqlab.tasks.classify import ClassifyObjective
    from seqlab.tasks.classify_data import encode_texts, make_batches, read_split

    cfg = RunConfig.from_dict(meta["config"])
    data = data or cfg.data.name
    result = read_split(data, split, text_col=text_col or cfg.data.text_col, label_col=label_col or cfg.data.label_col,
                        data_dir=data_dir)
    labels = LabelSet.from_dict(meta["labels"])
    pick = np.sort(np.random.default_rng(seed).permutation(len(result.examples))[:batch_size])
    examples = [result.examples[i] for i in pick]
    y = labels.encode_examples(examples)  # a label unseen in training -> DataError with file:line
    tok = tokenizer_from_dict(meta["tokenizer"])
    ids = encode_texts(tok, [e.text for e in examples], cfg.data.max_len, cfg.data.truncate)
    batch = next(iter(make_batches(ids, y, cfg.data, len(ids), 0, shuffle=False)))
    objective = ClassifyObjective(len(labels))
    return Probe(lambda: objective.loss(model, batch), cfg.model.cell,
                 {"run_dir": str(run_dir), "data": data, "split": split, "examples": len(ids), "seed": seed,
                  "max_tokens": int(batch.lengths.max()), "pooling": cfg.model.pooling,
                  "loss": f"classification cross-entropy (model.pooling={cfg.model.pooling})", "align": "end"})


def measure_run(run_dir: str | Path, **kw) -> tuple[dict[str, dict], Probe]:
    """Inspect a run on its probe batch (``probe``'s keywords): ({cell: {"flow", "spectral_radius",
    "saturation"}}, probe); a model with several recurrent modules gets one entry per module."""
    model, meta = load_run(run_dir)
    p = probe(run_dir, model, meta, **kw)
    found = inspect(model, p.loss_fn)
    if len(found) == 1:
        return {p.label: next(iter(found.values()))}, p
    return {f"{p.label}:{name}": r for name, r in found.items()}, p


def write_gates(results: dict[str, dict], out: Path, setup: dict, title: str) -> list[Path]:
    """gates.json (spectral radius and saturation per cell and layer) and one bar chart per cell."""
    doc = {"setup": setup, "thresholds": {"low": 0.05, "high": 0.95},
           "cells": {k: {"spectral_radius": r["spectral_radius"], "saturation": r["saturation"]}
                     for k, r in results.items()}}
    files = [write_json(out / "gates.json", doc)]
    for label, r in results.items():
        files.append(plots.plot_saturation(r["saturation"], r["spectral_radius"], out / f"gates_{label}.png",
                                           f"{title}: {label}"))
    return files



# ---------------------------------------------------------------- hidden states of one input


def _display_tokens(tokenizer, text: str, ids: list[int], max_len: int, truncate: str = "head") -> list[str]:
    """The token strings behind ``ids``: the tokenizer's own pieces when they line up, else one decode per id."""
    from seqlab.tasks.classify_data import clip

    pieces = clip(tokenizer.tokenize(text), max_len, truncate)
    if len(pieces) != len(ids):
        pieces = [tokenizer.decode([i]) for i in ids]
    return [p if i != tokenizer.unk_id else f"{p}(unk)" for p, i in zip(pieces, ids, strict=True)]


def hidden_states_of_run(run_dir: str | Path, text: str, out: Path) -> dict:
    """Every layer's h_t over the tokens of ``text`` (and gate means): hidden_states.json + .png."""
    from seqlab.config import RunConfig
    from seqlab.data import LabelSet, tokenizer_from_dict
    from seqlab.tasks.classify_data import encode_texts

    model, meta = load_run(run_dir)
    if meta.get("task") != "classify":
        raise ConfigError(f"{run_dir}: hidden-states reads a text classifier run; this run's task is "
                          f"{meta.get('task')!r}")
    if not text.strip():
        raise ConfigError("hidden-states needs a non-empty TEXT argument, e.g. \"이 영화 진짜 최고다\"")
    cfg = RunConfig.from_dict(meta["config"])
    tokenizer = tokenizer_from_dict(meta["tokenizer"])
    (ids,) = encode_texts(tokenizer, [text], cfg.data.max_len, cfg.data.truncate)
    tokens = _display_tokens(tokenizer, text, ids, cfg.data.max_len, cfg.data.truncate)
    with torch.no_grad(), recording(model, gates=True) as rec:
        logits = model(torch.tensor([ids]), torch.tensor([len(ids)]))  # (1, C)
    call = rec.main()
    probs = torch.softmax(logits[0], -1)
    names = LabelSet.from_dict(meta["labels"]).labels
    k = int(probs.argmax())
    layers = {tr.name: {"h": torch.stack(tr.h)[:, 0].tolist(),
                        "c": torch.stack(tr.c)[:, 0].tolist() if tr.c is not None else None,
                        "gates": {g: a[:, 0].tolist() for g, a in tr.gates.items()}} for tr in call.layers}
    out.mkdir(parents=True, exist_ok=True)
    font = plots.font_for(tokens)
    doc = {"run_dir": str(run_dir), "text": text, "tokens": tokens, "ids": ids, "cell": call.mode,
           "prediction": {"label": names[k], "probability": float(probs[k])},
           "layers": layers, "tick_labels": "tokens" if font else "token indices"}
    result = {"json": write_json(out / "hidden_states.json", doc), "font": font, "prediction": doc["prediction"]}
    if font is None:
        listing = out / "hidden_states_tokens.txt"
        listing.write_text("".join(f"{i}\t{t}\n" for i, t in enumerate(tokens)), encoding="utf-8")
        result["tokens_file"] = listing
    panels = [(f"{call.mode} {tr.name} h_t", torch.stack(tr.h)[:, 0].T.numpy()) for tr in call.layers]
    gates = [(tr.name, {g: tr.gates[g][:, 0].mean(-1).numpy() for g in SIGMOID_GATES[call.mode]})
             for tr in call.layers if SIGMOID_GATES[call.mode]]
    shown = text[:60] if font else f"{len(tokens)} tokens"  # without a covering font the text would be boxes
    title = f"{shown} → {names[k]} ({float(probs[k]):.2f})"
    result["png"] = plots.plot_hidden_states(panels, gates, tokens, out / "hidden_states.png", title, font)
    return result
