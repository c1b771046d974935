"""Figures for the diagnostics (matplotlib, Agg backend, written atomically). No computation lives here.

Token labels. matplotlib draws a character only if the font has its glyph; the fonts it ships (DejaVu) have
no Hangul. ``font_for(texts)`` looks for an installed font that covers every character; when there is none,
the heatmap labels its ticks with token indices and the caller writes the token list beside the PNG.
"""

from __future__ import annotations

import math
from functools import cache
from pathlib import Path

import numpy as np

__all__ = ["font_for", "save_figure", "plot_grad_flow", "plot_exploding", "plot_hidden_states",
           "plot_saturation", "plot_long_range"]


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


@cache
def _font_charsets() -> tuple[tuple[str, frozenset[int]], ...]:
    """(family name, code points) of every font matplotlib knows, DejaVu Sans first."""
    from matplotlib import font_manager, ft2font

    out = []
    entries = sorted(font_manager.fontManager.ttflist, key=lambda f: f.name != "DejaVu Sans")
    for f in entries:
        if f.name.startswith("Last Resort"):  # maps every code point to a placeholder box: covers nothing
            continue
        try:
            out.append((f.name, frozenset(ft2font.FT2Font(f.fname).get_charmap())))
        except (OSError, RuntimeError):  # an unreadable font file: skip it
            continue
    return tuple(out)


def font_for(texts: list[str]) -> str | None:
    """A font family whose glyphs cover every character of ``texts``; None if no installed font does."""
    need = {ord(ch) for t in texts for ch in t if not ch.isspace()}
    for name, chars in _font_charsets():
        if need <= chars:
            return name
    return None


