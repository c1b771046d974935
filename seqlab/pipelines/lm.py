"""Language modelling end to end: corpus -> positional split -> tokenize -> stateful TBPTT -> bpc -> sampling.

The corpus is one text: a registered LM dataset (``mysterious_island``, ``tiny_shakespeare``), any registered
dataset whose reader yields documents (``nsmc``: its training reviews joined by newlines), or a UTF-8 text
file. It is split by position, never by random windows that could overlap the training text::

    [ train ........................ | val (5 %) | test (10 %) ]      each cut moved to the next line start

Held-out scoring conditions each part on the token just before it (so every character of the part is
predicted) and carries state through ``data.eval_streams`` parallel streams.

A backward model (``data.direction = "backward"``) reads every part with its token order reversed: it predicts
each token from the ones after it, and a part is conditioned on the token just after it. Its recurrent layers
start the reverse direction of a bidirectional classifier (``model.init_backward_from`` there); trained with
``model.embedding_from`` = the forward LM, it shares that LM's tokenizer and (fixed) embedding, so both
directions of the classifier read one embedding space.

Pipeline functions (the CLI dispatches by the run's task): ``build_model``, ``train``, ``evaluate``,
``predict`` (scores texts: bpc and perplexity), ``format_prediction``, and ``generate`` (sampling).
"""

from __future__ import annotations

import math
import time
import unicodedata
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

from seqlab.data import dataset_names, get_spec, load, tokenizer_from_dict, train_and_encode
from seqlab.data.readers import read_corpus
from seqlab.data.streams import RandomWindows, StreamBatches
from seqlab.data.tokenizers import Tokenizer
from seqlab.errors import ConfigError, DataError
from seqlab.tasks.lm import (
    ADAPTIVE_CUTOFFS,
    DIRECTIONS,
    LM_TOKENIZERS,
    SOFTMAXES,
    WINDOW_MODES,
    LanguageModel,
    LMObjective,
    LMRunConfig,
    adaptive_cutoffs,
    sample,
)
from seqlab.training.checkpoint import load_model
from seqlab.training.trainer import Trainer

__all__ = ["CONFIG", "SPLITS", "build_model", "load_run", "load_lm_state", "corpus_text", "split_text", "train",
           "evaluate", "predict", "format_prediction", "generate", "score_split"]

CONFIG = LMRunConfig  # this task's run-config class
SPLITS = ("train", "val", "test", "all")  # positional parts of the corpus; "all" is the whole text
EVAL_WINDOW = 256  # tokens per forward when scoring (no gradients, so it does not change the result)
SUBWORD_VOCAB = 2000  # subword vocabulary when data.vocab_size is 0
_SNAP = 1000  # a cut moves forward to the next line start when one is this close


def build_model(meta: dict) -> LanguageModel:
    """Rebuild a run's model from its model.json alone."""
    return LanguageModel(meta["vocab_size"], LMRunConfig.from_dict(meta["config"]).model)


def load_run(run_dir: str | Path) -> tuple[LanguageModel, dict, Tokenizer]:
    """(model in eval mode, meta, tokenizer) from a run directory."""
    state, meta = load_lm_state(run_dir)
    model = build_model(meta)
    model.load_state_dict(state)
    model.eval()
    return model, meta, tokenizer_from_dict(meta["tokenizer"])


def load_lm_state(run_dir: str | Path, setting: str | None = None) -> tuple[dict, dict]:
    """(state_dict, meta) of a language-model run; any other run is a ConfigError that names ``setting``
    (the config field that pointed here, e.g. ``model.init_from``) when given."""
    state, meta = load_model(run_dir)
    if meta.get("task") != "lm":
        where = f"{setting}: " if setting else ""
        raise ConfigError(f"{where}{run_dir} holds a {meta.get('task', 'classify')!r} model, not a language model; "
                          "pass a run directory made by `seqlab train lm`")
    return state, meta


# ------------------------------------------------------------------------------------------- the corpus


