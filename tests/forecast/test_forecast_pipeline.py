"""The forecast pipeline in-process: it learns a seasonal signal, reports baselines side by side, and a
checkpoint rebuilds everything (scaling, columns, ARIMA order) from model.json alone."""

from __future__ import annotations

import json

import numpy as np
import pytest

from seqlab.config import apply_overrides
from seqlab.errors import DataError
from seqlab.pipelines import forecast
from seqlab.tasks.forecast import persistence, point_metrics, seasonal_naive, window_origins


def seasonal_csv(path, n=260, seed=0):
    """Monthly series: trend + a strong 12-month cycle + a little noise; a second column carries noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    y = 50 + 0.1 * t + 8 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 0.3, n)
    months = np.datetime64("2000-01") + t
    rows = [f"{m},{v:.4f},{rng.normal():.4f}" for m, v in zip(months, y, strict=True)]
    path.write_text("month,sales,noise\n" + "\n".join(rows) + "\n")
    return path, y


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    d = tmp_path_factory.mktemp("fc")
    path, y = seasonal_csv(d / "sales.csv")
    cfg = apply_overrides(forecast.CONFIG(), [
        f"data.name={path}", "data.time_col=month", "data.target=sales", "data.lookback=24", "data.horizon=3",
        "model.hidden_size=24", "model.quantiles=0.1,0.9", "train.epochs=12", "train.batch_size=32",
        "train.lr=0.01", "train.seed=1", "train.patience=0", "baseline.arima=2,1,0"])
    logs = []
    summary = forecast.train(cfg, d / "run", progress=False, log=logs.append)
    return d, path, y, summary, logs


def test_train_logs_data_and_compares_with_persistence_on_validation(run):
    d, path, y, summary, logs = run
    assert "260 rows, 2000-01 .. 2021-08, monthly (season 12)" in logs[0]
    assert "training / " in logs[1] and "ARIMA baseline ARIMA(2,1,0)" in logs[1]
    assert summary["best_metric"] < summary["val_persistence_mase"]
    meta = json.loads((d / "run" / "model.json").read_text())["meta"]
    assert meta["task"] == "forecast" and meta["columns"] == ["sales"] and meta["season"] == 12
    assert meta["arima"] == {"order": [2, 1, 0], "seasonal_order": [0, 0, 0, 0], "trend": "n"}


def test_evaluate_beats_naive_baselines_and_recomputes_them(run):
    d, path, y, summary, _ = run
    r = forecast.evaluate(d / "run")
    assert json.loads(json.dumps(r, allow_nan=False)) == r  # strict JSON
    assert r["task"] == "forecast" and r["split"] == "test" and r["origins"] == 39 - 3 + 1
    # the baselines, recomputed here from the raw series on the same origins
    n_train, n_test = 260 - 39 - 39, 39
    origins = np.arange(260 - n_test - 1, 260 - 3)
    truth = y[origins[:, None] + np.arange(1, 4)]
    scale = np.mean(np.abs(np.diff(y[:n_train])))
    p = point_metrics(truth, persistence(y, origins, 3), scale)
    s = point_metrics(truth, seasonal_naive(y, origins, 3, 12), scale)
    assert r["baselines"]["persistence"]["mase"] == pytest.approx(p["mase"], rel=1e-3)
    assert r["baselines"]["seasonal_naive"]["mase"] == pytest.approx(s["mase"], rel=1e-3)
    assert r["mase_scale"]["value"] == pytest.approx(scale, rel=1e-3)
    assert r["metrics"]["mase"] < r["metrics"]["persistence_mase"] and r["beats_persistence"]
    assert "beats persistence" in r["verdict"] and r["vs_persistence"]["diebold_mariano"]["p_value"] < 0.05
    assert 0.4 < r["metrics"]["coverage"] <= 1.0 and r["metrics"]["nominal"] == pytest.approx(0.8)
    assert r["baselines"]["arima"]["mase"] is not None
    assert len(r["by_horizon"]["model"]) == 3
    report = forecast.format_report(r)
    for word in ("persistence", "seasonal_naive", "ARIMA", "MASE", "training part"):
        assert word in report


def test_in_sample_evaluation_is_flagged(run):
    d, *_ = run
    r = forecast.evaluate(d / "run", split="train", stride=10)
    assert r["in_sample"] and r["verdict"].startswith("IN-SAMPLE")


def test_future_forecast_plot_and_predict(run):
    d, path, y, *_ = run
    r = forecast.forecast(d / "run", plot=d / "f.png")
    f = r["future"]
    assert f["times"] == ["2021-09", "2021-10", "2021-11"] and f["origin"] == "2021-08"
    assert all(lo <= m <= hi for lo, m, hi in zip(f["lower"], f["model"], f["upper"], strict=True))
    assert f["persistence"] == [pytest.approx(y[-1], abs=1e-3)] * 3 and len(f["arima"]) == 3
    assert (d / "f.png").stat().st_size > 10_000
    # predict: the same history as numbers gives the same forecast as the file
    p = forecast.predict(d / "run", [",".join(f"{v:.4f}" for v in y), str(path)])
    np.testing.assert_allclose(p[0]["model"], p[1]["model"], rtol=1e-5)
    np.testing.assert_allclose(p[1]["model"], f["model"], rtol=1e-6)
    assert p[0]["times"] == ["260", "261", "262"] and "[" in forecast.format_prediction(p[0])
    with pytest.raises(DataError, match="neither a file nor a list of numbers"):
        forecast.predict(d / "run", ["twelve"])


def test_evaluate_on_another_file_with_the_same_columns(run, tmp_path):
    d, *_ = run
    other, _ = seasonal_csv(tmp_path / "later.csv", n=200, seed=5)
    r = forecast.evaluate(d / "run", data=str(other))
    assert r["data"] == str(other) and r["origins"] == 30 - 3 + 1


def test_windows_of_a_run_never_use_rows_after_their_part(run):
    d, *_ = run
    _, meta, cfg = forecast.load_run(d / "run")
    n = meta["data"]["rows"]
    from seqlab.tasks.forecast import chronological_split

    sp = chronological_split(n, cfg.data.val_fraction, cfg.data.test_fraction)
    train = window_origins(sp, "train", 24, 3, "diff")
    assert train.max() + 3 < sp.n_train  # inputs and targets of every training window
    assert meta["data"]["split"] == {"n_train": sp.n_train, "n_val": sp.n_val, "n_test": sp.n_test}
