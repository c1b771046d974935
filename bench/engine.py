"""Engine speed: seqlab explicit BPTT vs torch.nn's fused kernel vs a naive autograd loop, same run.

    python -m bench.engine                       # LSTM, GRU, RNN at B64 T100 I128 H256, one layer
    python -m bench.engine --all                 # every config, cell, 1-2 layers, bidirectional
    python -m bench.engine --all --write         # also rewrite the engine table in BENCHMARKS.md

Throughput in tokens/s (B*T per second) and achieved GFLOP/s, counting 2*G*B*H*(I+H) flops per step per
direction forward (G = 4 LSTM, 3 GRU, 1 RNN; 8*B*H*(I+H) for the LSTM) and x3 for forward+backward. The
machine's sgemm peak is measured in the same run so "% of peak" is honest.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import seqlab.engine as E
from bench.common import write_section
from seqlab.engine import functional as Fn

CONFIGS = [(64, 100, 128, 256), (32, 200, 64, 128), (16, 50, 256, 512), (64, 100, 512, 512)]
CELLS = {"lstm": (E.LSTM, torch.nn.LSTM, 4), "gru": (E.GRU, torch.nn.GRU, 3), "rnn": (E.RNN, torch.nn.RNN, 1)}


def sgemm_peak(n: int = 1024, reps: int = 20) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n**3 * reps / (time.perf_counter() - t) / 1e9


class NaiveLoop(torch.nn.Module):
    """The textbook implementation: a Python loop of autograd cells (autograd through time)."""

    def __init__(self, mod: torch.nn.Module):
        super().__init__()
        self.mod = mod

    def forward(self, x):
        m = self.mod
        h = x.new_zeros(x.shape[1], m.hidden_size)
        c = h.clone()
        outs = []
        w = m.weight_ih_l0, m.weight_hh_l0, m.bias_ih_l0, m.bias_hh_l0
        for t in range(x.shape[0]):
            if m.mode == "lstm":
                h, c = Fn.lstm_cell(x[t], h, c, *w)
            elif m.mode == "gru":
                h = Fn.gru_cell(x[t], h, *w)
            else:
                h = Fn.rnn_cell(x[t], h, *w)
            outs.append(h)
        return torch.stack(outs), h


def time_it(fn, reps: int) -> float:
    fn()
    samples = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples)


def measure(cell, B, T, I, H, layers=1, bidir=False, reps=5, naive=True):
    mine_cls, torch_cls, G = CELLS[cell]
    torch.manual_seed(0)
    ref = torch_cls(I, H, num_layers=layers, bidirectional=bidir)
    models = {"explicit": mine_cls(I, H, num_layers=layers, bidirectional=bidir, impl="explicit"), "fused": ref}
    models["explicit"].load_state_dict(ref.state_dict())
    if naive and layers == 1 and not bidir:
        models["naive"] = NaiveLoop(models["explicit"])
    x = torch.randn(T, B, I)
    D = 2 if bidir else 1
    flops_fwd = 2 * G * B * H * (I + H) * T * D + 2 * G * B * H * (H * D + H) * T * D * (layers - 1)
    rows = {}
    for name, m in models.items():
        def fwd(m=m):
            with torch.no_grad():
                m(x)

        def train(m=m):
            out = m(x)[0]
            out.sum().backward()

        tf, tt = time_it(fwd, reps), time_it(train, reps)
        rows[name] = {"fwd_s": tf, "train_s": tt, "fwd_tok_s": B * T / tf, "train_tok_s": B * T / tt,
                      "fwd_gflops": flops_fwd / tf / 1e9, "train_gflops": 3 * flops_fwd / tt / 1e9}
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--all", action="store_true", help="every config/cell/layers/direction")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--write", action="store_true", help="rewrite the engine section of BENCHMARKS.md")
    args = ap.parse_args()
    peak = sgemm_peak()
    jobs = [(c, 64, 100, 128, 256, 1, False) for c in CELLS]
    if args.all:
        jobs = [(c, *cfg, L, bd) for cfg in CONFIGS for c in CELLS for L, bd in ((1, False), (2, False), (1, True))]
    lines = [f"sgemm peak measured in this run: {peak:.1f} GFLOP/s.", "",
             "| cell | B,T,I,H | layers | bidir | explicit fwd+bwd ms | torch.nn fwd+bwd ms | explicit/torch "
             "speed | naive loop fwd+bwd ms | explicit fwd ms | torch.nn fwd ms | explicit train GFLOP/s "
             "(% peak) |", "|" + "---|" * 11]
    for cell, B, T, I, H, L, bd in jobs:
        r = measure(cell, B, T, I, H, L, bd, reps=args.reps)
        ex, fu = r["explicit"], r["fused"]
        nv = f"{r['naive']['train_s'] * 1e3:.1f}" if "naive" in r else "—"
        line = (f"| {cell} | {B},{T},{I},{H} | {L} | {'yes' if bd else 'no'} | {ex['train_s'] * 1e3:.1f} | "
                f"{fu['train_s'] * 1e3:.1f} | {fu['train_s'] / ex['train_s']:.2f}x | {nv} | "
                f"{ex['fwd_s'] * 1e3:.1f} | {fu['fwd_s'] * 1e3:.1f} | "
                f"{ex['train_gflops']:.1f} ({100 * ex['train_gflops'] / peak:.0f}%) |")
        print(line, flush=True)
        lines.append(line)
    table = "\n".join(lines)
    print(table)
    if args.write:
        write_section("engine", table, "python -m bench.engine" + (" --all" if args.all else ""))


if __name__ == "__main__":
    main()
