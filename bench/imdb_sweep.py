"""IMDb variants of a classify config, each trained and then scored on the official test split, one device.

    python -m bench.imdb_sweep --device cuda --out runs/imdb_sweep          # every variant below
    python -m bench.imdb_sweep --device cpu --only headtail_gru              # one of them

Each variant is ``configs/imdb.toml`` plus ``--set``-style overrides. Model selection uses the validation
split carved from train (as every seqlab run does); the test split is scored once per variant, after
training, and printed beside it, so read the table as "what each recipe reaches", not as a tuned pick.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from seqlab.config import apply_overrides, load_config
from seqlab.pipelines import classify
from seqlab.tasks.classify import ClassifyObjective
from seqlab.tasks.classify_data import encode_texts, make_batches, read_split
from seqlab.training.trainer import _on

# Overrides of configs/imdb.toml (BPE 20k, max_len 400, head_tail, BiLSTM 128, mean pooling, 8 epochs of
# batch 64, AdamW 2e-3, clip 5). "first_preset" is the config this file replaced; "preset" is the current one.
SHORT = ["train.lr=1e-3", "train.epochs=4", "train.warmup_steps=100"]
VARIANTS = {
    "first_preset": ["data.truncate=head", "model.pooling=max", "train.epochs=3", "train.batch_size=32",
                     "train.clip_norm=1", "train.eval_every=400"],
    "head_max_4ep": [*SHORT, "data.truncate=head", "model.pooling=max"],
    "headtail_max_4ep": [*SHORT, "model.pooling=max"],
    "headtail_max_4ep_gru": [*SHORT, "model.pooling=max", "model.cell=gru"],
    "headtail_max_4ep_wide": [*SHORT, "model.pooling=max", "model.hidden_size=256", "model.embedding_dim=256",
                              "data.max_len=512"],
    "headtail_mean_4ep": SHORT,
    "preset": [],
    "preset_gru": ["model.cell=gru"],
}


def test_metrics(run_dir: Path, device: torch.device) -> dict:
    model, meta, tokenizer, labels = classify.load_run(run_dir)
    cfg = classify.CONFIG.from_dict(meta["config"])
    model.to(device)
    test = read_split(cfg.data.name, "test")
    ids = encode_texts(tokenizer, test.texts, cfg.data.max_len, cfg.data.truncate)
    batches = make_batches(ids, labels.encode_examples(test.examples), cfg.data, 256, 0, shuffle=False)
    with torch.no_grad():
        return ClassifyObjective(len(labels)).evaluate(model, _on(batches, device))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="configs/imdb.toml")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default="runs/imdb_sweep")
    ap.add_argument("--only", nargs="*", default=None, help="variant names (default: all)")
    args = ap.parse_args()
    base = load_config(args.config)
    rows = []
    for name, sets in VARIANTS.items():
        if args.only and name not in args.only:
            continue
        cfg = apply_overrides(base, [*sets, f"train.device={args.device}"])
        out = Path(args.out) / name
        t0 = time.perf_counter()
        try:
            summary = classify.train(cfg, out, progress=False, log=lambda *a: None)
            m = test_metrics(out, torch.device(args.device))
        except Exception as e:  # one broken variant must not cost the others
            print(json.dumps({"variant": name, "error": f"{type(e).__name__}: {e}"}), flush=True)
            continue
        row = {"variant": name, "overrides": sets, "test_accuracy": m["accuracy"], "best_val": summary["best_metric"],
               "best_step": summary["best_step"], "steps": summary["steps"], "train_s": summary["wall_time_s"],
               "total_s": time.perf_counter() - t0, "clipped_fraction": summary["clipped_fraction"]}
        print(json.dumps(row), flush=True)
        rows.append(row)
    print("| variant | test accuracy % | best validation % | steps | train s |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['variant']} | {100 * r['test_accuracy']:.2f} | {100 * r['best_val']:.2f} | {r['steps']} | "
              f"{r['train_s']:.0f} |")


if __name__ == "__main__":
    main()
