"""Validation accuracy against training time from finished runs, and the time each took to reach a level.

    python -m bench.curves --data imdb --textbook textbook=r.json --run seqlab=runs/imdb \\
        --reach 0.85 0.88 --plot docs/img/imdb_accuracy_vs_time.png

``--run NAME=DIR`` reads a seqlab run directory's metrics.jsonl (its validation events); ``--textbook
NAME=JSON`` reads the per-epoch history that ``python -m bench.textbook --json`` writes. Elapsed times are
each run's own training clock (validations included), so runs compare fairly only when they shared the
machine the same way; say how they ran next to the numbers.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench.classify import plot_curves


def seqlab_curve(run_dir: str) -> list[tuple[float, float]]:
    events = [json.loads(x) for x in (Path(run_dir) / "metrics.jsonl").read_text().splitlines()]
    return [(e["elapsed_s"], e["metrics"]["accuracy"]) for e in events if e["event"] == "val"]


def textbook_curve(path: str) -> list[tuple[float, float]]:
    return [(h["elapsed_s"], h["val_accuracy"]) for h in json.loads(Path(path).read_text())["history"]]


def first_reach(curve: list[tuple[float, float]], level: float) -> float | None:
    """Seconds until the validation accuracy first reaches ``level`` (None: never)."""
    return next((t for t, a in curve if a >= level), None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="dataset name for the plot title")
    ap.add_argument("--run", nargs="*", default=[], help="NAME=DIR: a seqlab run directory")
    ap.add_argument("--textbook", nargs="*", default=[], help="NAME=JSON: a bench.textbook --json result")
    ap.add_argument("--reach", nargs="*", type=float, default=[], help="validation accuracy levels to time")
    ap.add_argument("--plot", default=None, help="PNG of validation accuracy against training time")
    ap.add_argument("--title", default="runs side by side on one machine")
    args = ap.parse_args()
    curves = {}
    for spec, read in [(s, seqlab_curve) for s in args.run] + [(s, textbook_curve) for s in args.textbook]:
        name, _, path = spec.partition("=")
        if not path:
            ap.error(f"expected NAME=PATH, got {spec!r}")
        curves[name] = read(path)
    for name, curve in curves.items():
        best_t, best = max(curve, key=lambda p: (p[1], -p[0]))
        reach = "  ".join(f"{lv:.2%}: " + (f"{t / 60:.1f} min" if (t := first_reach(curve, lv)) is not None
                                            else "never") for lv in args.reach)
        print(f"{name}: best validation {best:.2%} at {best_t / 60:.1f} min of {curve[-1][0] / 60:.1f}; {reach}")
    if args.plot:
        plot_curves(curves, args.plot, args.data, args.title)
        print(f"plot: {args.plot}")


if __name__ == "__main__":
    main()
