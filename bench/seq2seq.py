"""Seq2seq quality ablation: attention vs none, greedy vs beam, on held-out splits of the Korean chatbot
corpus, Tatoeba Korean->English and a synthetic word-reversal control. Writes bench/results/seq2seq.md.

    OMP_NUM_THREADS=1 python -m bench.seq2seq --data-dir ../shared/data

Each (dataset, attention) pair trains once with the same budget (epochs, batch, learning rate, seed) and is
decoded twice on the same held-out test pairs: greedy (beam 1) and beam search (beam 5, α = 1). The test
split is carved by the task (data.split_seed=0, grouped by source sentence) and never seen in training.
Rows are kept in <runs>/rows.json, so ``--only`` adds to earlier results; ``--skip-train`` re-decodes runs.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import torch

from bench.common import machine
from seqlab.config import apply_overrides
from seqlab.pipelines import seq2seq

RESULTS = Path(__file__).resolve().parent / "results" / "seq2seq.md"
BEAM = 5
MODEL = ["model.cell=lstm", "model.embedding_dim=96", "model.hidden_size=128", "model.num_layers=1",
         "model.bidirectional=true", "model.dropout=0.2", "model.input_feeding=true"]
TRAIN = ["train.batch_size=64", "train.lr=0.003", "train.warmup_steps=50", "train.schedule=linear",
         "train.patience=0", "train.seed=1", "train.num_threads=1", "train.save_every=0", "train.weight_decay=0.0"]
SMALL_MODEL = ["model.cell=lstm", "model.embedding_dim=32", "model.hidden_size=64", "model.dropout=0.2"]
SMALL_TRAIN = ["train.batch_size=32", "train.lr=0.005", "train.warmup_steps=20", "train.patience=0",
               "train.seed=1", "train.num_threads=1", "train.save_every=0"]

# key -> description, attention settings compared, overrides (data + model + train), default epochs
SETUPS = {
    "chatbot": {
        "desc": "chatbot_data_ko (Korean question -> answer)",
        "attentions": ("general", "none"),
        "sets": ["data.name=chatbot_data_ko", "data.tokenizer=morph", "data.vocab_size=8000", "data.min_freq=2",
                 "data.max_src_len=40", "data.max_tgt_len=40", *MODEL, *TRAIN],
        "epochs": 3,
    },
    "koreng": {
        "desc": "tatoeba_kor_eng reversed (Korean -> English)",
        "attentions": ("general", "none"),
        "sets": ["data.name=tatoeba_kor_eng", "data.reverse=true", "data.tokenizer=morph",
                 "data.tgt_tokenizer=bpe", "data.vocab_size=4000", "data.min_freq=2", "data.max_src_len=40",
                 "data.max_tgt_len=40", *MODEL, *TRAIN],
        "epochs": 5,
    },
    "reverse": {
        "desc": "synthetic control: reverse 3-8 Korean words (1,500 pairs)",
        "attentions": ("none", "general", "bahdanau"),
        "sets": ["data.tokenizer=word", "data.min_freq=1", *SMALL_MODEL, *SMALL_TRAIN],
        "epochs": 6,
    },
}


def reversal_file(folder: Path) -> Path:
    """1,500 pairs: 3-8 fruit words -> the same words reversed (seeded, so every run sees the same file)."""
    rng = random.Random(0)
    words = "사과 바나나 포도 딸기 수박 참외 복숭아 자두 귤 레몬 망고 키위".split()
    lines = []
    for _ in range(1500):
        ws = [rng.choice(words) for _ in range(rng.randint(3, 8))]
        lines.append(f"{' '.join(ws)}\t{' '.join(reversed(ws))}\n")
    path = folder / "reverse.tsv"
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(lines), encoding="utf-8")
    return path


def run_setup(key: str, args) -> list[dict]:
    setup, runs = SETUPS[key], Path(args.runs)
    epochs = args.epochs.get(key, setup["epochs"])
    extra = [f"data.name={reversal_file(runs)}"] if key == "reverse" else []
    rows = []
    for att in setup["attentions"]:
        out = runs / f"{key}-{att}"
        cfg = apply_overrides(seq2seq.CONFIG(), setup["sets"] + extra + [f"train.epochs={epochs}",
                                                                          f"model.attention={att}"])
        t0 = time.perf_counter()
        if args.skip_train and (out / "summary.json").exists():
            summary = json.loads((out / "summary.json").read_text())
        else:
            summary = seq2seq.train(cfg, out, data_dir=args.data_dir, progress=False, log=print)
            summary["total_s"] = round(time.perf_counter() - t0, 1)
            (out / "summary.json").write_text(json.dumps(summary))
        print(f"[{key} {att}] {summary['steps']} steps, best val loss {summary['best_metric']:.4f}, "
              f"{summary['total_s']:.0f}s", flush=True)
        for beam in (1, BEAM):
            r = seq2seq.evaluate(out, split="test", data_dir=args.data_dir, beam=beam, length_penalty=1.0)
            m = r["metrics"]
            print(f"[{key} {att} beam {beam}] BLEU {m['bleu']:.2f} chrF {m['chrf']:.2f} ({r['examples']} test "
                  f"pairs, {r['decode']['seconds']:.0f}s)", flush=True)
            rows.append({"key": key, "attention": att, "beam": beam, "epochs": epochs, "steps": summary["steps"],
                         "train_s": summary["total_s"], "val_loss": summary["best_metric"],
                         "examples": r["examples"], "metrics": m, "decode_s": r["decode"]["seconds"],
                         "signatures": r["signatures"], "samples": r["samples"][:3]})
    return rows


def write(rows: list[dict]) -> None:
    lines = ["# Seq2seq: attention vs none, greedy vs beam (held-out BLEU / chrF)", "",
             "Command: `OMP_NUM_THREADS=1 python -m bench.seq2seq --data-dir ../shared/data` (defaults: "
             + ", ".join(f"{k} {s['epochs']} epochs" for k, s in SETUPS.items()) + ").", "",
             f"Machine: 2-core AMD EPYC CPU, shared with other jobs ({machine()}).", "",
             "Held out: the task carves test (10%) and validation (10%) splits from each corpus with "
             "data.split_seed=0, grouping pairs by source sentence (one input never on both sides); BLEU/chrF "
             "are on the test split only; the best checkpoint is chosen by validation loss. Both attention "
             "settings of a dataset get the same epochs, batch size, learning rate and seed.", "",
             "Real corpora: " + ", ".join(MODEL + TRAIN) + ". Synthetic control: " + ", ".join(SMALL_MODEL
                                                                                              + SMALL_TRAIN)
             + ". `general` = Luong multiplicative attention with input feeding, `bahdanau` = additive, `none` = "
             "plain encoder-decoder (final encoder state only).", "",
             "| data | attention | decode | BLEU | chrF | test loss | epochs (steps) | train+prep s | decode s |",
             "| --- | --- | --- | ---: | ---: | ---: | --- | ---: | ---: |"]
    for r in rows:
        m = r["metrics"]
        dec = "greedy" if r["beam"] == 1 else f"beam {r['beam']}, α=1"
        lines.append(f"| {SETUPS[r['key']]['desc']} ({r['examples']} test pairs) | {r['attention']} | {dec} | "
                     f"{m['bleu']:.2f} | {m['chrf']:.2f} | {m['loss']:.3f} | {r['epochs']} ({r['steps']}) | "
                     f"{r['train_s']:.0f} | {r['decode_s']:.0f} |")
    if rows:
        sig = rows[0]["signatures"]
        lines += ["", f"sacrebleu signatures: BLEU `{sig['bleu']}`, chrF `{sig['chrf']}`.", "", "Samples (beam):", ""]
        lines += [f"- {r['key']}/{r['attention']}: {s['source']} → {s['output']} (reference: {s['reference']})"
                  for r in rows if r["beam"] != 1 for s in r["samples"]]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines) + "\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=None, help="offline data folder (default: $SEQLAB_DATA_DIR)")
    p.add_argument("--runs", default="runs/bench_seq2seq", help="where the run directories go")
    p.add_argument("--only", nargs="*", choices=list(SETUPS), help="setups to run (default: all)")
    p.add_argument("--epochs", nargs="*", default=[], help="KEY=EPOCHS overrides, e.g. chatbot=3 koreng=5")
    p.add_argument("--skip-train", action="store_true", help="reuse trained runs in --runs, only decode")
    p.add_argument("--report", action="store_true", help="only rewrite the markdown from <runs>/rows.json")
    args = p.parse_args()
    args.epochs = {k: int(v) for k, v in (item.split("=") for item in args.epochs)}
    torch.set_num_threads(1)
    store = Path(args.runs) / "rows.json"
    rows = json.loads(store.read_text()) if store.exists() else []
    for key in [] if args.report else args.only or list(SETUPS):
        rows = [r for r in rows if r["key"] != key] + run_setup(key, args)
        store.write_text(json.dumps(rows, ensure_ascii=False))
    rows.sort(key=lambda r: (list(SETUPS).index(r["key"]), SETUPS[r["key"]]["attentions"].index(r["attention"]),
                             r["beam"]))
    write(rows)
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
