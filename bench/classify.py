"""Sentiment quality and time-to-accuracy: seqlab's default config vs the textbook recipe, same machine.

    python -m bench.classify --data nsmc --write          # seqlab default (configs/nsmc.toml) + textbook
    python -m bench.classify --data imdb --config configs/imdb.toml --write
    python -m bench.classify --data nsmc --skip-textbook  # only seqlab
    python -m bench.classify --data nsmc --handwritten --plot docs/img/nsmc_accuracy_vs_time.png --write
                                                          # + the same model by hand in plain PyTorch

``--handwritten`` adds ``bench/handwritten.py``: seqlab's default model and schedule written as a bare
PyTorch loop over the same token ids and batches, so seqlab's steps/s over its steps/s is the toolkit's
overhead (target >= 0.95x). ``--plot`` draws validation accuracy against training wall-clock for every run.

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


def plot_curves(curves: dict, path: str, data: str, title: str = "same machine, same run") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for name, pts in curves.items():
        ax.plot([t / 60 for t, _ in pts], [100 * a for _, a in pts], marker="o", ms=3, label=name)
    ax.set_xlabel("training wall-clock (minutes)")
    ax.set_ylabel("validation accuracy (%)")
    ax.set_title(f"{data}: accuracy against time, {title}")
    ax.grid(alpha=0.3)
    ax.legend()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="nsmc", choices=["nsmc", "imdb"])
    ap.add_argument("--config", default=None, help="seqlab preset (default configs/<data>.toml)")
    ap.add_argument("--out", default="runs/bench", help="where the seqlab run is written")
    ap.add_argument("--skip-textbook", action="store_true")
    ap.add_argument("--textbook-epochs", type=int, default=10)
    ap.add_argument("--handwritten", action="store_true", help="also run the plain-PyTorch twin of the model")
    ap.add_argument("--plot", default=None, help="PNG of validation accuracy against training wall-clock")
    ap.add_argument("--write", action="store_true", help="write the table into BENCHMARKS.md")
    args = ap.parse_args()
    config = args.config or f"configs/{args.data}.toml"
    cfg = load_config(config)
    rows = []
    r = run_seqlab(cfg, Path(args.out) / args.data)
    print(json.dumps({"seqlab": r}), flush=True)
    m = cfg.model
    curves = {"seqlab default": r["curve"]}
    rows.append(f"| seqlab default (`{config}`: {cfg.data.tokenizer} tokens, {'Bi' if m.bidirectional else ''}"
                f"{m.cell.upper()} {m.hidden_size}, {m.pooling} pooling) | {100 * r['test_accuracy']:.2f} | "
                f"{100 * r['best_val']:.2f} | {r['time_to_best_s'] / 60:.1f} | {r['train_s'] / 60:.1f} | "
                f"{r['steps_per_s']:.2f} | {r['prepare_s'] / 60:.1f} |")
    if args.handwritten:
        from bench.handwritten import run as run_handwritten

        hw = run_handwritten(cfg)
        print(json.dumps({"handwritten": {k: v for k, v in hw.items() if k != "curve"}}), flush=True)
        curves["same model, hand-written PyTorch"] = hw["curve"]
        rows.append(f"| the same model hand-written in plain PyTorch (`bench/handwritten.py`, torch.nn.LSTM, same "
                    f"tokens and batches) | {100 * hw['test_accuracy']:.2f} | {100 * hw['best_val']:.2f} | "
                    f"{hw['time_to_best_s'] / 60:.1f} | {hw['train_s'] / 60:.1f} | {hw['steps_per_s']:.2f} | "
                    f"{hw['prepare_s'] / 60:.1f} |")
        ratio = r["steps_per_s"] / hw["steps_per_s"]
    if not args.skip_textbook:
        from bench.textbook import run

        tb = run(args.data, args.textbook_epochs, seed=cfg.train.seed)
        print(json.dumps({"textbook": {k: v for k, v in tb.items() if k != "history"}}), flush=True)
        curves["textbook recipe"] = [(h["elapsed_s"], h["val_accuracy"]) for h in tb["history"]]
        rows.append(f"| textbook recipe (`bench/textbook.py`: whitespace tokens, emb 20, LSTM 64, FC 64, Adam 1e-3, "
                    f"batch 32, best of {args.textbook_epochs} epochs) | {100 * tb['test_accuracy']:.2f} | "
                    f"{100 * tb['best_val']:.2f} | {tb['time_to_best_s'] / 60:.1f} | {tb['train_s'] / 60:.1f} | "
                    f"{tb['steps_per_s']:.2f} | — |")
    table = "\n".join([
        f"{args.data} test split ({'50,000' if args.data == 'nsmc' else '25,000'} reviews); validation = 10% of train.",
        "",
        "| model | test accuracy % | best validation accuracy % | minutes to best validation | training minutes "
        "| steps/s | data preparation minutes |",
        "|---|---|---|---|---|---|---|",
        *rows,
    ])
    if args.handwritten:
        table += (f"\n\nseqlab steps/s over the hand-written loop's: **{ratio:.3f}x** (target >= 0.95x; steps/s "
                  "counts the whole training phase, validations included, for both).")
    if args.plot:
        plot_curves(curves, args.plot, args.data)
        table += f"\n\n![validation accuracy against training time]({args.plot})"
    print(table)
    if args.write:
        cmd = f"python -m bench.classify --data {args.data}" + (f" --config {args.config}" if args.config else "")
        write_section(f"classify-{args.data}", table, cmd)


if __name__ == "__main__":
    main()
