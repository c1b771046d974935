"""Many-to-many, autoregressive: predict each next token of a text; then sample text one token at a time.

tokens (B, T) -> embedding (B, T, E) -> engine (B, T, H) -> dropout -> linear (B, T, V) next-token logits.

With ``model.softmax = "adaptive"`` the output layer is an adaptive softmax (Grave et al. 2017): the most
frequent tokens and one entry per tail cluster form a small head, rarer tokens sit in cheaper tail clusters
with narrower projections. Training and scoring then compute only the target's cluster, several times less
work than a full softmax over a 20k subword vocabulary; ``forward`` still returns the exact (B, T, V)
log-probabilities for sampling. Token ids should be ordered roughly by frequency (char vocabularies are;
BPE ids follow merge order, which is close).

Metrics over held-out text of C characters whose N tokens have total negative log-likelihood S (nats):

    loss = S / N                 cross-entropy per token (nats)
    perplexity = exp(S / N)      per token
    nats_per_char = S / C        per character, so char and subword models compare
    bpc = S / (C ln 2)           bits per character

For a char model N = C and bpc = loss / ln 2.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from seqlab.config import TrainConfig
from seqlab.config import from_dict as _from_dict
from seqlab.data.streams import IGNORE, Window
from seqlab.engine import build_rnn
from seqlab.engine.state import State, detach_state

__all__ = [
    "LMDataConfig", "LMModelConfig", "LMRunConfig", "LanguageModel", "LMObjective", "lm_metrics",
    "filter_probs", "sample", "WINDOW_MODES", "LM_TOKENIZERS", "SOFTMAXES", "DIRECTIONS", "ADAPTIVE_CUTOFFS",
    "adaptive_cutoffs",
]

WINDOW_MODES = ("stream", "random")
LM_TOKENIZERS = ("char", "subword", "bpe", "unigram")  # subword = bpe
SOFTMAXES = ("full", "adaptive")
DIRECTIONS = ("forward", "backward")  # backward: the token order reversed, each token predicted from those after it
ADAPTIVE_CUTOFFS = (2000, 10000, 50000)  # head: ids below 2000; tail clusters up to 10k, 50k, the rest


def adaptive_cutoffs(vocab_size: int) -> list[int]:
    """Cluster boundaries of the adaptive softmax for a vocabulary: the ADAPTIVE_CUTOFFS below it."""
    return [c for c in ADAPTIVE_CUTOFFS if c < vocab_size - 1]


@dataclass(frozen=True)
class LMDataConfig:
    name: str = "mysterious_island"  # registry dataset, or a path to a UTF-8 text file (.txt / .txt.gz)
    tokenizer: str = "char"  # char (one Unicode character: a Hangul syllable is one) | subword (= bpe) | unigram
    vocab_size: int = 0  # cap on the vocabulary incl. <pad>/<unk>; 0: every character (char), 2000 (subword)
    min_freq: int = 1  # characters / merges seen fewer times in the training text are dropped (-> <unk>)
    window: int = 100  # k: TBPTT window length in tokens (gradients flow back at most k steps)
    window_mode: str = "stream"  # stream: B stateful streams, state carried | random: random windows, zero state
    val_fraction: float = 0.05  # validation: the part of the text just before the test part, by position
    test_fraction: float = 0.1  # held-out test: the last part of the text, by position
    eval_streams: int = 16  # parallel streams when scoring held-out text (fewer: more context, slower)
    direction: str = "forward"  # forward: left to right | backward: right to left (a classifier's reverse direction)


@dataclass(frozen=True)
class LMModelConfig:
    cell: str = "lstm"  # rnn_tanh | rnn_relu | lstm | gru
    embedding_dim: int = 64  # token embedding width E
    hidden_size: int = 512  # H
    num_layers: int = 1  # stacked recurrent layers (unidirectional: a language model reads left to right)
    dropout: float = 0.1  # on embeddings, between layers and before the output layer
    tie_weights: bool = False  # share the embedding and output matrices (needs embedding_dim == hidden_size)
    softmax: str = "full"  # full | adaptive (frequent ids in a small head, rare ones in clusters: large vocabularies)
    impl: str = "auto"  # auto | explicit | fused: which engine path runs the recurrence
    embedding_from: str | None = None  # an LM run: its tokenizer and embedding, kept fixed (backward LM's partner)


def _lm_train() -> TrainConfig:
    return TrainConfig(epochs=10, batch_size=64, lr=3e-3, weight_decay=0.0, warmup_steps=50, schedule="cosine",
                       clip_norm=1.0, save_every=200)


@dataclass(frozen=True)
class LMRunConfig:
    """A language-model run: ``[data] [model] [train]`` sections; ``train.batch_size`` is the number of
    parallel streams B."""

    task: str = "lm"  # which task head and pipeline
    data: LMDataConfig = field(default_factory=LMDataConfig)
    model: LMModelConfig = field(default_factory=LMModelConfig)
    train: TrainConfig = field(default_factory=_lm_train)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> LMRunConfig:
        return _from_dict(cls, d)


class LanguageModel(nn.Module):
    """Embedding -> dropout -> recurrent engine -> dropout -> linear over the vocabulary."""

    def __init__(self, vocab_size: int, cfg: LMModelConfig):
        super().__init__()
        if cfg.tie_weights and cfg.embedding_dim != cfg.hidden_size:
            raise ValueError(f"model.tie_weights needs model.embedding_dim == model.hidden_size, got "
                             f"{cfg.embedding_dim} and {cfg.hidden_size}; set them equal or tie_weights=false")
        if cfg.softmax not in SOFTMAXES:
            raise ValueError(f"model.softmax must be one of {', '.join(SOFTMAXES)}, got {cfg.softmax!r}")
        cutoffs = adaptive_cutoffs(vocab_size) if cfg.softmax == "adaptive" else []
        if cfg.softmax == "adaptive" and (cfg.tie_weights or not cutoffs):
            raise ValueError("model.softmax = 'adaptive' needs tie_weights = false and a vocabulary larger than "
                             f"{ADAPTIVE_CUTOFFS[0] + 1} tokens (got {vocab_size}); use softmax = 'full'")
        self.cfg = cfg
        self.embedding = nn.Embedding(vocab_size, cfg.embedding_dim, padding_idx=0)
        self.rnn = build_rnn(cfg.cell, cfg.embedding_dim, cfg.hidden_size, cfg.num_layers, batch_first=True,
                             dropout=cfg.dropout if cfg.num_layers > 1 else 0.0, impl=cfg.impl)
        self.drop = nn.Dropout(cfg.dropout)
        if cutoffs:
            # each tail cluster's projection is div times narrower than the last: 4, unless H is too small
            div = next(d for d in (4.0, 2.0, 1.0) if cfg.hidden_size // d ** len(cutoffs) >= 1)
            self.out = nn.AdaptiveLogSoftmaxWithLoss(cfg.hidden_size, vocab_size, cutoffs, div_value=div)
        else:
            self.out = nn.Linear(cfg.hidden_size, vocab_size)
        if cfg.tie_weights:
            self.out.weight = self.embedding.weight  # Press & Wolf 2017: one (V, H) matrix in and out

    def features(self, tokens: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """tokens (B, T) -> (output features (B, T, H) after dropout, final state)."""
        x = self.drop(self.embedding(tokens))  # (B, T, E)
        out, state = self.rnn(x, state)  # (B, T, H)
        return self.drop(out), state

    def forward(self, tokens: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """tokens (B, T) -> (logits (B, T, V), final state (L, B, H) or its (h, c) pair). With the adaptive
        softmax the logits are the log-probabilities themselves (a softmax over them returns them)."""
        h, state = self.features(tokens, state)
        if isinstance(self.out, nn.AdaptiveLogSoftmaxWithLoss):
            return self.out.log_prob(h.flatten(0, 1)).view(*h.shape[:2], -1), state
        return self.out(h), state  # (B, T, V)

    def target_nll(self, tokens: Tensor, targets: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """(negative log-likelihood of each target that is not IGNORE, flat (N,), final state): the
        adaptive softmax computes only each target's own cluster."""
        h, state = self.features(tokens, state)
        flat, keep = targets.flatten(), targets.flatten() != IGNORE
        if isinstance(self.out, nn.AdaptiveLogSoftmaxWithLoss):
            return -self.out(h.flatten(0, 1)[keep], flat[keep]).output, state
        nll = nn.functional.cross_entropy(self.out(h).flatten(0, 1), flat, ignore_index=IGNORE, reduction="none")
        return nll[keep], state  # select on the (N,) losses, not the (N, V) logits


