"""Sequence to sequence end to end: read pairs -> carve a held-out split -> tokenize -> train -> decode ->
BLEU / chrF -> translate (and draw the attention).

The two registered corpora (``chatbot_data_ko``, ``tatoeba_kor_eng``) publish no split, and neither does a
user's pairs file: ``carve_split`` cuts train / validation / test deterministically from ``data.split_seed``
alone, grouping pairs by source sentence so that one input never sits on both sides, and the run records the
test and validation line numbers in its model.json. ``evaluate`` re-carves and checks it gets those lines.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from seqlab.data import (
    BOS,
    EOS,
    PAD,
    UNK,
    BucketBatches,
    Tokenizer,
    build_tokenizer,
    dataset_names,
    get_spec,
    resolve,
    tokenizer_from_dict,
)
from seqlab.data.readers import PairsResult, check_pair_lengths, read_pairs
from seqlab.data.vocab import Vocab
from seqlab.errors import ConfigError, DataError
from seqlab.tasks.seq2seq import (
    DecodeConfig,
    Hypothesis,
    Seq2Seq,
    Seq2SeqDataConfig,
    Seq2SeqObjective,
    Seq2SeqRunConfig,
    corpus_scores,
    decode,
)
from seqlab.training.checkpoint import load_model
from seqlab.training.trainer import Trainer

__all__ = ["CONFIG", "build_model", "load_run", "train", "evaluate", "translate", "predict", "format_prediction",
           "carve_split", "read_corpus", "plot_attention", "Run"]

CONFIG = Seq2SeqRunConfig  # this task's run-config class
SPECIALS = (PAD, UNK, BOS, EOS)  # every seq2seq tokenizer reserves these ids 0..3
DECODE_BATCH = 64  # sources decoded together (beam search runs K rows per source)


# ---------------------------------------------------------------------------------------------------------
# Data: pairs, the held-out carve, tokenizers, batches


def read_corpus(d: Seq2SeqDataConfig, data_dir: str | Path | None = None, *, name: str | None = None,
                src_col: str | None = None, tgt_col: str | None = None, reverse: bool | None = None) -> PairsResult:
    """A registered corpus or a user's pairs file (``name``, default ``d.name``), lengths checked, sides
    swapped when ``reverse`` (default ``d.reverse``)."""
    name = name or d.name
    reverse = d.reverse if reverse is None else reverse
    if name in dataset_names():
        spec = get_spec(name)
        if spec.task != "seq2seq":
            raise DataError(f"dataset {name!r} is a {spec.task} dataset; seq2seq needs sentence pairs such as "
                            "chatbot_data_ko, tatoeba_kor_eng or a source<TAB>target file")
        path = resolve(name, "train", data_dir)
        result = check_pair_lengths(spec.reader(path, "train"), d.max_chars)
    else:
        path = Path(name)
        if not path.exists():
            raise DataError(f"no such file, and not a registered dataset ({', '.join(dataset_names())}); pass a "
                            "dataset name or a pairs file (.tsv: source<TAB>target per line, .csv, .jsonl)",
                            file=str(path))
        result = read_pairs(path, src_col=src_col or d.src_col, tgt_col=tgt_col or d.tgt_col,
                            max_chars=d.max_chars)
    if reverse:
        from seqlab.data.readers import Pair

        result = PairsResult(result.path, [Pair(p.target, p.source, p.line, p.file) for p in result.pairs])
    return result


def carve_split(sources: list[str], test_fraction: float, val_fraction: float, seed: int) -> dict[str, np.ndarray]:
    """Deterministic train / val / test pair indices; every pair with the same source lands in one split."""
    for key, f in (("data.test_fraction", test_fraction), ("data.val_fraction", val_fraction)):
        if not 0 < f < 1:
            raise ConfigError(f"{key} must be in (0, 1), got {f}")
    group_of: dict[str, int] = {}
    groups = np.array([group_of.setdefault(s.strip(), len(group_of)) for s in sources])  # (n,)
    n_groups = len(group_of)
    n_test = max(1, round(n_groups * test_fraction))
    n_val = max(1, round(n_groups * val_fraction))
    if n_groups - n_test - n_val < 1:
        raise DataError(f"only {n_groups} distinct sources: too few to carve test ({n_test}), validation "
                        f"({n_val}) and training pairs; add pairs or lower data.test_fraction/val_fraction")
    perm = np.random.default_rng(seed).permutation(n_groups)
    part = np.zeros(n_groups, dtype=np.int64)  # 0 train, 1 val, 2 test
    part[perm[:n_test]] = 2
    part[perm[n_test:n_test + n_val]] = 1
    return {name: np.flatnonzero(part[groups] == k) for k, name in enumerate(("train", "val", "test"))}


def train_tokenizer(kind: str, texts: list[str], vocab_size: int, min_freq: int) -> tuple[Tokenizer, list[list[int]]]:
    """A tokenizer with <pad> <unk> <bos> <eos> trained on ``texts``, and their ids (tokenized once)."""
    if kind in ("bpe", "unigram"):
        tok = build_tokenizer(kind, texts, vocab_size, min_freq, specials=SPECIALS)
        return tok, tok.encode_batch(texts)
    probe = build_tokenizer(kind, [], vocab_size, 1, specials=SPECIALS)  # the kind's tokenize, no vocabulary yet
    tokens = probe.tokenize_batch(texts)
    tok = type(probe)(Vocab.build(tokens, min_freq=min_freq, max_size=vocab_size, specials=SPECIALS))
    return tok, [tok.vocab.lookup(t) for t in tokens]


def encode_sources(tok: Tokenizer, texts: list[str], max_len: int) -> list[list[int]]:
    """Source ids, truncated; a text with no known token becomes [<unk>] so every length is >= 1."""
    return [ids or [tok.unk_id] for ids in tok.encode_batch(texts, max_len)]


def with_eos(ids: list[list[int]], eos: int, max_len: int | None = None) -> list[list[int]]:
    """Target ids y_1..y_n <eos> (truncated to ``max_len`` tokens before the <eos>)."""
    return [list(y[:max_len] if max_len is not None else y) + [eos] for y in ids]


def make_batches(src: list[list[int]], tgt: list[list[int]], batch_size: int, seed: int, shuffle: bool,
                 bucket_size: int) -> BucketBatches:
    """Batch.tokens (B, S) sources, Batch.targets (B, T) y <eos> padded with -100."""
    bucket = bucket_size if shuffle else len(src) // batch_size + 1
    return BucketBatches(src, tgt, batch_size=batch_size, seed=seed, shuffle=shuffle, bucket_size=bucket)


def _tokenizers(d: Seq2SeqDataConfig, srcs: list[str], tgts: list[str]):
    """(source tokenizer, target tokenizer, source ids, target ids) trained on the training pairs."""
    tgt_kind = d.tgt_tokenizer or d.tokenizer
    if d.shared_vocab:
        if tgt_kind != d.tokenizer:
            raise ConfigError(f"data.shared_vocab=true needs one tokenizer kind, got data.tokenizer={d.tokenizer!r} "
                              f"and data.tgt_tokenizer={tgt_kind!r}; drop one or set data.shared_vocab=false")
        tok, ids = train_tokenizer(d.tokenizer, srcs + tgts, d.vocab_size, d.min_freq)
        return tok, tok, ids[: len(srcs)], ids[len(srcs):]
    src_tok, src_ids = train_tokenizer(d.tokenizer, srcs, d.vocab_size, d.min_freq)
    tgt_tok, tgt_ids = train_tokenizer(tgt_kind, tgts, d.vocab_size, d.min_freq)
    return src_tok, tgt_tok, src_ids, tgt_ids


# ---------------------------------------------------------------------------------------------------------
# A run: model + tokenizers rebuilt from model.json


@dataclass(frozen=True)
class Run:
    model: Seq2Seq  # in eval mode
    meta: dict  # model.json's meta
    cfg: Seq2SeqRunConfig
    src_tok: Tokenizer
    tgt_tok: Tokenizer


def build_model(meta: dict) -> Seq2Seq:
    """Rebuild a run's model from its model.json alone."""
    cfg = CONFIG.from_dict(meta["config"])
    sp = meta["specials"]
    return Seq2Seq(meta["src_vocab_size"], meta["tgt_vocab_size"], cfg.model, bos_id=sp["bos"], eos_id=sp["eos"],
                   pad_id=sp["pad"])


