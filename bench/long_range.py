"""Long-range benchmark: adding and copy at T = 50, 100, 200, RNN vs LSTM vs GRU after equal training.

    OMP_NUM_THREADS=1 python -m bench.long_range --out runs/long_range           # the settings below
    OMP_NUM_THREADS=1 python -m bench.long_range --steps 2000 --out runs/lr2000  # a longer budget

Equal training: for a given (task, T) every cell gets the same data stream (seed), the same number of AdamW
steps, batch size, learning rate, clipping, hidden size H, and five validations on a held-out stream pick its
best weights. Scores are on a third stream (test) that neither training nor validation draws from. After
training, ||dL/dh_0|| / ||dL/dh_{T-1}|| of the last step's loss on a fixed probe batch shows how much gradient
still reaches the start of the sequence. Writes bench/results/long_range.md (its table is copied into
BENCHMARKS.md) plus the JSON/PNG under --out.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

from seqlab.diagnostics.experiments import long_range, long_range_table

RESULTS = Path(__file__).resolve().parent / "results" / "long_range.md"
MACHINE = "2-core AMD EPYC CPU, shared with other jobs"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="runs/long_range", help="JSON, table and plot of every run")
    ap.add_argument("--tasks", default="adding,copy")
    ap.add_argument("--lengths", default="50,100,200")
    ap.add_argument("--cells", default="rnn,lstm,gru")
    ap.add_argument("--steps", type=int, default=500, help="AdamW steps per run (the same for every cell)")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--hidden-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-2)
    ap.add_argument("--copy-len", type=int, default=2, help="copy: symbols to remember (K)")
    ap.add_argument("--test-examples", type=int, default=1024)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--results", type=Path, default=RESULTS, help="markdown report to write")
    ap.add_argument("--report-only", action="store_true",
                    help="rewrite the report from OUT/long_range.json (e.g. of a run that was cut short)")
    args = ap.parse_args()
    if args.report_only:
        doc = json.loads((Path(args.out) / "long_range.json").read_text())
        rows, wall = doc["results"], sum(r["seconds"] for r in doc["results"])
        note = f"\nCut short: {len(rows)} of {_planned(args)} runs finished.\n" if len(rows) < _planned(args) else ""
        command = "OMP_NUM_THREADS=1 python -m bench.long_range " + " ".join(
            a for a in sys.argv[1:] if a != "--report-only")
        args.results.write_text(_report(rows, args, wall, command) + note, encoding="utf-8")
        return
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    rows = long_range(args.tasks.split(","), [int(v) for v in args.lengths.split(",")], args.cells.split(","),
                      Path(args.out), steps=args.steps, hidden_size=args.hidden_size, batch_size=args.batch_size,
                      lr=args.lr, seed=args.seed, test_examples=args.test_examples, copy_len=args.copy_len,
                      num_threads=1, log=lambda s: print(s, flush=True))
    wall = time.perf_counter() - t0
    command = "OMP_NUM_THREADS=1 python -m bench.long_range " + " ".join(sys.argv[1:])
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(_report(rows, args, wall, command), encoding="utf-8")
    print(f"wrote {args.results} in {wall:.0f}s", flush=True)


def _planned(args) -> int:
    return len(args.tasks.split(",")) * len(args.lengths.split(",")) * len(args.cells.split(","))


def _report(rows: list[dict], args, wall: float, command: str) -> str:
    per_run = "\n".join(f"| {r['task']} | {r['length']} | {r['cell']} | {r['steps']} | {r['best_step']} | "
                        f"{r['seconds']:.0f} | {100 * r['clipped_fraction']:.0f}% |" for r in rows)
    return f"""## Long-range tasks: the vanishing gradient in outcomes

Command: `{command}`
Machine: {MACHINE} (torch {torch.__version__}, 1 thread, Python {platform.python_version()}).
Wall time: {wall / 60:.1f} min for all {len(rows)} runs.

Config: H={args.hidden_size}, 1 layer, AdamW lr {args.lr:g} constant, no weight decay, clip 1.0, batch
{args.batch_size}, {args.steps} steps per run (fresh batches: {args.steps * args.batch_size:,} training sequences),
LSTM forget-gate bias +1 at init, torch's init otherwise. Adding: target at the last step, MSE (predicting the
mean scores 1/6 ≈ 0.167, r2 = 0). Copy: K={args.copy_len} symbols from an alphabet of 8, recalled in order at the
last K of T steps (chance accuracy 0.125). Held out: the best of 5 validations (512 sequences of a separate
stream) picks the weights; the score is on {args.test_examples} test sequences of a third stream.
"grad ratio" = ||dL/dh_0|| / ||dL/dh_{{T-1}}|| of the trained model for the last step's loss on a fixed probe
batch: how much of the gradient reaching the last state still reaches the first.

{long_range_table(rows)}
Per run:

| task | T | cell | steps | best step | seconds | clipped |
|---|---|---|---|---|---|---|
{per_run}
"""


if __name__ == "__main__":
    main()