def lm_metrics(nll_sum: float, tokens: int, chars: int) -> dict[str, float | int]:
    """loss, perplexity (per token), nats_per_char and bpc from a summed negative log-likelihood (nats)."""
    loss = nll_sum / max(1, tokens)
    per_char = nll_sum / max(1, chars)
    return {"loss": loss, "perplexity": math.exp(min(loss, 700.0)), "nats_per_char": per_char,
            "bpc": per_char / math.log(2), "tokens": tokens, "chars": chars}


class LMObjective:
    """Next-token cross-entropy with the recurrent state carried across consecutive windows (stateful TBPTT).

    ``loss`` keeps the final state of each window, detached, and starts the next window from it when that
    window continues this one (``Window.index`` is the previous index + 1 and ``reset`` is False); a new
    pass (epoch), a random window, or a skipped window (resuming mid-epoch) starts from a zero state.
    Bits per character picks the best checkpoint.
    """

    metric = "bpc"
    mode = "min"

    def __init__(self) -> None:
        self._state: State | None = None  # final state of the last training window, detached
        self._next: int | None = None  # index of the window that would continue it

    def reset(self) -> None:
        self._state, self._next = None, None

    def loss(self, model: LanguageModel, batch: Window) -> Tensor:
        carry = not batch.reset and batch.index == self._next
        nll, state = model.target_nll(batch.inputs, batch.targets, self._state if carry else None)  # (N,)
        self._state, self._next = detach_state(state), batch.index + 1
        return nll.mean()

    @torch.no_grad()
    def nll(self, model: LanguageModel, loader: Iterable[Window]) -> tuple[float, int]:
        """(summed negative log-likelihood in nats, number of targets) over a pass, state carried."""
        total, n, state = 0.0, 0, None
        for w in loader:
            nll, state = model.target_nll(w.inputs, w.targets, None if w.reset else state)  # (N,)
            total += float(nll.sum())
            n += w.num_targets
        return total, n

    @torch.no_grad()
    def evaluate(self, model: LanguageModel, loader) -> dict[str, float]:
        total, n = self.nll(model, loader)
        return lm_metrics(total, n, getattr(loader, "chars", n))