def save_figure(fig, path: str | Path, dpi: int = 110) -> Path:
    """Write ``fig`` to ``path`` via a temp file and a rename; close it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    fig.savefig(tmp, dpi=dpi)
    _plt().close(fig)
    tmp.replace(path)
    return path


def _positive(values) -> np.ndarray:
    """Zeros and non-finite values become NaN so a log axis skips them instead of failing."""
    v = np.asarray(values, dtype=float)
    return np.where(np.isfinite(v) & (v > 0), v, np.nan)


def plot_grad_flow(curves: dict[str, list[float]], path: str | Path, title: str, xlabel: str = "step t") -> Path:
    """||dL/dh_t|| against t on a log axis, one line per curve."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    for label, values in curves.items():
        ax.plot(np.arange(len(values)), _positive(values), label=label, linewidth=1.6)
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("‖dL/dh_t‖ (log scale)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    if len(curves) > 1:
        ax.legend()
    fig.tight_layout()
    return save_figure(fig, path)


def plot_exploding(flows: dict[str, list[float]], runs: dict[str, dict], path: str | Path, title: str) -> Path:
    """Three panels: ||dL/dh_t|| at init; gradient norm per logged step; training loss per logged step."""
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for label, values in flows.items():
        axes[0].plot(np.arange(len(values)), _positive(values), label=label)
    axes[0].set(yscale="log", xlabel="step t", ylabel="‖dL/dh_t‖ at init (log)", title="gradient through time")
    for label, run in runs.items():
        axes[1].plot(run["steps"], _positive(run["grad_norm"]), label=label, marker=".")
        axes[2].plot(run["steps"], _positive(run["loss"]), label=label, marker=".")
    axes[1].set(yscale="log", xlabel="optimizer step", ylabel="‖∇θ L‖ before clipping (log)",
                title="parameter gradient norm")
    axes[2].set(yscale="log", xlabel="optimizer step", ylabel="training loss (log)", title="training loss")
    for ax in axes:
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_hidden_states(panels: list[tuple[str, np.ndarray]], gates: list[tuple[str, dict[str, np.ndarray]]],
                       tokens: list[str], path: str | Path, title: str, font: str | None) -> Path:
    """One heatmap per (name, (H, T) states) panel, units down and tokens across; under each, the mean of every
    gate over units per step. ``font`` None: ticks are token indices (the caller lists the tokens)."""
    plt = _plt()
    T = len(tokens)
    rows = len(panels) + len(gates)
    fig, axes = plt.subplots(rows, 1, figsize=(max(7.0, 0.32 * T + 2.5), 2.6 * rows), squeeze=False)
    labels = tokens if font else [str(i) for i in range(T)]
    kw = {"fontfamily": font} if font else {}
    for ax, (name, states) in zip(axes[: len(panels), 0], panels, strict=True):
        im = ax.imshow(states, aspect="auto", cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
        ax.set_ylabel(f"{name}\nunit")
        fig.colorbar(im, ax=ax, fraction=0.025, pad=0.01)
    for ax, (name, means) in zip(axes[len(panels):, 0], gates, strict=True):
        for g, m in means.items():
            ax.plot(np.arange(T), m, marker=".", label=g)
        ax.set_xlim(-0.5, T - 0.5)
        ax.set_ylim(0, 1)
        ax.set_ylabel(f"{name}\nmean gate")
        ax.legend(fontsize=7, ncol=len(means), loc="upper right")
        ax.grid(True, alpha=0.3)
    for ax in axes[:, 0]:
        ax.set_xticks(range(T), labels, rotation=90 if font else 0, fontsize=8 if T < 60 else 5, **kw)
    axes[-1, 0].set_xlabel("token" if font else "token index (tokens listed beside the figure)")
    fig.suptitle(title, fontsize=10, **kw)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_saturation(saturation: dict[str, dict[str, dict[str, float]]], radius: dict, path: str | Path,
                    title: str) -> Path:
    """Bars per layer/direction and gate: share of saturated activations (low and high stacked), with the
    spectral radius of that gate's W_hh block written above."""
    plt = _plt()
    names = [(layer, g) for layer, gates in saturation.items() for g in gates]
    fig, ax = plt.subplots(figsize=(max(5.0, 0.7 * len(names) + 2), 4))
    x = np.arange(len(names))
    low = [saturation[lay][g].get("low", 0.0) for lay, g in names]
    high = [saturation[lay][g].get("high", saturation[lay][g]["saturated"]) for lay, g in names]
    ax.bar(x, low, label="< 0.05", color="#4c72b0")
    ax.bar(x, high, bottom=low, label="> 0.95 (tanh: |a| > 0.95)", color="#dd8452")
    for i, (lay, g) in enumerate(names):
        rho = radius.get(lay, {}).get(g, {}).get("radius")
        if rho is not None:
            ax.text(i, low[i] + high[i] + 0.01, f"ρ={rho:.2f}", ha="center", fontsize=7)
    ax.set_xticks(x, [f"{lay}\n{g}" for lay, g in names], fontsize=8)
    ax.set_ylim(0, 1.08)
    ax.set_ylabel("share of activations saturated")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_long_range(results: list[dict], path: str | Path, title: str) -> Path:
    """One panel per task: the held-out score against T, one line per cell."""
    plt = _plt()
    tasks = list(dict.fromkeys(r["task"] for r in results))
    fig, axes = plt.subplots(1, len(tasks), figsize=(5.5 * len(tasks), 4), squeeze=False)
    for ax, task in zip(axes[0], tasks, strict=True):
        rows = [r for r in results if r["task"] == task]
        key = "mse" if task == "adding" else "accuracy"
        for cell in dict.fromkeys(r["cell"] for r in rows):
            pts = sorted((r["length"], r["test"][key]) for r in rows if r["cell"] == cell)
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=cell)
        if task == "adding":
            ax.axhline(1 / 6, color="grey", linestyle="--", label="predict the mean (1/6)")
            ax.set_yscale("log")
        else:
            chance = rows[0].get("chance")
            if chance is not None and math.isfinite(chance):
                ax.axhline(chance, color="grey", linestyle="--", label="chance")
            ax.set_ylim(0, 1.02)
        ax.set(xlabel="T (sequence length)", ylabel=f"test {key}", title=task)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)
