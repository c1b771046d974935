"""Sequence tagging end to end (NER, POS): read -> vocabularies -> train -> evaluate -> predict.

Datasets: ``conll2003`` (English NER, dev = eng.testa, test = eng.testb), ``ud_english_ewt`` and
``ud_korean_gsd`` (UPOS), ``korean_ner_kmou`` (Korean NER over morphemes), or a file of your own in any
format of ``seqlab.data.conll`` (CoNLL columns, CoNLL-U, token<TAB>tag, JSONL). Registered datasets validate
on their dev split; a user file gives ``data.val_fraction`` of its sentences to validation.

Words are looked up lower-cased with digits mapped to 0 (``data.lowercase`` / ``data.zero_digits``); the
character encoder sees the word as written, so capitalisation and digits still reach the model.
"""

from __future__ import annotations

import dataclasses
import re
import time
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from seqlab.config import TrainConfig, from_dict
from seqlab.data.conll import (
    TAG_FORMATS,
    TagCorpus,
    TaggedSentence,
    bio_to_bioes,
    entity_spans,
    load_word_vectors,
    read_tagged,
)
from seqlab.data.registry import dataset_names, get_spec, resolve
from seqlab.data.vocab import PAD, UNK, Vocab
from seqlab.errors import ConfigError, DataError
from seqlab.tasks.tag import TagBatches, Tagger, TagModelConfig, TagObjective, tag_metrics
from seqlab.training.checkpoint import load_model
from seqlab.training.trainer import Trainer

__all__ = ["CONFIG", "TagDataConfig", "TagTrainConfig", "TagRunConfig", "train", "evaluate", "predict",
           "format_prediction", "format_report", "build_model", "load_run", "read_split"]

SCHEMES = ("auto", "bio", "bioes")
TOKENIZE = ("auto", "whitespace", "kiwi")


@dataclass(frozen=True)
class TagDataConfig:
    name: str = "conll2003"  # registry dataset (conll2003, ud_english_ewt, ud_korean_gsd, korean_ner_kmou) or a file
    format: str = "auto"  # user files: auto | conll | conllu | tsv | jsonl | kmou (auto: by suffix, then content)
    column: str = "auto"  # tags to learn: auto | ner | chunk | pos (CoNLL-2003) | upos | xpos (CoNLL-U) | index
    scheme: str = "auto"  # entity tag encoding inside the model: auto (= bio) | bio | bioes; POS tags stay as is
    tokenize: str = "auto"  # how `predict` splits raw text: auto (kiwi for KMOU, else whitespace) | whitespace | kiwi
    lowercase: bool = True  # word lookup is lower-cased (the character encoder sees the original case)
    zero_digits: bool = True  # word lookup maps every digit to 0
    min_freq: int = 1  # training words seen fewer times map to <unk>
    max_words: int = 200000  # word vocabulary cap, specials and pretrained words included
    max_word_len: int = 30  # characters per word given to the character encoder (longer words are cut)
    unk_replace: float = 0.5  # training only: a word seen once becomes <unk> with this probability
    word_dropout: float = 0.0  # training only: any word becomes <unk> with this probability (characters stay)
    val_fraction: float = 0.1  # user files: share of sentences held out for validation
    train_on_dev: bool = False  # also train on the dev split; no validation: the last weights are kept
    bucket_size: int = 50  # batches per length-sorting pool; 1 disables bucketing
    embeddings: str | None = None  # pretrained word vectors: a word2vec/fastText/GloVe text file (--embeddings)
    embeddings_max: int = 200000  # read at most this many vectors from the top of that file


@dataclass(frozen=True)
class TagTrainConfig(TrainConfig):
    """TrainConfig with defaults for a BiLSTM-CRF tagger (small batches, larger clipping norm)."""

    epochs: int = 10  # passes over the training split
    batch_size: int = 32  # sentences per step
    lr: float = 2e-3  # peak AdamW learning rate
    clip_norm: float = 5.0  # global gradient-norm clip (CRF losses are sums over a sentence)


