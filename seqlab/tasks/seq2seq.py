"""Many-to-many, encoder-decoder: the encoder reads the source, the decoder writes the target one token at a
time (a chatbot's answer, a translation).

src (B, S) -> embedding (B, S, E) -> encoder (B, S, H) = memory M, final state -> decoder's initial state
decoder step t: y_{t-1} (N,) + state_{t-1} + M -> attentional hidden h̃_t (N, H) -> logits (N, V)

Shapes: B batch, S source steps, T target steps, E embedding width, H decoder width (a bidirectional encoder
runs H/2 per direction so M is H wide), L layers, V target vocabulary, K beam size, N rows (B, or B*K in beam
search).

Attention (``model.attention``):
    ``none``      plain encoder-decoder (Sutskever et al. 2014): h̃_t = tanh(W_c s_t).
    ``bahdanau``  additive (Bahdanau et al. 2015): the query is the previous decoder state s_{t-1};
                  e_tj = vᵀ tanh(W_q s_{t-1} + W_k h_j); the context c_t is fed into the step's input.
    ``dot``       Luong et al. 2015, multiplicative: e_tj = s_tᵀ h_j, computed after the step.
    ``general``   Luong: e_tj = s_tᵀ W_a h_j.
Luong attention has h̃_t = tanh(W_c [s_t; c_t]) and, with ``input_feeding``, feeds h̃_{t-1} into step t.

Decoding carries the decoder state from step to step (a prefix is never re-run): ``greedy_decode`` and
``beam_search`` (length-normalised scores log P / len^α, α = ``length_penalty``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from seqlab.config import TrainConfig, from_dict
from seqlab.engine import build_rnn
from seqlab.engine import functional as Fn

__all__ = [
    "ATTENTIONS",
    "CELLS",
    "Seq2SeqDataConfig",
    "Seq2SeqModelConfig",
    "ForcingConfig",
    "DecodeConfig",
    "Seq2SeqRunConfig",
    "Memory",
    "DecoderState",
    "Attention",
    "Seq2Seq",
    "Seq2SeqObjective",
    "Hypothesis",
    "shift_targets",
    "greedy_decode",
    "beam_search",
    "decode",
    "corpus_scores",
]

ATTENTIONS = ("none", "bahdanau", "dot", "general")
CELLS = ("lstm", "gru")


# ---------------------------------------------------------------------------------------------------------
# Configuration


@dataclass(frozen=True)
class Seq2SeqDataConfig:
    name: str = "chatbot_data_ko"  # registry dataset, or a pairs file: .tsv/.txt (source<TAB>target), .csv, .jsonl
    src_col: str | None = None  # user files: source column (TSV: 0-based index; CSV/JSONL: name); None: default
    tgt_col: str | None = None  # user files: target column; None: the second column (TSV/CSV) or "target"
    reverse: bool = False  # swap source and target (tatoeba_kor_eng is English->Korean; true: Korean->English)
    tokenizer: str = "morph"  # source tokenizer: char | word | morph | bpe | unigram
    tgt_tokenizer: str | None = None  # target tokenizer kind (None: same as the source's)
    shared_vocab: bool = False  # one tokenizer trained on both sides (needs tgt_tokenizer None or equal)
    vocab_size: int = 8000  # maximum vocabulary size per tokenizer, specials included
    min_freq: int = 2  # tokens seen fewer times in the training split map to <unk> (char/word/morph/bpe)
    max_src_len: int = 40  # source tokens kept (longer sources are truncated)
    max_tgt_len: int = 40  # target tokens (without <eos>); longer training pairs are left out of training
    max_chars: int = 1000  # a source or target longer than this many characters is an error (file:line)
    test_fraction: float = 0.1  # held-out share carved from a corpus without a published split
    val_fraction: float = 0.1  # validation share (early stopping / best checkpoint)
    split_seed: int = 0  # the carve depends on this seed only, not on train.seed
    bucket_size: int = 50  # batches per length-bucket pool when training


@dataclass(frozen=True)
class Seq2SeqModelConfig:
    cell: str = "lstm"  # lstm | gru, encoder and decoder
    embedding_dim: int = 128  # E, source and target embeddings
    hidden_size: int = 256  # H: decoder width; a bidirectional encoder runs H/2 per direction
    num_layers: int = 1  # L, encoder and decoder; decoder layer l starts from encoder layer l's final state
    bidirectional: bool = True  # bidirectional encoder (the decoder is always left-to-right)
    attention: str = "general"  # none | bahdanau | dot | general
    input_feeding: bool = True  # Luong (dot/general): feed h̃_{t-1} into step t
    dropout: float = 0.2  # on embeddings, between layers and before the output layer
    impl: str = "auto"  # auto | explicit | fused: which engine path runs the recurrences


@dataclass(frozen=True)
class ForcingConfig:
    start: float = 1.0  # probability of feeding the gold previous token (teacher forcing) at the first step
    end: float = 1.0  # the probability after decay_steps; start=end=1 is plain teacher forcing
    decay_steps: int = 0  # optimizer steps of the linear decay from start to end (0: the whole planned run)
    label_smoothing: float = 0.0  # cross-entropy label smoothing ε


@dataclass(frozen=True)
class DecodeConfig:
    beam_size: int = 5  # K; 1 is greedy decoding
    length_penalty: float = 1.0  # α: hypotheses rank by log P / len^α (0: raw log-prob; 1: per token)
    max_len: int = 60  # most tokens generated per output, <eos> included
    bleu_tokenize: str = "13a"  # sacrebleu's BLEU tokenizer (13a, intl, char, none, ...)


def _seq2seq_train() -> TrainConfig:
    return TrainConfig(epochs=20, batch_size=64, lr=2e-3, warmup_steps=100, patience=3, weight_decay=0.0)


@dataclass(frozen=True)
class Seq2SeqRunConfig:
    task: str = "seq2seq"  # which task head and pipeline
    data: Seq2SeqDataConfig = field(default_factory=Seq2SeqDataConfig)  # [data]: pairs, carve, tokenizers
    model: Seq2SeqModelConfig = field(default_factory=Seq2SeqModelConfig)  # [model]: encoder, attention, decoder
    forcing: ForcingConfig = field(default_factory=ForcingConfig)  # [forcing]: scheduled teacher forcing
    train: TrainConfig = field(default_factory=_seq2seq_train)  # [train]: the Trainer's settings
    decode: DecodeConfig = field(default_factory=DecodeConfig)  # [decode]: defaults for evaluate / translate

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Seq2SeqRunConfig:
        return from_dict(cls, d)


def check_model_config(cfg: Seq2SeqModelConfig) -> None:
    if cfg.cell not in CELLS:
        raise ValueError(f"model.cell must be one of {CELLS} for seq2seq, got {cfg.cell!r}")
    if cfg.attention not in ATTENTIONS:
        raise ValueError(f"model.attention must be one of {ATTENTIONS}, got {cfg.attention!r}")
    if cfg.bidirectional and cfg.hidden_size % 2:
        raise ValueError(
            f"model.hidden_size must be even with a bidirectional encoder (H/2 per direction), got "
            f"{cfg.hidden_size}; pass an even size or --set model.bidirectional=false"
        )


# ---------------------------------------------------------------------------------------------------------
# State carried between decoder steps


def _select(state, idx: Tensor, dim: int):
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.index_select(dim, idx) for s in state)
    return state.index_select(dim, idx)


@dataclass(frozen=True)
class Memory:
    """The encoder's output, read by attention at every decoder step."""

    values: Tensor  # (N, S, H) encoder outputs h_j
    keys: Tensor | None  # (N, S, H) precomputed W_k h_j (bahdanau), W_a h_j (general), h_j (dot); None: no attention
    mask: Tensor  # (N, S) bool, True at real (non-padded) source steps

    def select(self, idx: Tensor) -> Memory:
        """Rows ``idx`` (N',): e.g. each example repeated K times for beam search."""
        return Memory(self.values.index_select(0, idx), _select(self.keys, idx, 0), self.mask.index_select(0, idx))


