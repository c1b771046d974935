"""Engine speed: seqlab explicit BPTT vs torch.nn's fused kernel vs a naive autograd loop, same run.

    python -m bench.engine                       # LSTM, GRU, RNN at B64 T100 I128 H256, one layer
    python -m bench.engine --all                 # every config, cell, 1-2 layers, bidirectional
    python -m bench.engine --all --threads 1     # pin torch's intra-op threads
    python -m bench.engine --all --device cuda   # against cuDNN (float32, TF32 off on both sides)
    python -m bench.engine --all --write         # also rewrite the engine table in BENCHMARKS.md

Measured, all in one process on the same weights and input:
  explicit      seqlab ``impl="explicit"`` with its default time loops (the C++ loops on CPU, the Triton
                LSTM loops on CUDA; the Python loops where those do not run)
  python loops  the same with ``SEQLAB_LOOPS=python`` (the plain-torch twins)
  torch.nn      torch.nn.RNN/LSTM/GRU (oneDNN/ATen on CPU, cuDNN on CUDA)
  naive         a Python loop of autograd cells (1 layer, one direction only)

Throughput in tokens/s (B*T per second) and achieved GFLOP/s, counting 2*G*B*H*(I+H) flops per step per
direction forward (G = 4 LSTM, 3 GRU, 1 RNN; 8*B*H*(I+H) for the LSTM) and x3 for forward+backward. The
machine's sgemm peak (same device, same threads) is measured in the same run so "% of peak" is honest.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

import seqlab.engine as E
from bench.common import machine, write_section
from seqlab.engine import functional as Fn

CONFIGS = [(64, 100, 128, 256), (32, 200, 64, 128), (16, 50, 256, 512), (64, 100, 512, 512)]
CELLS = {"lstm": (E.LSTM, torch.nn.LSTM, 4), "gru": (E.GRU, torch.nn.GRU, 3), "rnn": (E.RNN, torch.nn.RNN, 1)}


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def sgemm_peak(device: str) -> float:
    """The best of 5 timed bursts of square float32 GEMMs: the machine's practical matmul ceiling."""
    n, reps = (8192, 10) if device == "cuda" else (2048, 5)
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    for _ in range(3):
        a @ b
    best = 0.0
    for _ in range(5):
        sync(device)
        t = time.perf_counter()
        for _ in range(reps):
            a @ b
        sync(device)
        best = max(best, 2 * n**3 * reps / (time.perf_counter() - t) / 1e9)
    return best


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


def time_it(fn, reps: int, device: str) -> float:
    fn()
    sync(device)
    samples = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        sync(device)
        samples.append(time.perf_counter() - t)
    return statistics.median(samples)


def _with_loops(mode: str | None, fn):
    """Run ``fn`` with SEQLAB_LOOPS set to ``mode`` (None: the default)."""
    def run():
        old = os.environ.get("SEQLAB_LOOPS")
        if mode is not None:
            os.environ["SEQLAB_LOOPS"] = mode
        try:
            return fn()
        finally:
            if old is None:
                os.environ.pop("SEQLAB_LOOPS", None)
            else:
                os.environ["SEQLAB_LOOPS"] = old
    return run


def flops_forward(cell: str, B, T, I, H, layers=1, bidir=False) -> float:
    G = CELLS[cell][2]
    D = 2 if bidir else 1
    return 2 * G * B * H * (I + H) * T * D + 2 * G * B * H * (H * D + H) * T * D * (layers - 1)