@dataclass(frozen=True)
class TagRunConfig:
    task: str = "tag"  # which task head and pipeline
    data: TagDataConfig = field(default_factory=TagDataConfig)
    model: TagModelConfig = field(default_factory=TagModelConfig)
    train: TagTrainConfig = field(default_factory=TagTrainConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TagRunConfig:
        return from_dict(cls, d)


CONFIG = TagRunConfig  # this task's run-config class


# ---------------------------------------------------------------------------------------------------------
# Reading


def read_split(name: str, split: str, data: TagDataConfig, data_dir: str | Path | None = None,
               column: str | None = None) -> TagCorpus:
    """A split of a registered tagging dataset, or a user file (whose ``split`` is ignored)."""
    column = column or data.column
    if name in dataset_names():
        spec = get_spec(name)
        if spec.task != "tag" or spec.reader is None:
            raise ConfigError(f"dataset {name!r} is for task {spec.task!r}, not tagging; tagging datasets: "
                              f"{', '.join(n for n in dataset_names() if get_spec(n).task == 'tag')}")
        return spec.reader(resolve(name, split, data_dir), split, column=column)
    path = Path(name).expanduser()
    if not path.exists():
        raise DataError(f"no registered dataset and no file named {name!r}; pass conll2003, ud_english_ewt, "
                        "ud_korean_gsd, korean_ner_kmou or the path of a tagged file (see `seqlab data list`)")
    if data.format not in TAG_FORMATS:
        raise ConfigError(f"data.format must be one of {', '.join(TAG_FORMATS)}, got {data.format!r}")
    return read_tagged(path, data.format, column)


def _has_split(name: str, split: str) -> bool:
    return name in dataset_names() and split in get_spec(name).splits


def _carve(sentences: list[TaggedSentence], fraction: float, seed: int):
    if not 0 < fraction < 1:
        raise ConfigError(f"data.val_fraction must be in (0, 1) for a file without a dev split, got {fraction}")
    order = np.random.default_rng(seed).permutation(len(sentences))
    k = max(1, int(round(fraction * len(sentences))))
    if k >= len(sentences):
        raise DataError(f"{len(sentences)} sentence(s) cannot be split into train and validation; add sentences",
                        file=sentences[0].file)
    held = set(order[:k].tolist())
    return ([s for i, s in enumerate(sentences) if i not in held], [s for i, s in enumerate(sentences) if i in held])


# ---------------------------------------------------------------------------------------------------------
# Vocabularies and encoding


def normalize_word(word: str, lowercase: bool, zero_digits: bool) -> str:
    """The key a word is looked up by in the word vocabulary."""
    word = unicodedata.normalize("NFC", word)
    word = word.lower() if lowercase else word
    return re.sub(r"\d", "0", word) if zero_digits else word


def tag_set(corpus_tags: Sequence[Sequence[str]], scheme: str) -> list[str]:
    """The model's tags. Entities: O, then every prefix of every type seen (B-, I- / B-, I-, E-, S-), so an
    evaluation set with a known type never meets an unknown tag. Otherwise the sorted tags seen."""
    seen = {t for tags in corpus_tags for t in tags}
    if scheme == "none":
        return sorted(seen)
    types = sorted({t[2:] for t in seen if t != "O"})
    prefixes = "BI" if scheme == "bio" else "BIES"
    return ["O"] + [f"{p}-{x}" for x in types for p in prefixes]


class Encoder:
    """Tokens and tags -> ids, with one character-id list per distinct surface form."""

    def __init__(self, words: Vocab, chars: Vocab, tags: Sequence[str], scheme: str, data: TagDataConfig):
        self.words, self.chars, self.data, self.scheme = words, chars, data, scheme
        self.tag_ids = {t: i for i, t in enumerate(tags)}
        self.form_ids: dict[str, int] = {}
        self.form_chars: list[list[int]] = []

    def word_ids(self, tokens: Sequence[str]) -> list[int]:
        d = self.data
        return self.words.lookup(normalize_word(t, d.lowercase, d.zero_digits) for t in tokens)

    def forms(self, tokens: Sequence[str]) -> list[int]:
        out = []
        for t in tokens:
            if t not in self.form_ids:
                self.form_ids[t] = len(self.form_chars)
                self.form_chars.append(self.chars.lookup(unicodedata.normalize("NFC", t)[: self.data.max_word_len]))
            out.append(self.form_ids[t])
        return out

    def tags(self, tags: Sequence[str]) -> list[int]:
        return [self.tag_ids[t] for t in (bio_to_bioes(tags) if self.scheme == "bioes" else tags)]

    def batches(self, sentences: Sequence[TaggedSentence], batch_size: int, seed: int, shuffle: bool,
                bucket_size: int = 50, unk_replace: float = 0.0, singletons=frozenset(),
                with_tags: bool = True, word_dropout: float = 0.0) -> TagBatches:
        """Batches of ``sentences``; ``with_tags=False`` (raw text) fills the tags with 0."""
        words = [self.word_ids(s.tokens) for s in sentences]
        forms = [self.forms(s.tokens) for s in sentences]
        tags = [self.tags(s.tags) if with_tags else [0] * len(s.tokens) for s in sentences]
        return TagBatches(words, forms, self.form_chars, tags, batch_size, seed, shuffle=shuffle,
                          bucket_size=bucket_size, unk_replace=unk_replace, singletons=singletons,
                          word_dropout=word_dropout)


def _scheme(corpus: TagCorpus, wanted: str) -> str:
    if wanted not in SCHEMES:
        raise ConfigError(f"data.scheme must be one of {', '.join(SCHEMES)}, got {wanted!r}")
    found = corpus.scheme  # bio (entity tags, readers normalise to BIO) or none
    if found == "none":
        if wanted != "auto":
            raise ConfigError(f"data.scheme={wanted} needs entity tags (O, B-X, I-X), but {corpus.path} has other "
                              "tags (e.g. POS); leave data.scheme=auto")
        return "none"
    return "bio" if wanted == "auto" else wanted


def _tokenize_mode(cfg: TagDataConfig, corpus_format: str) -> str:
    if cfg.tokenize not in TOKENIZE:
        raise ConfigError(f"data.tokenize must be one of {', '.join(TOKENIZE)}, got {cfg.tokenize!r}")
    if cfg.tokenize != "auto":
        return cfg.tokenize
    return "kiwi" if corpus_format == "kmou" else "whitespace"


def _vectors(cfg: TagRunConfig, log) -> tuple[list[str], list[list[float]]]:
    d = cfg.data
    if not d.embeddings:
        return [], []
    t0 = time.perf_counter()
    words, vecs = load_word_vectors(d.embeddings, d.embeddings_max, lambda w: normalize_word(w, d.lowercase,
                                                                                             d.zero_digits))
    log(f"read {len(words):,} vectors of width {len(vecs[0])} from {d.embeddings} in {time.perf_counter() - t0:.0f}s")
    return words, vecs


def oov_report(counts: Counter, vectors: set[str], val_counts: Counter, vocab: Vocab) -> dict:
    """Coverage of the training words by the pretrained vectors, and validation tokens left unknown."""
    types = len(counts)
    tokens = sum(counts.values())
    covered = [w for w in counts if w in vectors]
    val_tokens = sum(val_counts.values())
    return {
        "vectors": len(vectors),
        "train_types": types,
        "train_types_covered": len(covered) / max(1, types),
        "train_tokens_covered": sum(counts[w] for w in covered) / max(1, tokens),
        "val_tokens_oov_without_vectors": sum(c for w, c in val_counts.items() if w not in counts) / max(1, val_tokens),
        "val_tokens_oov": sum(c for w, c in val_counts.items() if w not in vocab) / max(1, val_tokens),
        "oov_examples": sorted((w for w in counts if w not in vectors), key=lambda w: (-counts[w], w))[:20],
    }


def _build_vocabs(cfg: TagRunConfig, train_sents, val_sents, log):
    d = cfg.data
    norm = [normalize_word(t, d.lowercase, d.zero_digits) for s in train_sents for t in s.tokens]
    counts = Counter(norm)
    kept = sorted((w for w, c in counts.items() if c >= d.min_freq and w not in (PAD, UNK)),
                  key=lambda w: (-counts[w], w))
    pre_words, pre_vecs = _vectors(cfg, log)
    in_vocab = set(kept)
    itos = [PAD, UNK, *kept, *(w for w in pre_words if w not in in_vocab and w not in (PAD, UNK))][: d.max_words]
    words = Vocab(itos)
    chars = Vocab.build([*unicodedata.normalize("NFC", t)] for s in train_sents for t in s.tokens)
    report = None
    if pre_words:
        val_counts = Counter(normalize_word(t, d.lowercase, d.zero_digits) for s in val_sents for t in s.tokens)
        report = oov_report(counts, set(pre_words), val_counts, words)
        log(f"pretrained vectors cover {100 * report['train_types_covered']:.1f}% of training word types "
            f"({100 * report['train_tokens_covered']:.1f}% of tokens); validation tokens unknown: "
            f"{100 * report['val_tokens_oov_without_vectors']:.1f}% without vectors -> "
            f"{100 * report['val_tokens_oov']:.1f}% with; most frequent uncovered: "
            f"{', '.join(report['oov_examples'][:8])}")
    singletons = frozenset(words.stoi[w] for w, c in counts.items() if c == 1 and w in words)
    return words, chars, (pre_words, pre_vecs), report, singletons


def _init_vectors(model: Tagger, words: Vocab, pre_words: list[str], pre_vecs: list[list[float]]) -> int:
    rows = [(words.stoi[w], v) for w, v in zip(pre_words, pre_vecs, strict=True) if w in words.stoi]
    if rows:
        with torch.no_grad():
            ids = torch.tensor([i for i, _ in rows])
            model.word_emb.weight[ids] = torch.tensor([v for _, v in rows], dtype=model.word_emb.weight.dtype)
    return len(rows)


# ---------------------------------------------------------------------------------------------------------
# Train / evaluate / predict


def build_model(meta: dict) -> Tagger:
    """Rebuild a run's model from its model.json alone."""
    cfg = TagRunConfig.from_dict(meta["config"])
    return Tagger(len(meta["words"]["itos"]), len(meta["chars"]["itos"]), meta["tags"], meta["scheme"], cfg.model)


def load_run(run_dir: str | Path):
    """(model in eval mode, meta, encoder) from a run directory."""
    state, meta = load_model(run_dir)
    if meta.get("task") != "tag":
        raise ConfigError(f"{run_dir} holds a {meta.get('task')!r} model, not a tagger")
    model = build_model(meta)
    model.load_state_dict(state)
    model.eval()
    cfg = TagRunConfig.from_dict(meta["config"])
    enc = Encoder(Vocab.from_dict(meta["words"]), Vocab.from_dict(meta["chars"]), meta["tags"], meta["scheme"],
                  cfg.data)
    return model, meta, enc


def _with_vector_width(cfg: TagRunConfig, width: int, log) -> TagRunConfig:
    if width == cfg.model.word_dim:
        return cfg
    log(f"model.word_dim {cfg.model.word_dim} -> {width} to match the pretrained vectors")
    return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, word_dim=width))