def load_run(run_dir: str | Path) -> Run:
    state, meta = load_model(run_dir)
    if meta.get("task") != "seq2seq":
        raise ConfigError(f"{run_dir} holds a {meta.get('task')!r} run, not seq2seq; pass a run made by "
                          "`seqlab train seq2seq`")
    model = build_model(meta)
    model.load_state_dict(state)
    model.eval()
    src_tok = tokenizer_from_dict(meta["src_tokenizer"])
    tgt_tok = src_tok if meta.get("shared_vocab") else tokenizer_from_dict(meta["tgt_tokenizer"])
    return Run(model, meta, CONFIG.from_dict(meta["config"]), src_tok, tgt_tok)


# ---------------------------------------------------------------------------------------------------------
# Training


def train(cfg: Seq2SeqRunConfig, out: str | Path, *, data_dir: str | Path | None = None, resume: bool = False,
          progress: bool = True, log=print) -> dict:
    """Read, carve, tokenize, train with early stopping on validation loss; save the best model to ``out``."""
    if cfg.task != "seq2seq":
        raise ConfigError(f"this pipeline trains task 'seq2seq', got config for {cfg.task!r}")
    d, tc = cfg.data, cfg.train
    torch.manual_seed(tc.seed)
    t0 = time.perf_counter()
    corpus = read_corpus(d, data_dir)
    pairs = corpus.pairs
    split = carve_split([p.source for p in pairs], d.test_fraction, d.val_fraction, d.split_seed)
    tr, va = [pairs[i] for i in split["train"]], [pairs[i] for i in split["val"]]
    src_tok, tgt_tok, src_ids, tgt_ids = _tokenizers(d, [p.source for p in tr], [p.target for p in tr])
    eos = tgt_tok.token_to_id(EOS)
    keep = [i for i, y in enumerate(tgt_ids) if 0 < len(y) <= d.max_tgt_len]
    tr_src = [(src_ids[i] or [src_tok.unk_id])[: d.max_src_len] for i in keep]
    tr_tgt = with_eos([tgt_ids[i] for i in keep], eos)
    va_src = encode_sources(src_tok, [p.source for p in va], d.max_src_len)
    va_tgt = with_eos(tgt_tok.encode_batch([p.target for p in va]), eos, d.max_tgt_len)
    dropped = len(tr) - len(keep)
    log(f"{len(pairs)} pairs from {corpus.path}: {len(keep)} train / {len(va)} validation / {len(split['test'])} "
        f"test (held out, carved with data.split_seed={d.split_seed})"
        + (f"; {dropped} training pairs over data.max_tgt_len={d.max_tgt_len} target tokens left out" if dropped
           else "")
        + f"; vocabularies {src_tok.vocab_size} (source {d.tokenizer}) / {tgt_tok.vocab_size} (target "
        f"{d.tgt_tokenizer or d.tokenizer}) prepared in {time.perf_counter() - t0:.0f}s")
    train_b = make_batches(tr_src, tr_tgt, tc.batch_size, tc.seed, True, d.bucket_size)
    val_b = make_batches(va_src, va_tgt, 128, tc.seed, False, d.bucket_size)
    meta = {
        "task": "seq2seq", "config": cfg.to_dict(),
        "src_tokenizer": src_tok.to_dict(), "shared_vocab": d.shared_vocab,
        "tgt_tokenizer": None if d.shared_vocab else tgt_tok.to_dict(),
        "src_vocab_size": src_tok.vocab_size, "tgt_vocab_size": tgt_tok.vocab_size,
        "specials": {"pad": tgt_tok.pad_id, "unk": tgt_tok.unk_id, "bos": tgt_tok.token_to_id(BOS), "eos": eos},
        "data": {"name": d.name, "file": corpus.path, "reverse": d.reverse, "pairs": len(pairs),
                 "train_pairs": len(keep), "train_pairs_dropped_long": dropped},
        "split": {"seed": d.split_seed, "test_fraction": d.test_fraction, "val_fraction": d.val_fraction,
                  "group_by": "source", "counts": {k: len(v) for k, v in split.items()},
                  "test_lines": [pairs[i].line for i in split["test"]],
                  "val_lines": [pairs[i].line for i in split["val"]]},
    }
    model = build_model(meta)
    total = min(tc.epochs * len(train_b), tc.max_steps) if tc.max_steps > 0 else tc.epochs * len(train_b)
    objective = Seq2SeqObjective(bos_id=meta["specials"]["bos"], forcing=cfg.forcing, total_steps=total)
    summary = Trainer(model, objective, tc, run_dir=out, meta=meta, progress=progress).fit(train_b, val_b,
                                                                                           resume=resume)
    return summary | {"prepare_s": round(time.perf_counter() - t0 - summary.get("wall_time_s", 0.0), 1),
                      "split": meta["split"]["counts"]}