def measure(cell, B, T, I, H, layers=1, bidir=False, reps=5, naive=True, device="cpu"):
    mine_cls, torch_cls, _ = CELLS[cell]
    torch.manual_seed(0)
    ref = torch_cls(I, H, num_layers=layers, bidirectional=bidir).to(device)
    mine = mine_cls(I, H, num_layers=layers, bidirectional=bidir, impl="explicit").to(device)
    mine.load_state_dict(ref.state_dict())
    runs = {"explicit": (mine, None), "python": (mine, "python"), "fused": (ref, None)}
    if naive and layers == 1 and not bidir:
        runs["naive"] = (NaiveLoop(mine), None)
    x = torch.randn(T, B, I, device=device)
    flops = flops_forward(cell, B, T, I, H, layers, bidir)
    rows = {}
    for name, (m, loops) in runs.items():
        def fwd(m=m):
            with torch.no_grad():
                m(x)

        def train(m=m):
            out = m(x)[0]
            out.sum().backward()

        tf = time_it(_with_loops(loops, fwd), reps, device)
        tt = time_it(_with_loops(loops, train), reps, device)
        rows[name] = {"fwd_s": tf, "train_s": tt, "fwd_tok_s": B * T / tf, "train_tok_s": B * T / tt,
                      "fwd_gflops": flops / tf / 1e9, "train_gflops": 3 * flops / tt / 1e9}
    return rows


HEADER = ("| cell | B,T,I,H | layers | bidir | explicit fwd+bwd ms | python-loops fwd+bwd ms | torch.nn fwd+bwd ms | "
          "**explicit/torch.nn fwd+bwd** | naive fwd+bwd ms | explicit fwd ms | torch.nn fwd ms | explicit/torch.nn "
          "fwd | explicit train tok/s | explicit train GFLOP/s (% peak) |")


def row(cell, B, T, I, H, L, bd, r, peak) -> str:
    ex, py, fu = r["explicit"], r["python"], r["fused"]
    nv = f"{r['naive']['train_s'] * 1e3:.1f}" if "naive" in r else "—"
    return (f"| {cell} | {B},{T},{I},{H} | {L} | {'yes' if bd else 'no'} | {ex['train_s'] * 1e3:.1f} | "
            f"{py['train_s'] * 1e3:.1f} | {fu['train_s'] * 1e3:.1f} | **{fu['train_s'] / ex['train_s']:.2f}x** | "
            f"{nv} | {ex['fwd_s'] * 1e3:.1f} | {fu['fwd_s'] * 1e3:.1f} | {fu['fwd_s'] / ex['fwd_s']:.2f}x | "
            f"{ex['train_tok_s']:,.0f} | {ex['train_gflops']:.1f} ({100 * ex['train_gflops'] / peak:.0f}%) |")


def describe(device: str) -> str:
    if device == "cuda":
        p = torch.cuda.get_device_properties(0)
        return (f"{p.name} ({p.multi_processor_count} SMs), torch {torch.__version__}, float32 with TF32 off for "
                f"both cuBLAS and cuDNN")
    return machine()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--all", action="store_true", help="every config/cell/layers/direction")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--write", action="store_true", help="rewrite the engine section of BENCHMARKS.md")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "cuda":  # like for like: plain float32 on both sides
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    peak = sgemm_peak(args.device)
    jobs = [(c, 64, 100, 128, 256, 1, False) for c in CELLS]
    if args.all:
        jobs = [(c, *cfg, L, bd) for cfg in CONFIGS for c in CELLS for L, bd in ((1, False), (2, False), (1, True))]
    lines = [f"Device: {describe(args.device)}. sgemm peak measured in this run: {peak:,.1f} GFLOP/s.", "",
             HEADER, "|" + "---|" * 14]
    print("\n".join(lines), flush=True)
    for cell, B, T, I, H, L, bd in jobs:
        r = measure(cell, B, T, I, H, L, bd, reps=args.reps, device=args.device)
        line = row(cell, B, T, I, H, L, bd, r, peak)
        print(line, flush=True)
        lines.append(line)
    table = "\n".join(lines)
    if args.write:
        cmd = "python -m bench.engine" + (" --all" if args.all else "") + (
            f" --threads {args.threads}" if args.threads else "") + (
            " --device cuda" if args.device == "cuda" else "")
        write_section(f"engine-{args.device}{'-t' + str(args.threads) if args.threads else ''}", table, cmd)


if __name__ == "__main__":
    main()