def train(cfg: TagRunConfig, out: str | Path, *, data_dir: str | Path | None = None, resume: bool = False,
          progress: bool = True, log=print) -> dict:
    """Read, build vocabularies, train with validation on the dev split, save the best model to ``out``."""
    if cfg.task != "tag":
        raise ConfigError(f"this pipeline trains task 'tag', got config for {cfg.task!r}")
    d, tc = cfg.data, cfg.train
    torch.manual_seed(tc.seed)
    if d.train_on_dev and not _has_split(d.name, "dev"):
        raise ConfigError(f"data.train_on_dev needs a registered dataset with a dev split; {d.name!r} has none")
    t0 = time.perf_counter()
    corpus = read_split(d.name, "train", d, data_dir)
    scheme = _scheme(corpus, d.scheme)
    if _has_split(d.name, "dev"):
        train_sents, val_sents = corpus.sentences, read_split(d.name, "dev", d, data_dir).sentences
        if d.train_on_dev:  # the dev sentences join training; nothing is left to validate on
            train_sents, val_sents = train_sents + val_sents, []
    else:
        train_sents, val_sents = _carve(corpus.sentences, d.val_fraction, tc.seed)
    words, chars, (pre_words, pre_vecs), oov, singletons = _build_vocabs(cfg, train_sents, val_sents, log)
    if pre_vecs:
        cfg = _with_vector_width(cfg, len(pre_vecs[0]), log)
    tags = tag_set([s.tags for s in train_sents], scheme)
    bio_labels = tag_set([s.tags for s in train_sents], "bio" if scheme != "none" else "none")  # as read
    _check_known(val_sents, bio_labels, "validation")
    enc = Encoder(words, chars, tags, scheme, d)
    train_b = enc.batches(train_sents, tc.batch_size, tc.seed, True, d.bucket_size, d.unk_replace, singletons,
                          word_dropout=d.word_dropout)
    val_b = enc.batches(val_sents, 64, tc.seed, False, d.bucket_size) if val_sents else None
    meta = {"task": "tag", "config": cfg.to_dict(), "words": words.to_dict(), "chars": chars.to_dict(),
            "tags": tags, "labels": bio_labels, "scheme": scheme, "column": corpus.column,
            "tokenize": _tokenize_mode(d, corpus.format), "embeddings": oov,
            "data": {"name": d.name, "train_sentences": len(train_sents), "val_sentences": len(val_sents),
                     "train_tokens": sum(len(s.tokens) for s in train_sents)}}
    model = build_model(meta)
    initialised = _init_vectors(model, words, pre_words, pre_vecs)
    decoder = "crf" if model.crf is not None else "softmax"
    log(f"{len(train_sents)} train / {len(val_sents)} validation sentences, {len(tags)} tags "
        f"({'scheme ' + scheme if scheme != 'none' else 'no entity scheme'}, {decoder}), {len(words):,} words"
        + (f" ({initialised:,} from pretrained vectors)" if pre_words else "")
        + f", {len(chars)} characters (prepared in {time.perf_counter() - t0:.0f}s)")
    objective = TagObjective(tags, scheme)
    trainer = Trainer(model, objective, tc, run_dir=out, meta=meta, progress=progress)
    summary = trainer.fit(train_b, val_b, resume=resume)
    return summary | {"prepare_s": round(time.perf_counter() - t0 - summary.get("wall_time_s", 0.0), 1),
                      "embeddings": oov}


