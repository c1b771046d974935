"""The well-known textbook LSTM sentiment recipe, in plain PyTorch, as the baseline seqlab must beat.

Whitespace tokens (every training token in the vocabulary), embedding 20, LSTM 64 over packed sequences,
FC 64 -> ReLU -> 1 logit, Adam 1e-3, batch 32, 10 epochs, the epoch best on validation evaluated on test.

    python -m bench.textbook --data nsmc            # prints per-epoch validation accuracy and time
    python -m bench.textbook --data imdb --json r.json    # also writes the result and history as JSON
    python -m bench.textbook --data imdb --budget-s 7800  # starts no epoch that would end past 7,800 s

It reads data through seqlab's registry (so SEQLAB_DATA_DIR works) but uses nothing else of seqlab.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections import Counter

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from seqlab.data import load


def tokenize(text: str, english: bool) -> list[str]:
    if english:  # the book's IMDb preprocessing: strip HTML, lowercase, split on non-word characters
        text = re.sub(r"<[^>]*>", " ", text).lower()
        return re.findall(r"\w+", text)
    return text.split()


class TextbookLSTM(nn.Module):
    def __init__(self, vocab: int):
        super().__init__()
        self.embedding = nn.Embedding(vocab, 20, padding_idx=0)
        self.rnn = nn.LSTM(20, 64, batch_first=True)
        self.fc1 = nn.Linear(64, 64)
        self.fc2 = nn.Linear(64, 1)

    def forward(self, x, lengths):
        packed = pack_padded_sequence(self.embedding(x), lengths, batch_first=True, enforce_sorted=False)
        _, (h, _) = self.rnn(packed)
        return self.fc2(torch.relu(self.fc1(h[-1]))).squeeze(-1)


def batches(ids, labels, batch_size, rng=None):
    order = rng.permutation(len(ids)) if rng is not None else np.arange(len(ids))
    for s in range(0, len(ids), batch_size):
        idx = order[s : s + batch_size]
        seqs = [ids[i] for i in idx]
        lengths = torch.tensor([len(q) for q in seqs])
        x = torch.zeros(len(seqs), int(lengths.max()), dtype=torch.long)
        for r, q in enumerate(seqs):
            x[r, : len(q)] = torch.tensor(q)
        yield x, lengths, torch.tensor([labels[i] for i in idx], dtype=torch.float32)


@torch.no_grad()
def accuracy(model, ids, labels):
    model.eval()
    correct = sum(int(((model(x, n) > 0).float() == y).sum()) for x, n, y in batches(ids, labels, 256))
    model.train()
    return correct / len(ids)


def run(data: str, epochs: int, seed: int, val_fraction: float = 0.1, budget_s: float | None = None) -> dict:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    english = data == "imdb"
    train, test = load(data, "train"), load(data, "test")
    perm = rng.permutation(len(train.texts))
    n_val = round(len(perm) * val_fraction)
    va_i, tr_i = perm[:n_val], perm[n_val:]
    toks = [tokenize(t, english) or ["<unk>"] for t in train.texts]
    counts = Counter(w for i in tr_i for w in toks[i])
    stoi = {w: k + 2 for k, w in enumerate(sorted(counts, key=lambda w: (-counts[w], w)))}

    def enc(words):
        return [stoi.get(w, 1) for w in words] or [1]

    y_all = [int(lbl) for lbl in train.labels]
    tr_ids, tr_y = [enc(toks[i]) for i in tr_i], [y_all[i] for i in tr_i]
    va_ids, va_y = [enc(toks[i]) for i in va_i], [y_all[i] for i in va_i]
    te_ids = [enc(tokenize(t, english)) for t in test.texts]
    te_y = [int(lbl) for lbl in test.labels]
    model = TextbookLSTM(len(stoi) + 2)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)  # same update rule; one kernel (big vocab)
    best, best_state, history, steps, t0 = -1.0, None, [], 0, time.perf_counter()
    for epoch in range(epochs):
        elapsed = time.perf_counter() - t0
        if budget_s is not None and epoch and elapsed + elapsed / epoch > budget_s:
            print(f"stopping before epoch {epoch + 1}: it would end past the {budget_s:.0f} s budget", flush=True)
            break
        for x, n, y in batches(tr_ids, tr_y, 32, rng):
            opt.zero_grad()
            nn.functional.binary_cross_entropy_with_logits(model(x, n), y).backward()
            opt.step()
            steps += 1
        val = accuracy(model, va_ids, va_y)
        history.append({"epoch": epoch + 1, "val_accuracy": val, "elapsed_s": time.perf_counter() - t0})
        print(json.dumps(history[-1]), flush=True)
        if val > best:
            best, best_state = val, {k: v.clone() for k, v in model.state_dict().items()}
            history[-1]["best"] = True
    train_s = time.perf_counter() - t0
    model.load_state_dict(best_state)
    test_acc = accuracy(model, te_ids, te_y)
    best_epoch = max(history, key=lambda h: h["val_accuracy"])
    return {"data": data, "test_accuracy": test_acc, "best_val": best, "best_epoch": best_epoch["epoch"],
            "time_to_best_s": best_epoch["elapsed_s"], "train_s": train_s, "steps_per_s": steps / train_s,
            "epochs_run": len(history), "vocab": len(stoi) + 2, "history": history}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="nsmc", choices=["nsmc", "imdb"])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--budget-s", type=float, default=None,
                    help="start no epoch that would end past this many seconds of training (the best so far is tested)")
    ap.add_argument("--json", default=None, help="also write the result as JSON here")
    args = ap.parse_args()
    r = run(args.data, args.epochs, args.seed, budget_s=args.budget_s)
    print(json.dumps({k: v for k, v in r.items() if k != "history"}))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(r, f, indent=1)


if __name__ == "__main__":
    main()