# ---------------------------------------------------------------------------------------------------------
# Decoding and evaluation


def _decode_config(run: Run, beam: int | None, length_penalty: float | None, max_len: int | None) -> DecodeConfig:
    dc = run.cfg.decode
    return DecodeConfig(beam_size=dc.beam_size if beam is None else beam,
                        length_penalty=dc.length_penalty if length_penalty is None else length_penalty,
                        max_len=dc.max_len if max_len is None else max_len, bleu_tokenize=dc.bleu_tokenize)


def _decode_ids(run: Run, src: list[list[int]], dc: DecodeConfig, nbest: int = 1,
                attention: bool = False) -> list[list[Hypothesis]]:
    """Hypotheses for every source, decoded in length-sorted batches, returned in input order."""
    order = sorted(range(len(src)), key=lambda i: -len(src[i]))
    out: list[list[Hypothesis]] = [[] for _ in src]
    for start in range(0, len(order), DECODE_BATCH):
        idx = order[start:start + DECODE_BATCH]
        lengths = torch.tensor([len(src[i]) for i in idx])
        tokens = torch.zeros(len(idx), int(lengths.max()), dtype=torch.long)  # (B, S)
        for row, i in enumerate(idx):
            tokens[row, : len(src[i])] = torch.tensor(src[i])
        for i, hyps in zip(idx, decode(run.model, tokens, lengths, dc, nbest, attention), strict=True):
            out[i] = hyps
    return out