def _check_known(sentences: Sequence[TaggedSentence], labels: Sequence[str], what: str) -> None:
    """An evaluation tag the model was never trained on is an error at its file:line."""
    known = set(labels)
    for s in sentences:
        for tag, line in zip(s.tags, s.lines, strict=True):
            if tag not in known:
                shown = ", ".join(labels[:20]) + (" ..." if len(labels) > 20 else "")
                raise DataError(f"unknown tag {tag!r} in the {what} data: the model was trained on {shown}; "
                                "evaluate on data with the training tag set (or the same --set data.column)",
                                file=s.file, line=line)


def evaluate(run_dir: str | Path, data: str | None = None, split: str = "test", *, data_dir: str | Path | None = None,
             text_col: str | None = None, label_col: str | None = None) -> dict:
    """Metrics of a trained run on a split: ``{"task", "split", "data", "metrics", "report", ...}``. NER: entity
    ``f1`` / ``precision`` / ``recall`` (seqeval) and token ``accuracy``; POS: ``accuracy`` and ``macro_f1``.
    ``label_col`` overrides the tag column (e.g. ``upos`` / ``xpos``); ``text_col`` is unused."""
    model, meta, enc = load_run(run_dir)
    cfg = TagRunConfig.from_dict(meta["config"])
    name = data or cfg.data.name
    corpus = read_split(name, split, cfg.data, data_dir, column=label_col)
    _check_known(corpus.sentences, meta["labels"], "evaluation")
    batches = enc.batches(corpus.sentences, 64, 0, False, cfg.data.bucket_size)
    objective = TagObjective(meta["tags"], meta["scheme"])
    gold, pred, order, loss = objective.predict(model, batches)
    entities = meta["scheme"] != "none"
    metrics, report = tag_metrics(gold, pred, entities)
    return {"task": "tag", "split": split, "data": name, "sentences": len(corpus),
            "tokens": sum(len(s.tokens) for s in corpus), "metrics": metrics | {"loss": loss}, "report": report}