@dataclass(frozen=True)
class DecoderState:
    """Everything step t needs from step t-1; rows are reordered with ``select`` (beam back-pointers)."""

    rnn: Tensor | tuple[Tensor, Tensor]  # (L, N, H) h_{t-1}, and (h, c) for an LSTM
    feed: Tensor | None  # (N, H) h̃_{t-1} for Luong input feeding; None when unused

    def select(self, idx: Tensor) -> DecoderState:
        return DecoderState(_select(self.rnn, idx, 1), _select(self.feed, idx, 0))


# ---------------------------------------------------------------------------------------------------------
# The model


class Attention(nn.Module):
    """Additive (Bahdanau) or multiplicative (Luong dot / general) attention over the memory."""

    def __init__(self, kind: str, hidden_size: int):
        super().__init__()
        if kind not in ATTENTIONS[1:]:
            raise ValueError(f"attention kind must be one of {ATTENTIONS[1:]}, got {kind!r}")
        self.kind = kind
        H = hidden_size
        if kind == "bahdanau":
            self.W_q = nn.Linear(H, H, bias=False)
            self.W_k = nn.Linear(H, H)
            self.v = nn.Linear(H, 1, bias=False)
        elif kind == "general":
            self.W_a = nn.Linear(H, H, bias=False)

    def keys(self, values: Tensor) -> Tensor:
        """What the query is compared with, computed once per source: (N, S, H)."""
        if self.kind == "bahdanau":
            return self.W_k(values)
        if self.kind == "general":
            return self.W_a(values)
        return values

    def forward(self, query: Tensor, memory: Memory) -> tuple[Tensor, Tensor]:
        """query (N, T, H) -> context c (N, T, H), weights a (N, T, S)."""
        if self.kind == "bahdanau":
            # e_tj = vᵀ tanh(W_q q_t + W_k h_j + b)
            e = self.v(torch.tanh(self.W_q(query).unsqueeze(2) + memory.keys.unsqueeze(1))).squeeze(-1)  # (N, T, S)
        else:
            # e_tj = q_tᵀ h_j (dot) or q_tᵀ W_a h_j (general)
            e = query @ memory.keys.transpose(1, 2)  # (N, T, S)
        e = e.masked_fill(~memory.mask.unsqueeze(1), float("-inf"))
        # a_tj = softmax_j(e_tj); c_t = Σ_j a_tj h_j
        a = torch.softmax(e, dim=-1)  # (N, T, S)
        return a @ memory.values, a  # (N, T, H)