def evaluate(run_dir: str | Path, data: str | None = None, split: str = "test", *,
             data_dir: str | Path | None = None, text_col: str | None = None, label_col: str | None = None,
             beam: int | None = None, length_penalty: float | None = None, max_len: int | None = None,
             limit: int | None = None) -> dict:
    """BLEU and chrF of decoded outputs against the references, plus teacher-forced loss and perplexity.

    With the run's own dataset (default), ``split`` is ``test`` / ``val`` / ``train`` of the recorded carve;
    any other dataset or file is evaluated whole (reported as split ``all``). ``text_col``/``label_col`` name
    a user file's source/target columns. ``beam`` etc. override the run's decode config."""
    run = load_run(run_dir)
    d = run.cfg.data
    own = data is None or data == d.name
    if own:
        pairs = _split_pairs(run, split, data_dir)
    else:  # a user's file is read source<TAB>target as it is; a registered corpus in the run's direction
        reverse = d.reverse and data in dataset_names()
        pairs = read_corpus(d, data_dir, name=data, src_col=text_col, tgt_col=label_col, reverse=reverse).pairs
    pairs = pairs[:limit] if limit else pairs
    dc = _decode_config(run, beam, length_penalty, max_len)
    t0 = time.perf_counter()
    src = encode_sources(run.src_tok, [p.source for p in pairs], d.max_src_len)
    hyps = [h[0] for h in _decode_ids(run, src, dc)]
    decode_s = time.perf_counter() - t0
    outputs = [run.tgt_tok.decode(h.tokens) for h in hyps]
    scores = corpus_scores(outputs, [p.target for p in pairs], dc.bleu_tokenize)
    eos = run.meta["specials"]["eos"]
    tgt = with_eos(run.tgt_tok.encode_batch([p.target for p in pairs]), eos, d.max_tgt_len)
    objective = Seq2SeqObjective(bos_id=run.meta["specials"]["bos"])
    tf = objective.evaluate(run.model, make_batches(src, tgt, 128, 0, False, d.bucket_size))
    metrics = {"bleu": scores["bleu"], "chrf": scores["chrf"], "loss": tf["loss"], "perplexity": tf["perplexity"],
               "unfinished": sum(not h.finished for h in hyps) / max(1, len(hyps)),
               "output_len": float(np.mean([len(h.tokens) for h in hyps])) if hyps else 0.0}
    return {"task": "seq2seq", "split": split if own else "all", "data": data or d.name, "examples": len(pairs),
            "metrics": metrics, "signatures": scores["signatures"],
            "decode": {"beam_size": dc.beam_size, "length_penalty": dc.length_penalty, "max_len": dc.max_len,
                       "seconds": round(decode_s, 2)},
            "samples": [{"source": p.source, "reference": p.target, "output": o}
                        for p, o in zip(pairs[:5], outputs[:5], strict=False)]}


