"""Text classification end to end: read -> tokenize -> train -> evaluate -> predict.

Every pipeline module (``seqlab.pipelines.<task>``) offers the same four functions, which the CLI dispatches
to by the run's task: ``build_model(meta)``, ``train(cfg, out, ...)``, ``evaluate(run_dir, data, split, ...)``
and ``predict(run_dir, texts)``.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from seqlab.config import RunConfig
from seqlab.data import LabelSet, tokenizer_from_dict, train_and_encode
from seqlab.errors import ConfigError
from seqlab.pipelines.lm import load_lm_state
from seqlab.tasks.classify import Classifier, ClassifyObjective, confusion_matrix
from seqlab.tasks.classify_data import carve_validation, clip_all, encode_limit, encode_texts, make_batches, read_split
from seqlab.training.checkpoint import load_model
from seqlab.training.trainer import Trainer

__all__ = ["CONFIG", "train", "evaluate", "predict", "format_prediction", "build_model", "load_run"]

CONFIG = RunConfig  # this task's run-config class


def build_model(meta: dict) -> torch.nn.Module:
    """Rebuild a run's model from its model.json alone."""
    cfg = RunConfig.from_dict(meta["config"])
    return Classifier(meta["vocab_size"], len(meta["labels"]["labels"]), cfg.model)


def load_run(run_dir: str | Path):
    """(model in eval mode, meta, tokenizer, labels) from a run directory."""
    state, meta = load_model(run_dir)
    model = build_model(meta)
    model.load_state_dict(state)
    model.eval()
    return model, meta, tokenizer_from_dict(meta["tokenizer"]), LabelSet.from_dict(meta["labels"])


def train(cfg: RunConfig, out: str | Path, *, data_dir: str | Path | None = None, resume: bool = False,
          progress: bool = True, log=print) -> dict:
    """Read, tokenize, train with early stopping on a validation split, save the best model to ``out``."""
    if cfg.task != "classify":
        raise ConfigError(f"this pipeline trains task 'classify', got config for {cfg.task!r}")
    d, tc = cfg.data, cfg.train
    torch.manual_seed(tc.seed)
    t0 = time.perf_counter()
    train_split = read_split(d.name, "train", text_col=d.text_col, label_col=d.label_col, data_dir=data_dir)
    if train_split.skipped:
        log(f"skipped {train_split.skipped} empty document(s) in {d.name} train")
    labels = LabelSet.from_examples(train_split.examples)
    y = labels.encode_examples(train_split.examples)
    tr_idx, va_idx = carve_validation(len(y), d.val_fraction, tc.seed)
    texts = train_split.texts
    if cfg.model.init_backward_from and not cfg.model.init_from:
        raise ConfigError("model.init_backward_from needs model.init_from (the forward language model whose "
                          "tokenizer and embedding the backward one was trained with)")
    if cfg.model.init_from:
        lm_state, lm_meta = _language_model(cfg, cfg.model.init_from)
        bw_state = _backward_language_model(cfg, lm_state, lm_meta) if cfg.model.init_backward_from else None
        tokenizer = tokenizer_from_dict(lm_meta["tokenizer"])
        tr_ids = encode_texts(tokenizer, [texts[i] for i in tr_idx], d.max_len, d.truncate)
    else:
        tokenizer, tr_ids = train_and_encode(d.tokenizer, [texts[i] for i in tr_idx], d.vocab_size, d.min_freq,
                                             encode_limit(d.max_len, d.truncate))
        tr_ids = clip_all(tr_ids, d.max_len, d.truncate, tokenizer.unk_id)
    va_ids = encode_texts(tokenizer, [texts[i] for i in va_idx], d.max_len, d.truncate)
    log(f"{len(tr_idx)} train / {len(va_idx)} validation examples, {len(labels)} classes, "
        f"{tokenizer.kind} vocabulary {tokenizer.vocab_size} (prepared in {time.perf_counter() - t0:.0f}s)")
    train_b = make_batches(tr_ids, [y[i] for i in tr_idx], d, tc.batch_size, tc.seed, shuffle=True)
    val_b = make_batches(va_ids, [y[i] for i in va_idx], d, 256, tc.seed, shuffle=False)
    meta = {"task": "classify", "config": cfg.to_dict(), "tokenizer": tokenizer.to_dict(),
            "labels": labels.to_dict(), "vocab_size": tokenizer.vocab_size,
            "data": {"name": d.name, "train_examples": len(tr_idx), "val_examples": len(va_idx)}}
    model = build_model(meta)
    if cfg.model.init_from:
        copied = init_from_language_model(model, lm_state)
        if bw_state is not None:
            copied += init_from_language_model(model, bw_state, reverse=True)
        also = f" and the backward one in {cfg.model.init_backward_from}" if bw_state is not None else ""
        log(f"initialised from the language model in {cfg.model.init_from}{also}: its {tokenizer.kind} tokenizer, "
            f"{', '.join(copied)}")
    trainer = Trainer(model, ClassifyObjective(len(labels)), tc, run_dir=out, meta=meta, progress=progress)
    summary = trainer.fit(train_b, val_b, resume=resume)
    return summary | {"prepare_s": round(time.perf_counter() - t0 - summary.get("wall_time_s", 0.0), 1)}


