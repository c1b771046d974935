"""`seqlab predict` cost: single-review latency (p50/p99) and batch throughput, for a trained classify run.

    python -m bench.predict_latency runs/nsmc --data nsmc --n 300 --batch 5000

Latency covers the whole Python call a server would make per request: tokenizing (Kiwi for morpheme runs),
the model forward, softmax. Reviews are taken from the dataset's test split.
"""

from __future__ import annotations

import argparse
import statistics
import time

from seqlab.data import load
from seqlab.inference.predictor import Predictor


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run_dir")
    ap.add_argument("--data", default="nsmc")
    ap.add_argument("--n", type=int, default=300, help="single-review calls to time")
    ap.add_argument("--batch", type=int, default=5000, help="reviews in the throughput run")
    args = ap.parse_args()
    texts = load(args.data, "test").texts
    pred = Predictor.from_run(args.run_dir)
    pred.predict(texts[:10])  # warm-up: loads the morpheme analyser
    lat = []
    for t in texts[: args.n]:
        t0 = time.perf_counter()
        pred.predict([t])
        lat.append(time.perf_counter() - t0)
    lat.sort()
    p50, p99 = statistics.median(lat), lat[min(len(lat) - 1, int(0.99 * len(lat)))]
    t0 = time.perf_counter()
    pred.predict(texts[: args.batch])
    dt = time.perf_counter() - t0
    print(f"single review: p50 {p50 * 1e3:.1f} ms, p99 {p99 * 1e3:.1f} ms over {len(lat)} calls; "
          f"batch of {args.batch}: {args.batch / dt:.0f} reviews/s ({dt:.1f} s)")


if __name__ == "__main__":
    main()