def _split_pairs(run: Run, split: str, data_dir) -> list:
    """The pairs of the run's recorded carve, checked against the line numbers in model.json."""
    if split not in ("train", "val", "test"):
        raise DataError(f"the seq2seq run's dataset has the carved splits train, val and test; got split {split!r}")
    d = run.cfg.data
    corpus = read_corpus(d, data_dir)
    pairs = corpus.pairs
    parts = carve_split([p.source for p in pairs], d.test_fraction, d.val_fraction, d.split_seed)
    rec = run.meta["split"]
    for name in ("test", "val"):
        if [pairs[i].line for i in parts[name]] != rec[f"{name}_lines"]:
            raise DataError(f"the data differ from what this run was trained on: its recorded {name} split "
                            f"({len(rec[f'{name}_lines'])} lines) does not match a fresh carve "
                            f"({len(parts[name])}); evaluate with the original file, or pass --data to score "
                            "another file whole", file=corpus.path)
    return [pairs[i] for i in parts[split]]


def translate(run: Run | str | Path, texts: list[str], *, beam: int | None = None, length_penalty: float | None = None,
              max_len: int | None = None, nbest: int = 1, attention: bool = False) -> list[dict]:
    """One dict per text: text, translation, score (log P / len^α), logprob, finished; ``nbest`` > 1 adds
    ``nbest`` (translation, score) lists; ``attention=True`` adds the weights and both token sequences."""
    run = run if isinstance(run, Run) else load_run(run)
    d = run.cfg.data
    for i, text in enumerate(texts, start=1):
        if not text.strip():
            raise DataError(f"input {i} is empty; pass a non-empty sentence to translate")
        if len(text) > d.max_chars:
            raise DataError(f"input {i} is {len(text)} characters, over the limit of data.max_chars={d.max_chars}; "
                            "shorten it or split it into sentences")
    dc = _decode_config(run, beam, length_penalty, max_len)
    if attention and run.model.attention is None:
        raise ConfigError("this run was trained without attention (model.attention='none'): there are no weights to "
                          "draw; drop --attention or train with --set model.attention=general")
    src = encode_sources(run.src_tok, texts, d.max_src_len)
    results = []
    for text, ids, hyps in zip(texts, src, _decode_ids(run, src, dc, nbest, attention), strict=True):
        best = hyps[0]
        r = {"text": text, "translation": run.tgt_tok.decode(best.tokens), "score": best.score,
             "logprob": best.logprob, "finished": best.finished}
        if nbest > 1:
            r["nbest"] = [{"translation": run.tgt_tok.decode(h.tokens), "score": h.score} for h in hyps]
        if attention:
            r["attention"] = best.attention.tolist()  # (output steps, source tokens)
            r["source_tokens"] = _token_strings(run.src_tok, ids)
            r["output_tokens"] = _token_strings(run.tgt_tok, list(best.tokens)) + ([EOS] if best.finished else [])
        results.append(r)
    return results


def _token_strings(tok: Tokenizer, ids: list[int]) -> list[str]:
    if hasattr(tok, "vocab"):
        return tok.vocab.tokens(ids)
    return [tok.hf.id_to_token(i) for i in ids]