def format_report(r: dict) -> str:
    """``seqlab evaluate`` on a tagging run: the headline metrics, then precision / recall / F1 / support per
    entity type (NER) or per tag (POS), most frequent first."""
    m = r["metrics"]
    head = (f"entity F1 {m['f1']:.4f}   precision {m['precision']:.4f}   recall {m['recall']:.4f}   "
            f"token accuracy {m['accuracy']:.4f}" if "f1" in m else
            f"accuracy {m['accuracy']:.4f}   macro-F1 {m['macro_f1']:.4f}")
    kind = "entity type" if "f1" in m else "tag"
    lines = [f"{r['data']} {r['split']}: {r['sentences']:,} sentences, {r['tokens']:,} tokens",
             f"{head}   loss {m['loss']:.4f}", "",
             f"{kind:<14}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}"]
    for tag, v in sorted(r["report"].items(), key=lambda kv: (-kv[1]["support"], kv[0])):
        lines.append(f"{tag:<14}{v['precision']:>10.4f}{v['recall']:>10.4f}{v['f1']:>10.4f}{v['support']:>10,}")
    return "\n".join(lines) + "\n"


# Kiwi writes final consonants as conjoining jamo (U+11A8..U+11C2); KMOU uses the compatibility letters.
_JONGSEONG = dict(zip(range(0x11A8, 0x11C3), "ㄱㄲㄳㄴㄵㄶㄷㄹㄺㄻㄼㄽㄾㄿㅀㅁㅂㅄㅅㅆㅇㅈㅊㅋㅌㅍㅎ", strict=True))


