"""Full vs adaptive softmax for a subword language model: one training step (forward + backward + AdamW) on
the same window of random token ids, the two models built alike and timed alternately in one process.

    python -m bench.lm_softmax                       # the IMDb LM preset's sizes: V 20000, E = H = 128, 64 x 100
    python -m bench.lm_softmax --vocab 50000 --threads 2

Prints seconds per step for each and the ratio (full / adaptive).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from seqlab.data.streams import StreamBatches
from seqlab.tasks.lm import LanguageModel, LMModelConfig, LMObjective


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vocab", type=int, default=20000)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--streams", type=int, default=64)
    ap.add_argument("--window", type=int, default=100)
    ap.add_argument("--steps", type=int, default=8, help="timed steps per model (after one warm-up step)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    # Zipf-like ids (frequent ids small), as a frequency-ordered subword vocabulary produces
    ranks = torch.arange(1, args.vocab - 1, dtype=torch.float64)
    n = args.streams * args.window * (args.steps + 1) + 1
    ids = (torch.multinomial(1 / ranks, n, replacement=True) + 2).tolist()
    loader = list(StreamBatches(ids, args.streams, args.window))
    times = {}
    models = {}
    for kind in ("full", "adaptive"):
        cfg = LMModelConfig(embedding_dim=args.hidden, hidden_size=args.hidden, softmax=kind)
        models[kind] = LanguageModel(args.vocab, cfg)
        models[kind].opt = torch.optim.AdamW(models[kind].parameters(), lr=1e-3)
        times[kind] = []
    for i, window in enumerate(loader):
        for kind, model in models.items():  # alternate, so both see the same machine load
            t0 = time.perf_counter()
            model.opt.zero_grad()
            LMObjective().loss(model, window).backward()
            model.opt.step()
            if i > 0:
                times[kind].append(time.perf_counter() - t0)
    full, adaptive = statistics.median(times["full"]), statistics.median(times["adaptive"])
    print(f"V {args.vocab}, H {args.hidden}, {args.streams} x {args.window} tokens per step, "
          f"{args.threads} thread(s), median of {len(times['full'])} steps")
    print(f"full softmax      {full:.3f} s/step")
    print(f"adaptive softmax  {adaptive:.3f} s/step   (cutoffs {models['adaptive'].out.cutoffs[:-1]})")
    print(f"full / adaptive   {full / adaptive:.2f}x")


if __name__ == "__main__":
    main()