def predict(run_dir: str | Path, texts: list[str]) -> list[dict]:
    """``seqlab predict``: translate with the run's decode config."""
    return translate(run_dir, texts)


def format_prediction(p: dict) -> str:
    """One terminal line: output, score, input (tab-separated)."""
    return f"{p['translation']}\t{p['score']:.4f}\t{p['text']}"


# ---------------------------------------------------------------------------------------------------------
# Attention heatmap

_HANGUL_FONTS = ("NanumGothic", "NanumBarunGothic", "Noto Sans CJK KR", "Noto Sans KR", "Noto Sans CJK JP",
                 "Malgun Gothic", "AppleGothic", "Apple SD Gothic Neo", "UnDotum", "Baekmuk Gulim")
# Revised Romanization of each jamo of a Hangul syllable (initial, medial, final), no sound-change rules
_INITIAL = "g kk n d tt r m b pp s ss - j jj ch k t p h".split()
_MEDIAL = "a ae ya yae eo e yeo ye o wa wae oe yo u wo we wi yu eu ui i".split()
_FINAL = ["", "k", "k", "k", "n", "n", "n", "t", "l", "k", "m", "l", "l", "l", "p", "l", "m", "p", "p", "t", "t",
          "ng", "t", "t", "k", "t", "p", "t"]


def romanize(text: str) -> str:
    """Hangul syllables in Latin letters (오늘 -> oneul), for plots on machines without a Korean font."""
    out = []
    for ch in text:
        code = ord(ch) - 0xAC00
        if 0 <= code < 11172:
            i, m, f = code // 588, (code % 588) // 28, code % 28
            out.append(_INITIAL[i].replace("-", "") + _MEDIAL[m] + _FINAL[f])
        else:
            out.append(ch if ord(ch) < 0x3000 else "?")
    return "".join(out)


def _korean_font() -> str | None:
    """A font family that has Hangul glyphs: $SEQLAB_FONT (a font file), else a known installed family."""
    import os

    from matplotlib import font_manager

    path = os.environ.get("SEQLAB_FONT")
    if path:
        if not Path(path).is_file():
            raise ConfigError(f"SEQLAB_FONT={path} is not a font file; point it at a .ttf/.otf with Hangul glyphs")
        font_manager.fontManager.addfont(path)
        return font_manager.FontProperties(fname=path).get_name()
    installed = {f.name for f in font_manager.fontManager.ttflist}
    return next((name for name in _HANGUL_FONTS if name in installed), None)


def plot_attention(weights, source_tokens: list[str], output_tokens: list[str], path: str | Path, title: str,
                   log=print) -> Path:
    """Heatmap of attention weights (output steps × source tokens), written atomically as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    w = np.asarray(weights, dtype=float)  # (T_out, S)
    font = _korean_font()
    labels = [*source_tokens, *output_tokens, title]
    if font is None and any(ord(ch) >= 0x3000 for s in labels for ch in s):
        log("no font with Hangul glyphs found: labels are romanized; install one (e.g. fonts-nanum) or set "
            "SEQLAB_FONT=/path/to/font.ttf for Korean labels")
        source_tokens, output_tokens = [romanize(s) for s in source_tokens], [romanize(s) for s in output_tokens]
        title = romanize(title)
    path = Path(path)
    with matplotlib.rc_context({"font.family": [font, "DejaVu Sans"] if font else ["DejaVu Sans"]}), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # missing-glyph warnings for symbols outside the font
        fig, ax = plt.subplots(figsize=(max(4.0, 0.45 * w.shape[1] + 2), max(3.0, 0.4 * w.shape[0] + 1.5)))
        im = ax.imshow(w, cmap="viridis", vmin=0.0, vmax=max(1e-9, float(w.max())), aspect="auto")
        ax.set_xticks(range(w.shape[1]), source_tokens, rotation=60, ha="right")
        ax.set_yticks(range(w.shape[0]), output_tokens)
        ax.set_xlabel("source token")
        ax.set_ylabel("output token")
        ax.set_title(title)
        fig.colorbar(im, ax=ax, fraction=0.04)
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.tmp.png")
        fig.savefig(tmp, dpi=100)
        plt.close(fig)
    tmp.replace(path)
    return path