def _language_model(cfg: RunConfig, src: str, key: str = "init_from") -> tuple[dict, dict]:
    """(state_dict, meta) of the LM run ``src`` (named by ``model.<key>``), checked against this model's shape."""
    m = cfg.model
    state, meta = load_lm_state(src, f"model.{key}")
    lm = meta["config"]["model"]
    want = {"cell": m.cell, "embedding_dim": m.embedding_dim, "hidden_size": m.hidden_size}
    wrong = [f"model.{k} {lm[k]} there, {v} here" for k, v in want.items() if lm[k] != v]
    if wrong:
        raise ConfigError(f"model.{key}: the language model in {src} does not fit this classifier "
                          f"({'; '.join(wrong)}); set them equal (--set model.hidden_size=...)")
    return state, meta


def _backward_language_model(cfg: RunConfig, fw_state: dict, fw_meta: dict) -> dict:
    """The state_dict of the backward LM named by ``model.init_backward_from``, checked to read right to left
    and to share the forward LM's tokenizer and embedding (``model.embedding_from`` when it was trained)."""
    src = cfg.model.init_backward_from
    if not cfg.model.bidirectional:
        raise ConfigError("model.init_backward_from starts the reverse direction; set model.bidirectional=true")
    state, meta = _language_model(cfg, src, "init_backward_from")
    if meta["config"]["data"].get("direction", "forward") != "backward":
        raise ConfigError(f"model.init_backward_from: {src} reads left to right; pass a language model trained "
                          "with --set data.direction=backward")
    if meta["tokenizer"] != fw_meta["tokenizer"] or not torch.equal(state["embedding.weight"],
                                                                    fw_state["embedding.weight"]):
        raise ConfigError(f"model.init_backward_from: {src} does not share the tokenizer and embedding of "
                          f"{cfg.model.init_from}; train it with --set model.embedding_from={cfg.model.init_from}")
    return state


def init_from_language_model(model: Classifier, lm_state: dict, *, reverse: bool = False) -> list[str]:
    """Copy a language model's embedding and the recurrent layers it has into ``model``: a left-to-right LM
    fits the forward direction; with ``reverse`` a right-to-left LM's layers go to the reverse direction
    (and its embedding, the forward LM's, is not copied again). Returns the names of the copied groups."""
    own = model.state_dict()
    suffix = "_reverse" if reverse else ""

    def fits(k: str) -> bool:
        return k + suffix in own and own[k + suffix].shape == lm_state[k].shape

    copied, names = {}, []
    if not reverse and fits("embedding.weight"):
        copied["embedding.weight"], names = lm_state["embedding.weight"], ["embedding"]
    for layer in sorted({int(k.rsplit("_l", 1)[1]) for k in lm_state if k.startswith("rnn.weight_ih_l")}):
        keys = [k for k in lm_state if k.startswith("rnn.") and k.endswith(f"_l{layer}")]
        if all(fits(k) for k in keys):  # a whole layer or none of it (layer 2+ of a bidirectional model reads 2H)
            copied |= {k + suffix: lm_state[k] for k in keys}
            names.append(f"recurrent layer {layer} ({'reverse' if reverse else 'forward'})")
    model.load_state_dict(copied, strict=False)
    return names


