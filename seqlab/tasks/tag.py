"""Synchronized many-to-many: one tag per token (named entities, parts of speech).

Per sentence, word w_t with characters c_{t,1..m}:

    x_t = [ emb_word(norm(w_t)) ; charenc(c_{t,1..m}) ]        word vector + character-level word feature
    h_1..h_n = BiLSTM(dropout(x_1..x_n))                       engine, masked by the sentence lengths
    E_t = W · dropout(h_t) + b                                 emission scores over the K tags
    decoder: softmax (each tag independently) or CRF (tag transitions, Viterbi; see ``seqlab.tasks.crf``)

The character encoder is a BiLSTM whose final forward and backward states are concatenated (Lample et al.
2016), or a CNN with max-pooling over characters (Ma & Hovy 2016). It runs once per distinct word of a
batch. Shapes: B sentences, T words (padded), U distinct words in the batch, L characters (padded), K tags.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from seqlab.data.batching import BucketBatches
from seqlab.data.conll import bioes_to_bio
from seqlab.engine import build_rnn
from seqlab.tasks.crf import CRF, allowed_transitions

__all__ = ["TagModelConfig", "Tagger", "TagBatch", "TagBatches", "TagObjective", "tag_metrics", "CHAR_ENCODERS",
           "DECODERS"]

CHAR_ENCODERS = ("lstm", "cnn", "none")
DECODERS = ("auto", "crf", "softmax")
IGNORE = -100  # tag id of padded steps


@dataclass(frozen=True)
class TagModelConfig:
    cell: str = "lstm"  # rnn_tanh | rnn_relu | lstm | gru: the word-level (and character-level) recurrence
    word_dim: int = 100  # word embedding width (set to the vectors' width when --embeddings is given)
    char_encoder: str = "lstm"  # lstm (BiLSTM final states) | cnn (convolution + max-pool) | none
    char_dim: int = 25  # character embedding width
    char_hidden: int = 25  # char BiLSTM hidden size per direction, or the number of CNN filters
    char_kernel: int = 3  # CNN filter width in characters
    hidden_size: int = 100  # word-level hidden size H per direction
    num_layers: int = 1  # stacked word-level layers
    bidirectional: bool = True  # word-level D = 2 when true
    dropout: float = 0.5  # on the word features, between layers and before the emission layer
    decoder: str = "auto"  # auto (crf for entity tags, softmax otherwise) | crf | softmax
    constraints: bool = True  # CRF: forbid transitions the BIO/BIOES scheme rules out (I-X after O, ...)
    impl: str = "auto"  # auto | explicit | fused: which engine path runs the recurrences


class Tagger(nn.Module):
    """Word embedding + character features -> BiLSTM -> emissions -> softmax or CRF."""

    def __init__(self, num_words: int, num_chars: int, tags: Sequence[str], scheme: str, cfg: TagModelConfig):
        super().__init__()
        if cfg.char_encoder not in CHAR_ENCODERS:
            raise ValueError(f"model.char_encoder must be one of {CHAR_ENCODERS}, got {cfg.char_encoder!r}")
        if cfg.decoder not in DECODERS:
            raise ValueError(f"model.decoder must be one of {DECODERS}, got {cfg.decoder!r}")
        if len(tags) < 1:
            raise ValueError("a tagger needs at least one tag")
        self.cfg, self.tags, self.scheme = cfg, list(tags), scheme
        self.word_emb = nn.Embedding(num_words, cfg.word_dim, padding_idx=0)
        bound = (3.0 / cfg.word_dim) ** 0.5  # U(-√(3/d), √(3/d)): unit variance per vector (Lample et al.)
        nn.init.uniform_(self.word_emb.weight, -bound, bound)
        with torch.no_grad():
            self.word_emb.weight[0].zero_()
        char_out = 0
        if cfg.char_encoder != "none":
            self.char_emb = nn.Embedding(num_chars, cfg.char_dim, padding_idx=0)
            if cfg.char_encoder == "lstm":
                self.char_rnn = build_rnn(cfg.cell, cfg.char_dim, cfg.char_hidden, 1, batch_first=True,
                                          bidirectional=True, impl=cfg.impl)
                char_out = 2 * cfg.char_hidden
            else:
                self.char_cnn = nn.Conv1d(cfg.char_dim, cfg.char_hidden, cfg.char_kernel,
                                          padding=cfg.char_kernel // 2)
                char_out = cfg.char_hidden
        D = 2 if cfg.bidirectional else 1
        self.rnn = build_rnn(cfg.cell, cfg.word_dim + char_out, cfg.hidden_size, cfg.num_layers, batch_first=True,
                             dropout=cfg.dropout if cfg.num_layers > 1 else 0.0, bidirectional=cfg.bidirectional,
                             impl=cfg.impl)
        self.drop = nn.Dropout(cfg.dropout)
        self.out = nn.Linear(D * cfg.hidden_size, len(tags))
        use_crf = cfg.decoder == "crf" or (cfg.decoder == "auto" and scheme in ("bio", "bioes"))
        constraints = allowed_transitions(tags, scheme) if use_crf and cfg.constraints and scheme != "none" else None
        self.crf = CRF(len(tags), constraints) if use_crf else None

    def char_features(self, chars: Tensor, char_lengths: Tensor) -> Tensor:
        """(U, L) character ids -> (U, F) one feature vector per distinct word."""
        x = self.char_emb(chars)  # (U, L, C)
        if self.cfg.char_encoder == "lstm":
            _, state = self.char_rnn(x, lengths=char_lengths)
            h_n = state[0] if isinstance(state, tuple) else state  # (2, U, Hc): forward, backward final states
            return torch.cat([h_n[0], h_n[1]], dim=1)  # (U, 2*Hc)
        y = self.char_cnn(x.transpose(1, 2))  # (U, F, L)
        valid = torch.arange(chars.shape[1], device=chars.device) < char_lengths.unsqueeze(1)  # (U, L)
        return y.masked_fill(~valid.unsqueeze(1), float("-inf")).amax(dim=2)  # (U, F) max over characters

    def forward(self, batch: TagBatch) -> Tensor:
        """Emission scores (B, T, K)."""
        x = self.word_emb(batch.words)  # (B, T, E)
        if self.cfg.char_encoder != "none":
            feats = self.char_features(batch.chars, batch.char_lengths)  # (U, F)
            x = torch.cat([x, feats[batch.word_index]], dim=2)  # (B, T, E + F)
        out, _ = self.rnn(self.drop(x), lengths=batch.lengths)  # (B, T, D*H)
        return self.out(self.drop(out))  # (B, T, K)

    def loss(self, batch: TagBatch, emissions: Tensor | None = None) -> Tensor:
        """CRF: mean negative log-likelihood per sentence; softmax: mean cross-entropy per token."""
        emissions = self(batch) if emissions is None else emissions
        if self.crf is None:
            return nn.functional.cross_entropy(emissions.flatten(0, 1), batch.tags.flatten(), ignore_index=IGNORE)
        return self.crf.nll(emissions, batch.tags, batch.mask).mean()

    @torch.no_grad()
    def decode(self, batch: TagBatch, emissions: Tensor | None = None) -> list[list[int]]:
        """Best tag ids of each sentence (its valid steps)."""
        emissions = self(batch) if emissions is None else emissions
        if self.crf is not None:
            return self.crf.decode(emissions, batch.mask)[0]
        best = emissions.argmax(-1).tolist()  # (B, T)
        return [row[:n] for row, n in zip(best, batch.lengths.tolist(), strict=True)]


# ---------------------------------------------------------------------------------------------------------
# Batches


@dataclass(frozen=True)
class TagBatch:
    words: Tensor  # (B, T) word ids, 0 = <pad>
    chars: Tensor  # (U, L) character ids of the distinct words of the batch, 0-padded
    char_lengths: Tensor  # (U,) characters per distinct word, >= 1
    word_index: Tensor  # (B, T) row of ``chars`` for each position (0 on padding)
    lengths: Tensor  # (B,) words per sentence, >= 1
    tags: Tensor  # (B, T) tag ids, IGNORE (-100) on padding
    indices: Tensor  # (B,) positions in the loader's sentence list

    @property
    def mask(self) -> Tensor:
        return torch.arange(self.words.shape[1], device=self.words.device) < self.lengths.unsqueeze(1)  # (B, T)

    def to(self, device) -> TagBatch:
        return TagBatch(*(getattr(self, f).to(device) for f in self.__dataclass_fields__))

    def __len__(self) -> int:
        return self.words.shape[0]


class TagBatches:
    """Length-bucketed ``TagBatch``es (the order of ``BucketBatches``: a function of (seed, epoch) only).

    ``words`` are word-id lists, ``forms`` the id of each token's surface form in ``form_chars`` (the
    character ids of every distinct form), ``tags`` tag-id lists. With ``unk_replace > 0``, each occurrence
    of a word id in ``singletons`` becomes ``<unk>`` (id 1) with that probability, drawn from a private
    generator seeded by (seed, epoch): the unknown-word embedding gets trained (Lample et al. 2016). With
    ``word_dropout > 0`` any word becomes ``<unk>`` with that probability too, so the tagger learns to tag
    from context and characters alone, as it must for names it has never seen. The character encoder always
    sees the real word.
    """

    def __init__(self, words: Sequence[Sequence[int]], forms: Sequence[Sequence[int]],
                 form_chars: Sequence[Sequence[int]], tags: Sequence[Sequence[int]], batch_size: int, seed: int,
                 shuffle: bool = True, bucket_size: int = 50, unk_replace: float = 0.0,
                 singletons: set[int] | frozenset[int] = frozenset(), word_dropout: float = 0.0):
        self.order = BucketBatches(words, [0] * len(words), batch_size, seed, shuffle=shuffle,
                                   bucket_size=bucket_size)
        self.words, self.forms, self.form_chars, self.tags = words, forms, form_chars, tags
        self.seed, self.unk_replace, self.word_dropout = seed, unk_replace, word_dropout
        self.singleton_mask = None
        if unk_replace > 0 and singletons:
            top = max(max(s) for s in words) + 1
            self.singleton_mask = np.zeros(top, dtype=bool)
            self.singleton_mask[[i for i in singletons if i < top]] = True

    def set_epoch(self, epoch: int) -> None:
        self.order.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.order)

    def __iter__(self):
        rng = np.random.default_rng([self.seed, self.order.epoch, 7])  # word dropout draws, never global RNG
        for idx in self.order.batch_indices():
            yield self._collate(idx, rng)

    def _collate(self, idx: np.ndarray, rng: np.random.Generator) -> TagBatch:
        lengths = np.array([len(self.words[i]) for i in idx], dtype=np.int64)
        B, T = len(idx), int(lengths.max())
        words = np.zeros((B, T), dtype=np.int64)  # (B, T)
        forms = np.zeros((B, T), dtype=np.int64)
        tags = np.full((B, T), IGNORE, dtype=np.int64)
        for row, (i, n) in enumerate(zip(idx.tolist(), lengths.tolist(), strict=True)):
            words[row, :n] = self.words[i]
            forms[row, :n] = self.forms[i]
            tags[row, :n] = self.tags[i]
        if self.singleton_mask is not None:
            drop = self.singleton_mask[words] & (rng.random(words.shape) < self.unk_replace)
            words[drop] = 1  # <unk>
        if self.word_dropout > 0:
            words[(words > 1) & (rng.random(words.shape) < self.word_dropout)] = 1  # padding (0) stays
        valid = np.arange(T) < lengths[:, None]
        unique, inverse = np.unique(forms[valid], return_inverse=True)  # distinct surface forms -> rows
        word_index = np.zeros((B, T), dtype=np.int64)
        word_index[valid] = inverse
        char_lists = [self.form_chars[f] for f in unique.tolist()]
        char_lengths = np.array([len(c) for c in char_lists], dtype=np.int64)
        chars = np.zeros((len(char_lists), int(char_lengths.max())), dtype=np.int64)  # (U, L)
        for r, c in enumerate(char_lists):
            chars[r, : len(c)] = c
        return TagBatch(*(torch.from_numpy(a) for a in (words, chars, char_lengths, word_index, lengths, tags,
                                                        idx.astype(np.int64))))


# ---------------------------------------------------------------------------------------------------------
# Metrics and the training objective


def tag_metrics(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]], entities: bool) -> tuple[dict, dict]:
    """``(metrics, per_tag_report)``. Entities (BIO tags): seqeval's entity-level precision / recall / F1
    (conlleval rules: an entity counts only if its type and both boundaries match) and token accuracy; the
    report is per entity type. Otherwise token accuracy, macro-F1 and a per-tag precision / recall / F1."""
    pairs = [(g, p) for gs, ps in zip(gold, pred, strict=True) for g, p in zip(gs, ps, strict=True)]
    correct = sum(g == p for g, p in pairs)
    metrics = {"accuracy": correct / max(1, len(pairs))}
    if entities:
        from seqeval.metrics import classification_report, f1_score, precision_score, recall_score

        gl, pl = [list(g) for g in gold], [list(p) for p in pred]
        metrics |= {"precision": float(precision_score(gl, pl, zero_division=0)),
                    "recall": float(recall_score(gl, pl, zero_division=0)),
                    "f1": float(f1_score(gl, pl, zero_division=0))}
        raw = classification_report(gl, pl, output_dict=True, zero_division=0)
        report = {k: {"precision": float(v["precision"]), "recall": float(v["recall"]),
                      "f1": float(v["f1-score"]), "support": int(v["support"])}
                  for k, v in raw.items() if not k.endswith(" avg")}
        return metrics, report
    report = {}
    for tag in sorted({g for g, _ in pairs} | {p for _, p in pairs}):
        tp = sum(g == p == tag for g, p in pairs)
        n_pred, n_gold = sum(p == tag for _, p in pairs), sum(g == tag for g, _ in pairs)
        precision, recall = tp / max(1, n_pred), tp / max(1, n_gold)
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        report[tag] = {"precision": precision, "recall": recall, "f1": f1, "support": n_gold}
    present = [r["f1"] for r in report.values() if r["support"]]
    metrics["macro_f1"] = sum(present) / max(1, len(present))
    return metrics, report


@dataclass
class TagObjective:
    """The model's own loss; entity F1 (BIO/BIOES tag sets) or token accuracy picks the best checkpoint."""

    tags: Sequence[str]  # id -> tag, as the model predicts them
    scheme: str  # bio | bioes | none
    metric: str = ""
    mode: str = "max"

    def __post_init__(self):
        self.metric = self.metric or ("f1" if self.scheme in ("bio", "bioes") else "accuracy")

    def loss(self, model: Tagger, batch: TagBatch) -> Tensor:
        return model.loss(batch)

    def to_bio(self, ids: Sequence[int]) -> list[str]:
        """Tag ids -> the tags metrics and users see (BIOES decoded back to BIO)."""
        tags = [self.tags[i] for i in ids]
        return bioes_to_bio(tags) if self.scheme == "bioes" else tags

    @torch.no_grad()
    def predict(self, model: Tagger, loader) -> tuple[list[list[str]], list[list[str]], list[int], float]:
        """(gold tags, predicted tags, sentence indices, mean loss) over a loader, in loader order."""
        gold, pred, order, loss, n = [], [], [], 0.0, 0
        for batch in loader:
            emissions = model(batch)  # (B, T, K), shared by the loss and the decoding
            loss += float(model.loss(batch, emissions)) * len(batch)
            n += len(batch)
            best = model.decode(batch, emissions)
            for ids, y, k in zip(best, batch.tags.tolist(), batch.indices.tolist(), strict=True):
                pred.append(self.to_bio(ids))
                gold.append(self.to_bio(y[: len(ids)]))
                order.append(k)
        return gold, pred, order, loss / max(1, n)

    @torch.no_grad()
    def evaluate(self, model: Tagger, loader) -> dict[str, float]:
        gold, pred, _, loss = self.predict(model, loader)
        metrics, _ = tag_metrics(gold, pred, entities=self.scheme in ("bio", "bioes"))
        return metrics | {"loss": loss}
