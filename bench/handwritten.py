"""seqlab's default sentiment model written by hand in plain PyTorch: the overhead check for the toolkit.

Same tokens, batches, model and schedule as ``seqlab train classify --config configs/nsmc.toml``, but with
torch.nn.LSTM over packed sequences and a bare training loop, so the difference in steps/s is what seqlab's
layers, trainer, logging and checkpoints cost:

    python -m bench.handwritten --config configs/nsmc.toml

Data preparation (reading, Kiwi morphemes, vocabulary, length buckets) goes through seqlab's own functions,
so both runs see identical token ids and batch order; it is timed separately from training.
"""

from __future__ import annotations

import argparse
import json
import math
import time

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seqlab.config import RunConfig, load_config
from seqlab.data import LabelSet, train_and_encode
from seqlab.tasks.classify_data import carve_validation, encode_texts, make_batches, read_split


class HandwrittenClassifier(nn.Module):
    """Embedding -> dropout -> (Bi)LSTM over packed sequences -> max pool over valid steps -> dropout -> linear."""

    def __init__(self, vocab: int, classes: int, emb: int, hidden: int, bidirectional: bool, dropout: float):
        super().__init__()
        self.embedding = nn.Embedding(vocab, emb, padding_idx=0)
        self.rnn = nn.LSTM(emb, hidden, batch_first=True, bidirectional=bidirectional)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(hidden * (2 if bidirectional else 1), classes)

    def forward(self, tokens, lengths):
        x = self.drop(self.embedding(tokens))
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = self.rnn(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, padding_value=float("-inf"), total_length=x.shape[1])
        return self.out(self.drop(out.amax(dim=1)))


@torch.no_grad()
def accuracy(model, batches) -> float:
    model.eval()
    correct = total = 0
    for b in batches:
        correct += int((model(b.tokens, b.lengths).argmax(-1) == b.targets).sum())
        total += len(b)
    model.train()
    return correct / total


def prepare(cfg: RunConfig) -> dict:
    """Token ids and batches exactly as seqlab's classify pipeline builds them (same seed, same split)."""
    d, tc = cfg.data, cfg.train
    t0 = time.perf_counter()
    train = read_split(d.name, "train")
    labels = LabelSet.from_examples(train.examples)
    y = labels.encode_examples(train.examples)
    tr_idx, va_idx = carve_validation(len(y), d.val_fraction, tc.seed)
    texts = train.texts  # a list built on each access: take it once
    tokenizer, tr_ids = train_and_encode(d.tokenizer, [texts[i] for i in tr_idx], d.vocab_size, d.min_freq,
                                         d.max_len)
    tr_ids = [x or [tokenizer.unk_id] for x in tr_ids]
    va_ids = encode_texts(tokenizer, [texts[i] for i in va_idx], d.max_len)
    test = read_split(d.name, "test")
    te_ids = encode_texts(tokenizer, test.texts, d.max_len)
    return {"vocab": tokenizer.vocab_size, "classes": len(labels), "prepare_s": time.perf_counter() - t0,
            "train": make_batches(tr_ids, [y[i] for i in tr_idx], d, tc.batch_size, tc.seed, shuffle=True),
            "val": make_batches(va_ids, [y[i] for i in va_idx], d, 256, tc.seed, shuffle=False),
            "test": make_batches(te_ids, labels.encode_examples(test.examples), d, 256, tc.seed, shuffle=False)}


def run(cfg: RunConfig, data: dict | None = None) -> dict:
    data = data or prepare(cfg)
    m, tc = cfg.model, cfg.train
    if tc.num_threads:
        torch.set_num_threads(tc.num_threads)
    torch.manual_seed(tc.seed)
    model = HandwrittenClassifier(data["vocab"], data["classes"], m.embedding_dim, m.hidden_size, m.bidirectional,
                                  m.dropout)
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and not n.startswith("embedding")]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2 or n.startswith("embedding")]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": tc.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=tc.lr, fused=True)
    total = tc.epochs * len(data["train"])

    def factor(s):  # linear warm-up, then linear decay to 0 (seqlab's "linear" schedule)
        return (s + 1) / tc.warmup_steps if s < tc.warmup_steps else 1 - min(1, (s - tc.warmup_steps) / max(
            1, total - tc.warmup_steps))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    step, best, best_state, curve, t0 = 0, -1.0, None, [], time.perf_counter()
    for epoch in range(tc.epochs):
        data["train"].set_epoch(epoch)
        for b in data["train"]:
            loss = nn.functional.cross_entropy(model(b.tokens, b.lengths), b.targets)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), tc.clip_norm if tc.clip_norm > 0 else math.inf)
            opt.step()
            sched.step()
            step += 1
            if (tc.eval_every and step % tc.eval_every == 0) or step == total:
                val = accuracy(model, data["val"])
                curve.append((time.perf_counter() - t0, val))
                print(json.dumps({"step": step, "val_accuracy": val, "elapsed_s": round(curve[-1][0], 1)}), flush=True)
                if val > best:
                    best, best_state = val, {k: v.clone() for k, v in model.state_dict().items()}
    train_s = time.perf_counter() - t0
    model.load_state_dict(best_state)
    return {"test_accuracy": accuracy(model, data["test"]), "best_val": best, "train_s": train_s,
            "steps": step, "steps_per_s": step / train_s, "prepare_s": data["prepare_s"], "curve": curve,
            "time_to_best_s": next(t for t, a in curve if a == best)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="configs/nsmc.toml")
    args = ap.parse_args()
    r = run(load_config(args.config))
    print(json.dumps({k: v for k, v in r.items() if k != "curve"}))


if __name__ == "__main__":
    main()