def corpus_text(data: str, data_dir: str | Path | None = None) -> str:
    """The corpus as one NFC-normalised string (see the module docstring for what ``data`` may name)."""
    if data in dataset_names():
        spec = get_spec(data)
        got = load(data, "train" if "train" in spec.splits else next(iter(spec.splits)), data_dir=data_dir)
        if hasattr(got, "texts"):  # a document reader (classification data): one document per line
            got = "\n".join(t.replace("\n", " ") for t in got.texts) + "\n"
        if not isinstance(got, str):
            raise DataError(f"dataset {data!r} ({spec.task}) does not read as text; pass an LM dataset "
                            "(mysterious_island, tiny_shakespeare), nsmc, or a UTF-8 text file")
        text = got
    else:
        path = Path(data)
        if not path.exists():
            raise DataError(f"no such file, and not a registered dataset ({', '.join(dataset_names())}); "
                            "pass a dataset name or an existing UTF-8 text file", file=str(path))
        text = read_corpus(path)
    return unicodedata.normalize("NFC", text)


def _snap(text: str, pos: int, end: int) -> int:
    """Move a cut forward to the start of the next line when one is near and before ``end`` (so the part
    after the cut keeps some text): a cut then never splits a word."""
    nl = text.find("\n", pos, min(end - 1, pos + _SNAP))
    return nl + 1 if nl != -1 else pos


def split_text(text: str, val_fraction: float, test_fraction: float) -> dict[str, tuple[int, int]]:
    """Character spans ``{"train", "val", "test", "all"}``: test is the last ``test_fraction`` of the text,
    val the ``val_fraction`` before it, train the rest; each cut moved to the next line start."""
    for name, f in (("data.val_fraction", val_fraction), ("data.test_fraction", test_fraction)):
        if not 0 <= f < 1:
            raise ConfigError(f"{name} must be in [0, 1), got {f}")
    if val_fraction + test_fraction >= 1:
        raise ConfigError(f"data.val_fraction + data.test_fraction must be < 1 to leave training text, got "
                          f"{val_fraction} + {test_fraction}")
    N = len(text)
    test_at = _snap(text, round(N * (1 - test_fraction)), N) if test_fraction > 0 else N
    val_at = _snap(text, round(N * (1 - test_fraction - val_fraction)), test_at) if val_fraction > 0 else test_at
    val_at = min(val_at, test_at)
    return {"train": (0, val_at), "val": (val_at, test_at), "test": (test_at, N), "all": (0, N)}


def _context(tokenizer: Tokenizer, text: str, span: tuple[int, int], direction: str) -> int | None:
    """The token read just before ``text[span]``: the last one of the text before it (forward) or the first
    one of the text after it (backward); None at the start (end) of the text."""
    a, b = span
    if direction == "backward":
        ids = tokenizer.encode(text[b:b + _SNAP]) if b < len(text) else []
        return ids[0] if ids else None
    ids = tokenizer.encode(text[max(0, a - _SNAP):a]) if a > 0 else []
    return ids[-1] if ids else None


def _oriented(ids: list[int], direction: str) -> list[int]:
    """Token ids in the order the model reads them."""
    return ids[::-1] if direction == "backward" else ids


def _held_out(tokenizer: Tokenizer, text: str, span: tuple[int, int], streams: int, direction: str = "forward"
             ) -> tuple[StreamBatches, list[int]]:
    """(loader over ``text[span]`` in reading order, conditioned on the token read before it, its ids)."""
    a, b = span
    ids = _oriented(tokenizer.encode(text[a:b]), direction)
    context = _context(tokenizer, text, span, direction)
    if len(ids) + (context is not None) < 2:
        raise DataError(f"the part to score ({b - a} characters) has no token to predict; use a longer text "
                        "or a larger data.val_fraction / data.test_fraction")
    chars = b - a if context is not None else b - a - len(tokenizer.decode(ids[:1]))  # the first is not predicted
    return StreamBatches(ids, streams, EVAL_WINDOW, context=context, chars=chars), ids


def score_split(model: LanguageModel, tokenizer: Tokenizer, text: str, span: tuple[int, int], streams: int,
                direction: str = "forward") -> dict:
    """bpc, perplexity, ... of ``text[span]``, each of its tokens predicted (see ``seqlab.tasks.lm``)."""
    loader, ids = _held_out(tokenizer, text, span, streams, direction)
    metrics = LMObjective().evaluate(model, loader)
    return {"metrics": metrics, "unk_tokens": sum(i == tokenizer.unk_id for i in ids)}


# ----------------------------------------------------------------------------------------------- train


