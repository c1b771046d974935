"""`seqlab train forecast`, `seqlab forecast` and `seqlab evaluate` on a forecast run, as a user runs them (real
subprocesses); the issue's bad inputs give one stderr line naming file:line, exit 2 (missing values are
covered in-process, in test_forecast_series.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

ENV = os.environ | {"PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def command(*args) -> list[str]:
    return [sys.executable, "-m", "seqlab.cli", *map(str, args)]


def run_all(*commands: list[str], timeout: int = 300) -> list[subprocess.CompletedProcess]:
    """Start every command at once (each pays the interpreter start-up; the machine has spare waits)."""
    procs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
             for c in commands]
    out = []
    for c, p in zip(commands, procs, strict=True):
        stdout, stderr = p.communicate(timeout=timeout)
        out.append(subprocess.CompletedProcess(c, p.returncode, stdout, stderr))
    return out


def prices(n: int, seed: int = 0) -> list[str]:
    """Business-day OHLCV rows: a trend, a weekly (5-day) cycle and noise."""
    rng = np.random.default_rng(seed)
    days = np.busday_offset("2020-01-01", np.arange(n), roll="forward")
    t = np.arange(n)
    close = 100 + 0.05 * t + 3 * np.sin(2 * np.pi * t / 5) + rng.normal(0, 0.2, n)
    return [f"{d},{c - 0.5:.3f},{c + 1:.3f},{c - 1:.3f},{c:.3f},{rng.integers(1000, 5000)}"
            for d, c in zip(days, close, strict=True)]


HEADER = "Date,Open,High,Low,Close,Volume"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp("fcli")
    (d / "prices.csv").write_text("\n".join([HEADER, *prices(320)]) + "\n")
    out = d / "run"
    (r,) = run_all(command(
        "train", "forecast", "--data", d / "prices.csv", "--time-col", "Date", "--target", "Close",
        "--features", "Open,High,Low,Close,Volume", "--lookback", 20, "--horizon", 3, "--quantiles", "0.1,0.9",
        "--out", out, "--no-progress", "--set", "model.hidden_size=16", "--set", "train.epochs=6",
        "--set", "train.batch_size=32", "--set", "baseline.arima=1,1,0"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "business-daily (season 5)" in r.stdout and "validation: LSTM MASE" in r.stdout
    assert (out / "model.safetensors").exists() and (out / "model.json").exists()
    return d, out


@pytest.mark.slow
def test_forecast_and_evaluate_commands(trained):
    """(`seqlab predict` on a forecast run is exercised in-process: test_forecast_pipeline.py.)"""
    d, out = trained
    fc, ev = run_all(
        command("forecast", out, "--data", d / "prices.csv", "--plot", d / "out.png"),
        command("evaluate", out, "--json"))
    for r in (fc, ev):
        assert r.returncode == 0, r.stdout + r.stderr
    # seqlab forecast: the future table, the side-by-side backtest, the verdict, the plot
    text = " ".join(fc.stdout.split())  # rich wraps long lines
    assert "next 3 step(s) after 2021-03-23" in text and "2021-03-24" in text
    for word in ("LSTM (seqlab)", "persistence", "seasonal_naive", "ARIMA(1,1,0)", "MASE", "persistence:"):
        assert word in text
    assert ("beats persistence" in text) or ("does NOT beat persistence" in text)
    assert (d / "out.png").stat().st_size > 10_000
    # seqlab evaluate --json: exactly one JSON object with the baselines beside the model
    r = json.loads(ev.stdout)
    assert r["task"] == "forecast" and r["split"] == "test" and r["features"] == ["Open", "High", "Low", "Volume"]
    assert set(r["baselines"]) == {"persistence", "seasonal_naive", "arima"}
    for key in ("mase", "persistence_mase", "seasonal_naive_mase", "arima_mase", "coverage"):
        assert isinstance(r["metrics"][key], float)
    assert isinstance(r["beats_persistence"], bool) and "MASE" in r["verdict"]
    assert 0 <= r["vs_persistence"]["diebold_mariano"]["p_value"] <= 1


BAD = {
    "non_numeric.csv": ([HEADER, *prices(80)[:3], "2020-01-06,1,2,0.5,abc,10", *prices(80)[4:]], 5, "not numeric"),
    "unsorted.csv": ([HEADER, *prices(80)[:2], prices(80)[3], prices(80)[2], *prices(80)[4:]], 5, "backwards"),
    "duplicate.csv": ([HEADER, *prices(80)[:3], prices(80)[2], *prices(80)[3:]], 5, "duplicate time"),
    "short.csv": ([HEADER, *prices(30)], None, "needs at least"),
    "no_column.csv": ([HEADER, *prices(80)], 1, "no column 'Closing'"),
}


@pytest.mark.slow
def test_bad_input_is_one_line_naming_file_and_line(tmp_path):
    cmds = []
    for name, (lines, _, _) in BAD.items():
        (tmp_path / name).write_text("\n".join(lines) + "\n")
        target = "Closing" if name == "no_column.csv" else "Close"
        cmds.append(command("train", "forecast", "--data", tmp_path / name, "--target", target, "--lookback", 30,
                            "--horizon", 5, "--out", tmp_path / f"run_{name}", "--no-progress"))
    for (name, (_, line, words)), r in zip(BAD.items(), run_all(*cmds), strict=True):
        assert r.returncode == 2, (name, r.stdout, r.stderr)
        assert "Traceback" not in r.stderr, name
        assert len(r.stderr.strip().splitlines()) == 1, (name, r.stderr)
        where = f"{tmp_path / name}:{line}:" if line else f"{tmp_path / name}:"
        assert where in r.stderr and words in r.stderr, (name, r.stderr)
