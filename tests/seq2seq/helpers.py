"""Tiny seq2seq models with random weights for the model and decoding tests."""

from __future__ import annotations

import torch

from seqlab.tasks.seq2seq import Seq2Seq, Seq2SeqModelConfig

BOS, EOS = 2, 3  # target ids, as the pipeline's tokenizers assign them (<pad>=0, <unk>=1)


def tiny_model(attention="general", cell="lstm", *, src_vocab=11, tgt_vocab=9, layers=1, feed=True, seed=0,
               hidden=12, bidirectional=True, scale=1.0, dtype=torch.float64) -> Seq2Seq:
    torch.manual_seed(seed)
    cfg = Seq2SeqModelConfig(cell=cell, embedding_dim=8, hidden_size=hidden, num_layers=layers,
                             bidirectional=bidirectional, attention=attention, input_feeding=feed, dropout=0.0)
    model = Seq2Seq(src_vocab, tgt_vocab, cfg, bos_id=BOS, eos_id=EOS).to(dtype)
    with torch.no_grad():
        model.out.weight.mul_(scale)  # scale > 1: peakier next-token distributions
    return model.eval()


def sources(B=3, S=5, vocab=11, seed=1) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, S) source ids right-padded with 0, lengths (B,) with the longest first and a length-1 row."""
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(2, vocab, (B, S), generator=g)
    lengths = torch.tensor([S] + [max(1, S - 2 * i) for i in range(1, B)])
    lengths[-1] = 1
    for b in range(B):
        src[b, lengths[b]:] = 0
    return src, lengths


def teacher_forced_logprob(model: Seq2Seq, src, src_len, tokens: list[int], finished: bool) -> float:
    """Oracle: log P(tokens [, <eos>]) from one teacher-forced forward pass (no decoding state carried by
    hand), under the decoding distribution (<pad>/<bos> excluded)."""
    seq = list(tokens) + ([EOS] if finished else [])
    tgt_in = torch.tensor([[BOS] + seq[:-1]])
    with torch.no_grad():
        logits = model(src, src_len, tgt_in)[0]  # (T, V)
    logp = torch.log_softmax(logits.masked_fill(model.banned, float("-inf")), dim=-1)
    return float(logp[torch.arange(len(seq)), torch.tensor(seq)].sum())


FRUITS = {"사과": "apple", "바나나": "banana", "포도": "grape", "딸기": "strawberry", "수박": "watermelon",
          "복숭아": "peach", "자두": "plum", "레몬": "lemon"}


def fruit_pairs(n: int, seed: int) -> list[tuple[str, str]]:
    """Korean fruit lists -> the English words in the same order: learnable in a few hundred steps."""
    import random

    rng = random.Random(seed)
    words = sorted(FRUITS)
    pairs = []
    for _ in range(n):
        ko = [rng.choice(words) for _ in range(rng.randint(1, 4))]
        pairs.append((" ".join(ko), " ".join(FRUITS[w] for w in ko)))
    return pairs


def write_pairs(path, pairs) -> None:
    path.write_text("".join(f"{s}\t{t}\n" for s, t in pairs), encoding="utf-8")