# ---------------------------------------------------------------------------------------------- sampling


def filter_probs(logits: Tensor, temperature: float, top_k: int = 0, top_p: float = 1.0,
                 banned: Iterable[int] = ()) -> Tensor:
    """Next-token distribution (V,) from logits (V,): banned ids removed, temperature, top-k, nucleus.

    temperature 0 puts all mass on the arg-max (greedy). top_k > 0 keeps the k most likely tokens; top_p < 1
    keeps the smallest most-likely set whose mass reaches p (Holtzman et al. 2020). Ties at the cut-off are
    broken by token id.
    """
    logits = logits.detach().double().clone()
    banned = list(banned)
    if banned and len(banned) < logits.numel():
        logits[banned] = -math.inf
    if temperature == 0:
        probs = torch.zeros_like(logits)
        probs[int(logits.argmax())] = 1.0
        return probs
    # p_i = exp(z_i / τ) / Σ_j exp(z_j / τ)
    probs = torch.softmax(logits / temperature, dim=-1)
    if top_k <= 0 and top_p >= 1.0:
        return probs
    order = torch.argsort(-probs, stable=True)  # most likely first; ties by id
    keep = torch.ones_like(probs, dtype=torch.bool)
    if top_k > 0:
        keep[order[top_k:]] = False
    if top_p < 1.0:
        mass_before = torch.cumsum(probs[order], 0) - probs[order]  # mass of the strictly more likely tokens
        keep[order[mass_before >= top_p]] = False
    keep[order[0]] = True  # the most likely token always survives (top_k >= 1, top_p > 0)
    probs = probs * keep
    return probs / probs.sum()


@torch.no_grad()
def sample(model: LanguageModel, prompt: list[int], length: int, *, temperature: float = 1.0, top_k: int = 0,
           top_p: float = 1.0, banned: Iterable[int] = (0, 1), generator: torch.Generator | None = None
           ) -> Iterator[int]:
    """Yield ``length`` sampled token ids after priming on ``prompt`` (at least one id).

    The prompt runs once; each new token then runs one step from the carried state: O(1) work per token,
    the prefix is never re-read.
    """
    if not prompt:
        raise ValueError("prompt must hold at least one token id to condition on")
    model.eval()
    device = next(model.parameters()).device
    logits, state = model(torch.tensor([prompt], device=device))  # (1, P, V)
    banned = list(banned)
    for i in range(length):
        probs = filter_probs(logits[0, -1], temperature, top_k, top_p, banned)
        token = int(torch.multinomial(probs.float().cpu(), 1, generator=generator)) if temperature > 0 \
            else int(probs.argmax())
        yield token
        if i + 1 < length:
            logits, state = model(torch.tensor([[token]], device=device), state)  # (1, 1, V)