def tokenize(text: str, how: str) -> list[tuple[str, int, int]]:
    """``(token, start, end)`` character spans of ``text``: whitespace words, or Kiwi morphemes."""
    if how == "kiwi":
        from seqlab.data.tokenizers import _kiwi

        return [(t.form.translate(_JONGSEONG), t.start, t.start + t.len) for t in _kiwi().tokenize(text)]
    return [(m.group(), m.start(), m.end()) for m in re.finditer(r"\S+", text)]


def predict(run_dir: str | Path, texts: list[str]) -> list[dict]:
    """One dict per text: text, tokens, tags, tagged (``tok/TAG ...``) and, for entity tag sets, entities
    (``{"text", "type", "start", "end"}`` character offsets into the NFC-normalised text)."""
    model, meta, enc = load_run(run_dir)
    objective = TagObjective(meta["tags"], meta["scheme"])
    texts = [unicodedata.normalize("NFC", t) for t in texts]
    spans = [tokenize(t, meta["tokenize"]) for t in texts]
    todo = [i for i, s in enumerate(spans) if s]
    sentences = [TaggedSentence(tuple(w for w, _, _ in spans[i]), (), ()) for i in todo]
    tags: dict[int, list[str]] = {}
    with torch.no_grad():
        for batch in enc.batches(sentences, 64, 0, False, with_tags=False) if sentences else []:
            for k, ids in zip(batch.indices.tolist(), model.decode(batch), strict=True):
                tags[todo[k]] = objective.to_bio(ids)
    out = []
    for i, text in enumerate(texts):
        toks, ts = [w for w, _, _ in spans[i]], tags.get(i, [])
        tagged = " ".join(f"{w}/{t}" for w, t in zip(toks, ts, strict=True))
        p = {"text": text, "tokens": toks, "tags": ts, "tagged": tagged}
        if meta["scheme"] != "none":
            p["entities"] = [{"text": text[spans[i][a][1]: spans[i][b - 1][2]], "type": kind,
                              "start": spans[i][a][1], "end": spans[i][b - 1][2]}
                             for kind, a, b in entity_spans(ts)]
        out.append(p)
    return out


def format_prediction(p: dict) -> str:
    """Tokens with their tags on one line; for NER a second line with the entity spans."""
    line = p["tagged"] or "(no tokens)"
    if "entities" not in p:
        return line
    ents = "  ".join(f"[{e['type']}] {e['text']}" for e in p["entities"]) or "(none)"
    return f"{line}\n  entities: {ents}"
