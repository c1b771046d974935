"""The textbook character-level LSTM (Raschka et al., *Machine Learning with PyTorch and Scikit-Learn*, ch. 15:
"Character-level language modeling in PyTorch", on *The Mysterious Island*), in plain PyTorch, as the
baseline seqlab's language model is compared with.

The book's recipe: embedding 256, one LSTM layer of 512, a linear layer to the characters; chunks of 41
characters (40 inputs, 40 targets) drawn at random (a shuffled DataLoader, batch 64), each from a zero state;
the loss is the sum over the 40 steps of the batch-mean cross-entropy; Adam lr 5e-3, no gradient clipping,
one batch per "epoch". The book's per-character Python loop is replaced by one LSTM call over the 40 steps
(the same function, faster). Differences from the book, so the comparison is fair: it trains on the same
training text as seqlab (the first 85 %; seqlab's validation 5 % and test 10 % are held out by position, the
book trains on everything), its alphabet is the training text's characters plus <unk>, and training stops
after a time budget instead of 10,000 batches.

    python -m bench.lm_textbook --seconds 300            # trains for 300 s, prints held-out bpc as JSON
    python -m bench.lm_textbook --seconds 300 --clock cpu --json-out bench/results/lm_textbook.json

Held-out scoring is the same as ``seqlab evaluate`` (every character of the test part predicted, 16
streams with the state carried), plus "as trained": 40-character windows each from a zero state.
It reads the corpus and the split through seqlab (so SEQLAB_DATA_DIR works) and uses nothing else of it.
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np
import torch
from torch import nn

from seqlab.pipelines.lm import corpus_text, split_text

SEQ_LENGTH, BATCH, EMBED, HIDDEN, LR = 40, 64, 256, 512, 5e-3


class TextbookRNN(nn.Module):
    def __init__(self, vocab_size: int):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, EMBED)
        self.rnn = nn.LSTM(EMBED, HIDDEN, batch_first=True)
        self.fc = nn.Linear(HIDDEN, vocab_size)

    def forward(self, x, state=None):
        out, state = self.rnn(self.embedding(x), state)  # (B, T, H)
        return self.fc(out), state  # (B, T, V)


def train(model: TextbookRNN, ids: torch.Tensor, seconds: float, clock, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    loss_fn = nn.CrossEntropyLoss()
    steps, t0, losses = 0, clock(), []
    offsets = torch.arange(SEQ_LENGTH + 1)
    while clock() - t0 < seconds:
        starts = torch.from_numpy(rng.integers(0, len(ids) - SEQ_LENGTH, size=BATCH))
        chunk = ids[starts.unsqueeze(1) + offsets]  # (B, 41)
        logits, _ = model(chunk[:, :-1])  # zero initial state, as model.init_hidden in the book
        # the book: loss = Σ_c loss_fn(pred_c, target_c) over the 40 steps
        loss = loss_fn(logits.flatten(0, 1), chunk[:, 1:].flatten()) * SEQ_LENGTH
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        steps += 1
        losses.append(loss.item() / SEQ_LENGTH)
    return {"steps": steps, "train_loss_last50": float(np.mean(losses[-50:])), "chars_seen": steps * BATCH * 40}


@torch.no_grad()
def held_out_nll(model: TextbookRNN, context: int, ids: list[int], streams: int, window: int | None) -> float:
    """Σ -ln p over every target of ``ids`` (the first conditioned on ``context``). window None: ``streams``
    parallel streams with the state carried; else independent windows of ``window`` steps from zero states."""
    seq = torch.tensor([context, *ids])
    M = len(seq) - 1
    if window is not None:
        streams = -(-M // window)
    L = -(-M // streams)
    x = torch.zeros(streams * L, dtype=torch.long)
    y = torch.full((streams * L,), -100, dtype=torch.long)
    x[:M], y[:M] = seq[:-1], seq[1:]
    x, y = x.view(streams, L), y.view(streams, L)
    total, state = 0.0, None
    step = L if window is not None else 256
    for s in range(0, L, step):
        logits, state = model(x[:, s:s + step], state)
        total += float(nn.functional.cross_entropy(logits.flatten(0, 1), y[:, s:s + step].flatten(),
                                                   ignore_index=-100, reduction="sum"))
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="mysterious_island")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--seconds", type=float, required=True, help="training time budget")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall", help="what --seconds measures")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json-out", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    text = corpus_text(args.data, args.data_dir)
    spans = split_text(text, 0.05, 0.1)  # seqlab's defaults: the same held-out test text
    (a, b), (ta, tb) = spans["train"], spans["test"]
    chars = sorted(set(text[a:b]))
    stoi = {c: i for i, c in enumerate(chars)}
    unk = len(chars)
    model = TextbookRNN(len(chars) + 1)
    train_ids = torch.tensor([stoi[c] for c in text[a:b]])
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    w0, c0 = time.perf_counter(), time.process_time()
    info = train(model, train_ids, args.seconds, clock, args.seed)
    info |= {"train_wall_s": time.perf_counter() - w0, "train_cpu_s": time.process_time() - c0}
    model.eval()
    test_ids = [stoi.get(c, unk) for c in text[ta:tb]]
    context = stoi.get(text[ta - 1], unk)
    n = tb - ta
    for name, window in (("carried", None), ("windows40", SEQ_LENGTH)):
        nll = held_out_nll(model, context, test_ids, 16, window)
        info[f"test_bpc_{name}"] = nll / n / math.log(2)
        info[f"test_nats_per_char_{name}"] = nll / n
    info |= {"test_chars": n, "test_unk": test_ids.count(unk), "clock": args.clock, "budget_s": args.seconds,
             "data": args.data}
    print(json.dumps(info))
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(info, f, indent=1)


if __name__ == "__main__":
    main()
