"""Sentiment quality and time-to-accuracy: seqlab's default config vs the textbook recipe, same machine.

    python -m bench.classify --data nsmc --write          # seqlab default (configs/nsmc.toml) + textbook
    python -m bench.classify --data imdb --config configs/imdb.toml --write
    python -m bench.classify --data nsmc --skip-textbook  # only seqlab

Test accuracy is measured on the dataset's official test split, which neither model sees while training
(both pick their best epoch/step on a validation split carved from train).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from bench.common import write_section
from seqlab.config import RunConfig, load_config
from seqlab.pipelines import classify


def run_seqlab(cfg: RunConfig, out: Path) -> dict:
    t0 = time.perf_counter()
    summary = classify.train(cfg, out, progress=False, log=lambda *a: None)
    total = time.perf_counter() - t0
    ev = classify.evaluate(out, cfg.data.name, "test", plot=True)
    vals = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    curve = [(v["elapsed_s"], v["metrics"]["accuracy"]) for v in vals if v["event"] == "val"]
    return {"test_accuracy": ev["metrics"]["accuracy"], "test_macro_f1": ev["metrics"]["macro_f1"],
            "best_val": summary["best_metric"], "train_s": summary["wall_time_s"], "total_s": total,
            "prepare_s": total - summary["wall_time_s"], "steps_per_s": summary["steps_per_s"], "curve": curve,
            "time_to_best_s": next(t for t, a in curve if a == summary["best_metric"])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="nsmc", choices=["nsmc", "imdb"])
    ap.add_argument("--config", default=None, help="seqlab preset (default configs/<data>.toml)")
    ap.add_argument("--out", default="runs/bench", help="where the seqlab run is written")
    ap.add_argument("--skip-textbook", action="store_true")
    ap.add_argument("--textbook-epochs", type=int, default=10)
    ap.add_argument("--write", action="store_true", help="write the table into BENCHMARKS.md")
    args = ap.parse_args()
    config = args.config or f"configs/{args.data}.toml"
    cfg = load_config(config)
    rows = []
    r = run_seqlab(cfg, Path(args.out) / args.data)
    print(json.dumps({"seqlab": r}), flush=True)
    m = cfg.model
    rows.append(f"| seqlab default (`{config}`: {cfg.data.tokenizer} tokens, {'Bi' if m.bidirectional else ''}"
                f"{m.cell.upper()} {m.hidden_size}, {m.pooling} pooling) | {100 * r['test_accuracy']:.2f} | "
                f"{100 * r['best_val']:.2f} | {r['time_to_best_s'] / 60:.1f} | {r['train_s'] / 60:.1f} | "
                f"{r['prepare_s'] / 60:.1f} |")
    if not args.skip_textbook:
        from bench.textbook import run

        tb = run(args.data, args.textbook_epochs, seed=cfg.train.seed)
        print(json.dumps({"textbook": {k: v for k, v in tb.items() if k != "history"}}), flush=True)
        rows.append(f"| textbook recipe (`bench/textbook.py`: whitespace tokens, emb 20, LSTM 64, FC 64, Adam 1e-3, "
                    f"batch 32, best of {args.textbook_epochs} epochs) | {100 * tb['test_accuracy']:.2f} | "
                    f"{100 * tb['best_val']:.2f} | {tb['time_to_best_s'] / 60:.1f} | {tb['train_s'] / 60:.1f} | — |")
    table = "\n".join([
        f"{args.data} test split ({'50,000' if args.data == 'nsmc' else '25,000'} reviews); validation = 10% of train.",
        "",
        "| model | test accuracy % | best validation accuracy % | minutes to best validation | training minutes "
        "| data preparation minutes |",
        "|---|---|---|---|---|---|",
        *rows,
    ])
    print(table)
    if args.write:
        cmd = f"python -m bench.classify --data {args.data}" + (f" --config {args.config}" if args.config else "")
        write_section(f"classify-{args.data}", table, cmd)


if __name__ == "__main__":
    main()