def _check(cfg: LMRunConfig) -> None:
    d = cfg.data
    if cfg.task != "lm":
        raise ConfigError(f"this pipeline trains task 'lm', got config for {cfg.task!r}")
    if d.tokenizer not in LM_TOKENIZERS:
        raise ConfigError(f"data.tokenizer must be one of {', '.join(LM_TOKENIZERS)}, got {d.tokenizer!r}")
    if cfg.model.softmax not in SOFTMAXES:
        raise ConfigError(f"model.softmax must be one of {', '.join(SOFTMAXES)}, got {cfg.model.softmax!r}")
    if d.direction not in DIRECTIONS:
        raise ConfigError(f"data.direction must be one of {', '.join(DIRECTIONS)}, got {d.direction!r}")
    if d.window_mode not in WINDOW_MODES:
        raise ConfigError(f"data.window_mode must be one of {', '.join(WINDOW_MODES)}, got {d.window_mode!r}")
    for name in ("window", "eval_streams", "min_freq"):
        if getattr(d, name) < 1:
            raise ConfigError(f"data.{name} must be >= 1, got {getattr(d, name)}")
    if d.vocab_size < 0:
        raise ConfigError(f"data.vocab_size must be >= 0 (0: automatic), got {d.vocab_size}")


def _embedding_source(cfg: LMRunConfig) -> tuple[Tokenizer, torch.Tensor] | None:
    """(tokenizer, embedding) of the LM run named by ``model.embedding_from``, or None."""
    src = cfg.model.embedding_from
    if not src:
        return None
    state, meta = load_lm_state(src, "model.embedding_from")
    emb = state["embedding.weight"]
    if emb.shape[1] != cfg.model.embedding_dim:
        raise ConfigError(f"model.embedding_from: the embedding in {src} is {emb.shape[1]} wide, this model's "
                          f"{cfg.model.embedding_dim}; set model.embedding_dim={emb.shape[1]}")
    return tokenizer_from_dict(meta["tokenizer"]), emb


def _tokenize(cfg: LMRunConfig, train_text: str) -> tuple[Tokenizer, list[int]]:
    d = cfg.data
    kind = "bpe" if d.tokenizer == "subword" else d.tokenizer
    if kind == "char":
        tok, (ids,) = train_and_encode("char", [train_text], d.vocab_size or None, d.min_freq)
    else:
        tok, (ids,) = train_and_encode(kind, [train_text], d.vocab_size or SUBWORD_VOCAB, d.min_freq)
    return tok, ids