class Seq2Seq(nn.Module):
    """Encoder (bi)LSTM/GRU + attention + LSTM/GRU decoder. ``bos_id``/``eos_id`` are target-vocabulary ids."""

    def __init__(self, src_vocab: int, tgt_vocab: int, cfg: Seq2SeqModelConfig, *, bos_id: int, eos_id: int,
                 pad_id: int = 0):
        super().__init__()
        check_model_config(cfg)
        self.cfg = cfg
        self.bos_id, self.eos_id, self.pad_id = bos_id, eos_id, pad_id
        E, H, L = cfg.embedding_dim, cfg.hidden_size, cfg.num_layers
        D = 2 if cfg.bidirectional else 1
        drop = cfg.dropout if L > 1 else 0.0
        self.src_embedding = nn.Embedding(src_vocab, E, padding_idx=pad_id)
        self.encoder = build_rnn(cfg.cell, E, H // D, L, batch_first=True, dropout=drop,
                                 bidirectional=cfg.bidirectional, impl=cfg.impl)
        # what the decoder's input carries besides the embedding: Bahdanau's c_t, Luong's fed h̃_{t-1}, or nothing
        self.feeds_context = cfg.attention == "bahdanau"
        self.feeds_hidden = cfg.attention in ("dot", "general") and cfg.input_feeding
        extra = H if self.feeds_context or self.feeds_hidden else 0
        self.tgt_embedding = nn.Embedding(tgt_vocab, E, padding_idx=pad_id)
        self.decoder = build_rnn(cfg.cell, E + extra, H, L, batch_first=True, dropout=drop, impl=cfg.impl)
        self.attention = Attention(cfg.attention, H) if cfg.attention != "none" else None
        self.combine = nn.Linear(2 * H if self.attention is not None else H, H)  # W_c
        self.out = nn.Linear(H, tgt_vocab)
        self.drop = nn.Dropout(cfg.dropout)
        # generation never emits <pad> or <bos>
        banned = torch.zeros(tgt_vocab, dtype=torch.bool)
        banned[[pad_id, bos_id]] = True
        self.register_buffer("banned", banned, persistent=False)
        # optimizer steps trained so far: drives the scheduled teacher-forcing ratio, saved with the weights
        # (and in the resume state) so a resumed run continues the schedule where it stopped
        self.register_buffer("forcing_steps", torch.zeros((), dtype=torch.long))

    # ---- encoder --------------------------------------------------------------------------------------
    def encode(self, src: Tensor, src_len: Tensor) -> tuple[Memory, DecoderState]:
        """src (B, S), src_len (B,) -> memory and the decoder's initial state."""
        x = self.drop(self.src_embedding(src))  # (B, S, E)
        values, state = self.encoder(x, lengths=src_len)  # (B, S, H)
        B, S, _ = values.shape
        L, D = self.cfg.num_layers, 2 if self.cfg.bidirectional else 1

        def join(s: Tensor) -> Tensor:  # (L*D, B, H/D) -> (L, B, H): [forward; backward] per layer
            return s.view(L, D, B, -1).permute(0, 2, 1, 3).reshape(L, B, -1)

        rnn = tuple(join(s) for s in state) if isinstance(state, tuple) else join(state)
        mask = torch.arange(S, device=src.device).unsqueeze(0) < src_len.to(src.device).unsqueeze(1)  # (B, S)
        keys = self.attention.keys(values) if self.attention is not None else None
        feed = values.new_zeros(B, self.cfg.hidden_size) if self.feeds_hidden else None
        return Memory(values, keys, mask), DecoderState(rnn, feed)

    # ---- one decoder step -----------------------------------------------------------------------------
    def step(self, y_prev: Tensor, state: DecoderState, memory: Memory) -> tuple[Tensor, DecoderState, Tensor | None]:
        """y_{t-1} (N,) -> attentional hidden h̃_t (N, H), the new state, attention weights (N, S) or None."""
        e = self.drop(self.tgt_embedding(y_prev))  # (N, E)
        a = c = None
        if self.feeds_context:
            h_top = (state.rnn[0] if isinstance(state.rnn, tuple) else state.rnn)[-1]  # s_{t-1} (N, H)
            c, a = self.attention(h_top.unsqueeze(1), memory)  # (N, 1, H), (N, 1, S)
            x = torch.cat([e, c[:, 0]], dim=-1)  # [y_{t-1}; c_t]
        elif self.feeds_hidden:
            x = torch.cat([e, state.feed], dim=-1)  # [y_{t-1}; h̃_{t-1}]
        else:
            x = e
        s, rnn = self._recur(x, state.rnn)  # s_t (N, H)
        if self.attention is not None and not self.feeds_context:
            c, a = self.attention(s.unsqueeze(1), memory)  # Luong: query s_t
        h = self._attentional(s, c[:, 0] if c is not None else None)  # (N, H)
        return h, DecoderState(rnn, h if self.feeds_hidden else None), (a[:, 0] if a is not None else None)

    def _recur(self, x: Tensor, rnn) -> tuple[Tensor, Tensor | tuple[Tensor, Tensor]]:
        """One step of the decoder's L layers with the engine's cell equations on ``self.decoder``'s weights
        (a single time step gains nothing from a sequence kernel): x (N, I) -> top s_t (N, H), new state."""
        lstm = isinstance(rnn, tuple)
        hs, cs = [], []
        for layer in range(self.cfg.num_layers):
            w = [getattr(self.decoder, f"{name}_l{layer}") for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
            if lstm:
                h, c = Fn.lstm_cell(x, rnn[0][layer], rnn[1][layer], *w)
                cs.append(c)
            else:
                h = Fn.gru_cell(x, rnn[layer], *w)
            hs.append(h)
            if layer < self.cfg.num_layers - 1 and self.decoder.dropout > 0:  # between layers, as the engine does
                h = nn.functional.dropout(h, self.decoder.dropout, self.training)
            x = h
        new = (torch.stack(hs), torch.stack(cs)) if lstm else torch.stack(hs)  # (L, N, H)
        return hs[-1], new

    def _attentional(self, s: Tensor, c: Tensor | None) -> Tensor:
        # h̃_t = tanh(W_c [s_t; c_t])   (without attention: tanh(W_c s_t))
        return torch.tanh(self.combine(torch.cat([s, c], dim=-1) if c is not None else s))

    def logits(self, h: Tensor) -> Tensor:
        """h̃ (..., H) -> logits (..., V)."""
        return self.out(self.drop(h))

    def log_probs(self, h: Tensor) -> Tensor:
        """Decoding distribution over the target vocabulary, <pad> and <bos> excluded: (N, V)."""
        return torch.log_softmax(self.logits(h).masked_fill(self.banned, float("-inf")), dim=-1)

    # ---- teacher-forced forward (training, scoring) ----------------------------------------------------
    def forward(self, src: Tensor, src_len: Tensor, tgt_in: Tensor, forcing: float = 1.0) -> Tensor:
        """src (B, S), tgt_in (B, T) = <bos> y_1 .. y_{T-1} -> logits (B, T, V).

        ``forcing`` < 1 is scheduled sampling (Bengio et al. 2015): at each step t > 0 each row feeds the gold
        y_{t-1} with probability ``forcing``, else the model's own previous argmax (from the torch RNG)."""
        memory, state = self.encode(src, src_len)
        if forcing >= 1.0 and not (self.feeds_context or self.feeds_hidden):
            return self.logits(self._parallel(tgt_in, state, memory))
        hs, y, prev = [], tgt_in[:, 0], None
        for t in range(tgt_in.shape[1]):
            if t > 0:
                y = tgt_in[:, t]
                if forcing < 1.0:
                    own = prev.detach().masked_fill(self.banned, float("-inf")).argmax(-1)  # (B,)
                    y = torch.where(torch.rand(y.shape, device=y.device) < forcing, y, own)
            h, state, _ = self.step(y, state, memory)
            hs.append(h)
            prev = self.logits(h) if forcing < 1.0 else None
        return self.logits(torch.stack(hs, dim=1))  # (B, T, V)

    def _parallel(self, tgt_in: Tensor, state: DecoderState, memory: Memory) -> Tensor:
        """All steps in one recurrent call when step t needs nothing computed at step t-1 but the state."""
        e = self.drop(self.tgt_embedding(tgt_in))  # (B, T, E)
        s, _ = self.decoder(e, state.rnn)  # (B, T, H)
        c = self.attention(s, memory)[0] if self.attention is not None else None  # (B, T, H)
        return self._attentional(s, c)  # (B, T, H)


def shift_targets(targets: Tensor, bos_id: int, pad_id: int = 0) -> tuple[Tensor, Tensor]:
    """Padded targets y_1..y_n <eos> (B, T), padding < 0 -> decoder inputs <bos> y_1..y_n (B, T), padding
    <pad>, and the targets with padding -100 (ignored by the loss)."""
    bos = torch.full_like(targets[:, :1], bos_id)
    tgt_in = torch.cat([bos, targets[:, :-1]], dim=1)  # (B, T)
    return tgt_in.masked_fill(tgt_in < 0, pad_id), targets.masked_fill(targets < 0, -100)


# ---------------------------------------------------------------------------------------------------------
# Training objective


@dataclass
class Seq2SeqObjective:
    """Token cross-entropy under (scheduled) teacher forcing; validation loss picks the best checkpoint."""

    bos_id: int
    forcing: ForcingConfig = field(default_factory=ForcingConfig)
    total_steps: int = 1  # planned optimizer steps: the default length of the forcing decay
    pad_id: int = 0
    metric: str = "loss"
    mode: str = "min"

    def forcing_ratio(self, step: int) -> float:
        """P(feed the gold token) at optimizer step ``step``: linear from forcing.start to forcing.end."""
        f = self.forcing
        span = f.decay_steps if f.decay_steps > 0 else self.total_steps
        p = min(1.0, step / max(1, span))
        return f.start + (f.end - f.start) * p

    def loss(self, model: Seq2Seq, batch) -> Tensor:
        tgt_in, tgt_out = shift_targets(batch.targets, self.bos_id, self.pad_id)
        ratio = self.forcing_ratio(int(model.forcing_steps)) if model.training else 1.0
        logits = model(batch.tokens, batch.lengths, tgt_in, forcing=ratio)  # (B, T, V)
        if model.training:
            model.forcing_steps += 1
        return nn.functional.cross_entropy(logits.flatten(0, 1), tgt_out.flatten(), ignore_index=-100,
                                           label_smoothing=self.forcing.label_smoothing)

    @torch.no_grad()
    def evaluate(self, model: Seq2Seq, loader) -> dict[str, float]:
        """Per-token negative log-likelihood (teacher forced), perplexity and next-token accuracy."""
        nll, correct, count = 0.0, 0, 0
        for batch in loader:
            tgt_in, tgt_out = shift_targets(batch.targets, self.bos_id, self.pad_id)
            logits = model(batch.tokens, batch.lengths, tgt_in)
            nll += float(nn.functional.cross_entropy(logits.flatten(0, 1), tgt_out.flatten(), ignore_index=-100,
                                                     reduction="sum"))
            valid = tgt_out != -100
            correct += int(((logits.argmax(-1) == tgt_out) & valid).sum())
            count += int(valid.sum())
        loss = nll / max(1, count)
        return {"loss": loss, "perplexity": math.exp(min(loss, 50.0)), "token_accuracy": correct / max(1, count)}


# ---------------------------------------------------------------------------------------------------------
# Decoding


@dataclass(frozen=True)
class Hypothesis:
    tokens: tuple[int, ...]  # generated target ids, <eos> excluded
    logprob: float  # log P(tokens, <eos> | source) under the decoding distribution
    score: float  # logprob / length^α, the ranking score (length counts <eos> when finished)
    finished: bool  # ended with <eos> (False: stopped at max_len)
    attention: Tensor | None = None  # (steps, S) weights of every generated step, <eos> included


def _normalise(logprob: float, length: int, alpha: float) -> float:
    # score = log P / |y|^α
    return logprob / (length**alpha) if alpha else logprob


def _check_decode_args(beam: int, max_len: int) -> None:
    if beam < 1:
        raise ValueError(f"beam size must be >= 1, got {beam}; pass --beam 1 for greedy decoding")
    if max_len < 1:
        raise ValueError(f"max_len must be >= 1 generated token, got {max_len}")


@torch.no_grad()
def greedy_decode(model: Seq2Seq, src: Tensor, src_len: Tensor, max_len: int, length_penalty: float = 0.0,
                  attention: bool = False) -> list[Hypothesis]:
    """The argmax token at every step, carrying the decoder state; one hypothesis per source row."""
    _check_decode_args(1, max_len)
    memory, state = model.encode(src, src_len)
    B = src.shape[0]
    y = torch.full((B,), model.bos_id, dtype=torch.long, device=src.device)
    done = torch.zeros(B, dtype=torch.bool, device=src.device)
    total = torch.zeros(B, dtype=torch.float64, device=src.device)
    steps, attns = [], []
    for _ in range(max_len):
        h, state, a = model.step(y, state, memory)
        lp, y = model.log_probs(h).max(dim=-1)  # (B,)
        total += torch.where(done, 0.0, lp.double())
        steps.append(y)
        attns.append(a)
        done = done | (y == model.eos_id)
        if bool(done.all()):
            break
    ys = torch.stack(steps, dim=1).tolist()  # (B, steps)
    out = []
    for b in range(B):
        row = ys[b]
        n = row.index(model.eos_id) + 1 if model.eos_id in row else len(row)
        finished = n <= len(row) and row[n - 1] == model.eos_id
        att = torch.stack([x[b] for x in attns[:n]]) if attention and attns[0] is not None else None
        lp = float(total[b])
        out.append(Hypothesis(tuple(row[: n - 1] if finished else row[:n]), lp, _normalise(lp, n, length_penalty),
                              finished, att))
    return out


@torch.no_grad()
def beam_search(model: Seq2Seq, src: Tensor, src_len: Tensor, beam: int, max_len: int, length_penalty: float = 1.0,
                nbest: int = 1, attention: bool = False) -> list[list[Hypothesis]]:
    """Batched beam search; the ``nbest`` best hypotheses per source row, best first.

    Each step extends the K live hypotheses of an example by every token and ranks the K·V candidates by
    cumulative log-probability (equal lengths, so the same order as the normalised score). Of the top 2K, an
    <eos> candidate ranked within the top K is finished; the first K others stay live. At ``max_len`` the top
    K candidates are finished as they are. An example stops once it has K finished hypotheses; the finished
    ones are ranked by log P / len^α. With K = 1 this is exactly greedy decoding."""
    _check_decode_args(beam, max_len)
    if not 1 <= nbest <= beam:
        raise ValueError(f"nbest must be between 1 and the beam size {beam}, got {nbest}")
    B, K, dev = src.shape[0], beam, src.device
    memory, state = model.encode(src, src_len)
    rows = torch.arange(B, device=dev).repeat_interleave(K)  # (B*K,): example of each beam row
    memory, state = memory.select(rows), state.select(rows)
    y = torch.full((B * K,), model.bos_id, dtype=torch.long, device=dev)
    cum = torch.full((B, K), float("-inf"), dtype=torch.float64, device=dev)
    cum[:, 0] = 0.0  # one live hypothesis per example at the start (the others would be duplicates)
    hist = torch.zeros(B * K, 0, dtype=torch.long, device=dev)  # (B*K, t) tokens so far
    att_hist = None
    finished: list[list[Hypothesis]] = [[] for _ in range(B)]
    done = [False] * B
    for t in range(1, max_len + 1):
        h, state, a = model.step(y, state, memory)
        logp = model.log_probs(h).double()  # (B*K, V)
        V = logp.shape[1]
        cand = (cum.view(B * K, 1) + logp).view(B, K * V)  # cumulative log P of every continuation
        top, pos = cand.topk(min(2 * K, K * V), dim=1)  # (B, 2K), best first
        src_beam, tok = pos // V, pos % V
        rank = torch.arange(top.shape[1], device=dev).expand_as(top)
        last = t == max_len
        ends = (tok == model.eos_id) | last
        fin = ends & (rank < K) & torch.isfinite(top)
        if attention and a is not None:  # attention of every step so far, per beam row: (B*K, t, S)
            att_now = a.unsqueeze(1) if att_hist is None else torch.cat([att_hist, a.unsqueeze(1)], dim=1)
        for b, r in fin.nonzero().tolist():
            if done[b]:
                continue
            row = b * K + int(src_beam[b, r])
            token = int(tok[b, r])
            eos = token == model.eos_id
            seq = tuple(hist[row].tolist()) + (() if eos else (token,))
            lp = float(top[b, r])
            att = att_now[row] if attention and a is not None else None
            finished[b].append(Hypothesis(seq, lp, _normalise(lp, t, length_penalty), eos, att))
        for b in range(B):
            done[b] = done[b] or len(finished[b]) >= K
        if last or all(done):
            break
        # the first K candidates that do not end (ties and dead rows sort last) stay live
        live = ~ends & torch.isfinite(top)
        order = torch.where(live, rank, rank + top.shape[1]).argsort(dim=1)[:, :K]  # (B, K)
        keep = live.gather(1, order)
        cum = torch.where(keep, top.gather(1, order), torch.full_like(cum, float("-inf")))
        cum[torch.tensor(done, device=dev)] = float("-inf")  # finished examples keep no live hypotheses
        parent = (torch.arange(B, device=dev).unsqueeze(1) * K + src_beam.gather(1, order)).view(-1)  # (B*K,)
        y = tok.gather(1, order).view(-1)
        state = state.select(parent)
        hist = torch.cat([hist.index_select(0, parent), y.unsqueeze(1)], dim=1)
        if attention and a is not None:
            att_hist = att_now.index_select(0, parent)
    return [sorted(f, key=lambda hyp: -hyp.score)[:nbest] for f in finished]


def decode(model: Seq2Seq, src: Tensor, src_len: Tensor, cfg: DecodeConfig, nbest: int = 1,
           attention: bool = False) -> list[list[Hypothesis]]:
    """Greedy when ``cfg.beam_size`` is 1, else beam search."""
    if cfg.beam_size == 1:
        if nbest != 1:
            raise ValueError(f"greedy decoding gives one hypothesis; nbest={nbest} needs a beam of at least {nbest}")
        return [[h] for h in greedy_decode(model, src, src_len, cfg.max_len, cfg.length_penalty, attention)]
    return beam_search(model, src, src_len, cfg.beam_size, cfg.max_len, cfg.length_penalty, nbest, attention)


# ---------------------------------------------------------------------------------------------------------
# Metrics


def corpus_scores(hypotheses: list[str], references: list[str], bleu_tokenize: str = "13a") -> dict:
    """Corpus BLEU and chrF (sacrebleu), one reference per hypothesis: ``{"bleu", "chrf", "signatures"}``."""
    from sacrebleu.metrics import BLEU, CHRF

    if len(hypotheses) != len(references):
        raise ValueError(f"need one reference per hypothesis, got {len(hypotheses)} and {len(references)}")
    bleu, chrf = BLEU(tokenize=bleu_tokenize), CHRF()
    b = bleu.corpus_score(hypotheses, [references])
    c = chrf.corpus_score(hypotheses, [references])
    return {"bleu": float(b.score), "chrf": float(c.score),
            "signatures": {"bleu": str(bleu.get_signature()), "chrf": str(chrf.get_signature())}}