def evaluate(run_dir: str | Path, data: str | None = None, split: str = "test", *, data_dir: str | Path | None = None,
             text_col: str | None = None, label_col: str | None = None, plot: bool = True,
             members: tuple[str | Path, ...] = ()) -> dict:
    """Metrics of a trained run on a split: ``{"task", "split", "metrics", "confusion", "labels", ...}``.

    ``members``: more classify runs with the same labels; the runs' class probabilities are averaged (an
    ensemble) and the metrics are the average's. Each run reads the texts with its own tokenizer and max_len.
    """
    model, meta, tokenizer, labels = load_run(run_dir)
    cfg = RunConfig.from_dict(meta["config"])
    data = data or cfg.data.name
    result = read_split(data, split, text_col=text_col or cfg.data.text_col,
                        label_col=label_col or cfg.data.label_col, data_dir=data_dir)
    y = labels.encode_examples(result.examples)  # a label unseen in training -> DataError with file:line
    prob = _probabilities(model, tokenizer, cfg, result.texts, y, len(labels))
    for other in members:
        m2, meta2, tok2, labels2 = load_run(other)
        if labels2.labels != labels.labels:
            raise ConfigError(f"{other} predicts labels {list(labels2.labels)}, {run_dir} predicts "
                              f"{list(labels.labels)}: an ensemble needs runs with one label set")
        prob += _probabilities(m2, tok2, RunConfig.from_dict(meta2["config"]), result.texts, y, len(labels))
    prob /= 1 + len(members)
    yt, yp = torch.tensor(y), prob.argmax(-1)
    cm = confusion_matrix(yt, yp, len(labels))
    metrics = ClassifyObjective(len(labels)).scores(yt, yp, prob)
    out = {"task": "classify", "split": split, "data": data, "examples": len(y), "skipped": result.skipped,
           "metrics": metrics, "labels": list(labels.labels), "confusion": cm.tolist()}
    if members:
        out["ensemble"] = [str(r) for r in (run_dir, *members)]
    if plot:
        name = f"confusion_{split}_ensemble{1 + len(members)}.png" if members else f"confusion_{split}.png"
        what = f"ensemble of {1 + len(members)}, " if members else ""
        out["confusion_png"] = str(plot_confusion(cm, list(labels.labels), Path(run_dir) / name,
                                                  title=f"{data} {split}: {what}accuracy {metrics['accuracy']:.4f}"))
    return out


@torch.no_grad()
def _probabilities(model: Classifier, tokenizer, cfg: RunConfig, texts: list[str], y: list[int],
                   num_classes: int) -> torch.Tensor:
    """(N, C) class probabilities of ``texts`` in input order (batches run sorted by length, least padding)."""
    ids = encode_texts(tokenizer, texts, cfg.data.max_len, cfg.data.truncate)
    out = torch.zeros(len(texts), num_classes)
    for batch in make_batches(ids, y, cfg.data, 256, 0, shuffle=False):
        out[batch.indices] = torch.softmax(model(batch.tokens, batch.lengths), dim=-1)
    return out


def plot_confusion(cm: torch.Tensor, names: list[str], path: Path, title: str) -> Path:
    """Confusion matrix heatmap with counts, written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1.2 * len(names) + 2.5, 1.2 * len(names) + 2))
    ax.imshow(cm.numpy(), cmap="Blues")
    ax.set_xticks(range(len(names)), names)
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    peak = int(cm.max())
    for i in range(len(names)):
        for j in range(len(names)):
            v = int(cm[i, j])
            ax.text(j, i, f"{v:,}", ha="center", va="center", color="white" if v > peak / 2 else "black")
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(path)
    return path


def predict(run_dir: str | Path, texts: list[str]) -> list[dict]:
    """One dict per text: text, label, probability, probabilities (every class)."""
    from seqlab.inference.predictor import Predictor

    return [vars(p) for p in Predictor.from_run(run_dir).predict(texts)]


def format_prediction(p: dict) -> str:
    """One terminal line: label, probability, text (tab-separated)."""
    return f"{p['label']}\t{p['probability']:.4f}\t{p['text']}"