def _train_loader(cfg: LMRunConfig, ids: list[int], file: str, log) -> StreamBatches | RandomWindows:
    d, B, k = cfg.data, cfg.train.batch_size, cfg.data.window
    if len(ids) < k + 1:
        raise DataError(f"the training text is {len(ids)} tokens, shorter than one window of data.window = {k} "
                        f"steps plus its target; use a longer corpus or a smaller window (--set data.window=N)",
                        file=file, line=1)
    if d.window_mode == "random":
        return RandomWindows(ids, B, k, cfg.train.seed)
    streams = min(B, (len(ids) - 1) // k)  # every stream holds at least one full window
    if streams < B:
        log(f"the training text fills only {streams} stream(s) of {k} steps: using {streams} instead of "
            f"train.batch_size = {B}")
    return StreamBatches(ids, streams, k)


def train(cfg: LMRunConfig, out: str | Path, *, data_dir: str | Path | None = None, resume: bool = False,
          progress: bool = True, log=print) -> dict:
    """Read, split by position, tokenize on the training part, train with stateful TBPTT, keep the best
    validation bpc in ``out``."""
    _check(cfg)
    d, tc = cfg.data, cfg.train
    torch.manual_seed(tc.seed)
    t0 = time.perf_counter()
    text = corpus_text(d.name, data_dir)
    spans = split_text(text, d.val_fraction, d.test_fraction)
    (a, b), (va, vb) = spans["train"], spans["val"]
    source = _embedding_source(cfg)
    if source:
        tokenizer, ids = source[0], source[0].encode(text[a:b])
    else:
        tokenizer, ids = _tokenize(cfg, text[a:b])
    ids = _oriented(ids, d.direction)
    if cfg.model.softmax == "adaptive" and (cfg.model.tie_weights or not adaptive_cutoffs(tokenizer.vocab_size)):
        raise ConfigError(f"model.softmax = 'adaptive' needs model.tie_weights = false and a vocabulary of more "
                          f"than {ADAPTIVE_CUTOFFS[0] + 1} tokens (this one has {tokenizer.vocab_size}); "
                          "use --set model.softmax=full")
    train_b = _train_loader(cfg, ids, d.name, log)
    val_b, val_ids = _held_out(tokenizer, text, (va, vb), d.eval_streams, d.direction) if vb > va else (None, [])
    log(f"{d.name}: {len(text):,} characters; train {b - a:,} ({len(ids):,} tokens), validation {vb - va:,}, "
        f"test {len(text) - vb:,} held out by position; {tokenizer.kind} vocabulary {tokenizer.vocab_size}; "
        f"{len(train_b)} windows of {d.window} x {getattr(train_b, 'streams', tc.batch_size)} per epoch, "
        f"read {d.direction} (prepared in {time.perf_counter() - t0:.1f}s)")
    meta = {"task": "lm", "config": cfg.to_dict(), "tokenizer": tokenizer.to_dict(),
            "vocab_size": tokenizer.vocab_size,
            "data": {"name": d.name, "corpus_chars": len(text), "spans": {k: list(v) for k, v in spans.items()},
                     "train_tokens": len(ids), "val_tokens": len(val_ids)}}
    model = build_model(meta)
    if source:
        with torch.no_grad():
            model.embedding.weight.copy_(source[1])
        model.embedding.weight.requires_grad_(False)  # the trainer optimises only what requires a gradient
        log(f"tokenizer and embedding from {cfg.model.embedding_from} ({tokenizer.kind}), the embedding kept fixed")
    trainer = Trainer(model, LMObjective(), tc, run_dir=out, meta=meta, progress=progress)
    summary = trainer.fit(train_b, val_b, resume=resume)
    return summary | {"prepare_s": round(time.perf_counter() - t0 - summary.get("wall_time_s", 0.0), 1)}


# -------------------------------------------------------------------------------------------- evaluate


def evaluate(run_dir: str | Path, data: str | None = None, split: str = "test", *, data_dir: str | Path | None = None,
             text_col: str | None = None, label_col: str | None = None) -> dict:
    """Held-out metrics ``{"task", "split", "metrics": {bpc, perplexity, loss, nats_per_char, ...}, ...}``.

    ``split`` is a positional part of the corpus (train | val | test | all), cut with the run's fractions;
    ``data`` defaults to the run's corpus (another corpus is cut the same way)."""
    if split not in SPLITS:
        raise DataError(f"language-model split must be one of {', '.join(SPLITS)} (positional parts of the "
                        f"corpus), got {split!r}")
    model, meta, tokenizer = load_run(run_dir)
    d = LMRunConfig.from_dict(meta["config"]).data
    name = data or d.name
    text = corpus_text(name, data_dir)
    span = split_text(text, d.val_fraction, d.test_fraction)[split]
    if span[1] <= span[0]:
        raise DataError(f"split {split!r} of {name} is empty (data.val_fraction={d.val_fraction}, "
                        f"data.test_fraction={d.test_fraction}); choose another --split")
    scored = score_split(model, tokenizer, text, span, d.eval_streams, d.direction)
    return {"task": "lm", "split": split, "data": name, "characters": span[1] - span[0], **scored,
            "held_out": split in ("val", "test")}


# ------------------------------------------------------------------------------------- predict: scoring


def predict(run_dir: str | Path, texts: list[str]) -> list[dict]:
    """Score each text: bits per character and per-token perplexity under the model. Each text is read as
    if it started a line (conditioned on a newline when the vocabulary has one; a backward model: as if a
    line ended after it)."""
    model, meta, tokenizer = load_run(run_dir)
    direction = LMRunConfig.from_dict(meta["config"]).data.direction
    newline = tokenizer.token_to_id("\n")
    out = []
    for raw in texts:
        text = unicodedata.normalize("NFC", raw)
        ids = _oriented(tokenizer.encode(text), direction)
        if len(ids) + (newline is not None) < 2:
            out.append({"text": raw, "tokens": len(ids), "chars": len(text), "bpc": math.nan,
                        "perplexity": math.nan})
            continue
        chars = len(text) if newline is not None else len(text) - len(tokenizer.decode(ids[:1]))
        loader = StreamBatches(ids, 1, EVAL_WINDOW, context=newline, chars=chars)
        m = LMObjective().evaluate(model, loader)
        out.append({"text": raw, "tokens": m["tokens"], "chars": m["chars"], "bpc": m["bpc"],
                    "perplexity": m["perplexity"]})
    return out


def format_prediction(p: dict) -> str:
    """One terminal line: bits per character, perplexity, text (tab-separated)."""
    return f"bpc {p['bpc']:.4f}\tperplexity {p['perplexity']:.3f}\t{p['text']}"


# ------------------------------------------------------------------------------------ generate: sampling


def _unknown(tokenizer: Tokenizer, prompt: str, ids: list[int]) -> list[str]:
    """The prompt's pieces that map to <unk>."""
    hf = getattr(tokenizer, "hf", None)
    if hf is not None:
        enc = hf.encode(prompt, add_special_tokens=False)
        return [prompt[s:e] for i, (s, e) in zip(enc.ids, enc.offsets, strict=True) if i == tokenizer.unk_id]
    return [t for t, i in zip(tokenizer.tokenize(prompt), ids, strict=True) if i == tokenizer.unk_id]


def generate(run_dir: str | Path, prompt: str = "", length: int = 500, *, temperature: float = 0.8,
             top_k: int = 0, top_p: float = 1.0, seed: int | None = None,
             warn: Callable[[str], None] | None = None) -> Iterator[str]:
    """Prime on ``prompt`` then sample ``length`` tokens, yielding the new text piece by piece as produced.

    temperature 0 is greedy; top_k 0 and top_p 1 switch those filters off. Prompt characters outside the
    vocabulary are read as <unk> after a warning (``warn``, default ``warnings.warn``). As in ``predict``, the
    prompt is read as if it started a line: the state is first primed on a newline when the vocabulary has
    one (a model trained on carried states has rarely seen a zero state before the middle of a line, and
    can derail there); an empty prompt is just that newline. ``seed`` makes the sample repeatable (its own
    generator: global RNGs untouched).
    """
    if isinstance(length, bool) or not isinstance(length, int) or length <= 0:
        raise ConfigError(f"--length must be a positive number of tokens to generate, got {length}")
    if not (isinstance(temperature, int | float) and math.isfinite(temperature) and temperature >= 0):
        raise ConfigError(f"--temperature must be >= 0 (0: greedy), got {temperature}")
    if top_k < 0:
        raise ConfigError(f"--top-k must be >= 0 (0: off), got {top_k}")
    if not 0 < top_p <= 1:
        raise ConfigError(f"--top-p must be in (0, 1] (1: off), got {top_p}")
    warn = warn or (lambda msg: warnings.warn(msg, stacklevel=3))
    model, meta, tokenizer = load_run(run_dir)
    if LMRunConfig.from_dict(meta["config"]).data.direction != "forward":
        raise ConfigError(f"{run_dir} is a backward language model (data.direction = 'backward'): it scores text "
                          "and starts classifiers but does not write left to right; sample from a forward model")
    prompt = unicodedata.normalize("NFC", prompt) or "\n"
    ids = tokenizer.encode(prompt)
    unknown = _unknown(tokenizer, prompt, ids)
    if unknown:
        shown = ", ".join(repr(u) for u in dict.fromkeys(unknown))
        warn(f"{len(unknown)} prompt character(s) not in the model's vocabulary, read as <unk>: {shown}")
    if not ids:
        raise ConfigError("the prompt encodes to no tokens; pass --prompt with some text")
    newline = tokenizer.token_to_id("\n")
    primer = [newline] if newline is not None and not prompt.startswith("\n") else []
    gen = torch.Generator()
    if seed is None:
        gen.seed()  # fresh, non-deterministic
    else:
        gen.manual_seed(seed)
    tokens = sample(model, primer + ids, length, temperature=temperature, top_k=top_k, top_p=top_p,
                    banned=(tokenizer.pad_id, tokenizer.unk_id), generator=gen)
    return _stream_text(tokenizer, ids, tokens)


def _stream_text(tokenizer: Tokenizer, prompt_ids: list[int], tokens: Iterator[int]) -> Iterator[str]:
    """Text pieces as tokens arrive: decode(prompt + new) minus what was already shown (subword decoders
    join tokens context-dependently, e.g. the word-start mark ▁ becomes a space only after a word)."""
    if tokenizer.kind == "char":  # one token is one character: no context needed
        yield from (tokenizer.decode([t]) for t in tokens)
        return
    ids = list(prompt_ids)
    shown = tokenizer.decode(ids)
    for t in tokens:
        ids.append(t)
        text = tokenizer.decode(ids)
        piece = text[len(shown):] if text.startswith(shown) else tokenizer.decode([t])
        shown = text
        if piece:
            yield piece
