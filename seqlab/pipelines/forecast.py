"""Forecasting end to end: read a series -> cut it in time -> train -> walk-forward backtest beside the
baselines -> forecast the next K steps.

Same four functions as every pipeline (``build_model``, ``train``, ``evaluate``, ``predict``), plus
``forecast`` (the ``seqlab forecast`` command: future forecast + backtest + plot) and ``format_report``.

    from seqlab.config import apply_overrides
    from seqlab.pipelines import forecast
    cfg = apply_overrides(forecast.CONFIG(), ["data.name=prices.csv", "data.target=Close", "data.horizon=5"])
    forecast.train(cfg, "runs/stock")
    r = forecast.evaluate("runs/stock")  # r["metrics"]["mase"], r["baselines"]["persistence"], r["verdict"]
"""

from __future__ import annotations

import dataclasses
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from seqlab.data.registry import dataset_names, get_spec, load
from seqlab.data.series import (
    Frequency,
    Series,
    SeriesTable,
    find_gaps,
    format_time,
    future_times,
    read_series,
    select,
)
from seqlab.errors import ConfigError, DataError
from seqlab.tasks.forecast import (
    ArimaSpec,
    Forecaster,
    ForecastObjective,
    ForecastRunConfig,
    Scaling,
    Split,
    WindowBatches,
    arima_future,
    arima_walk_forward,
    check_windows,
    chronological_split,
    diebold_mariano,
    first_origin,
    fit_scaling,
    horizon_mase,
    interval_metrics,
    invert_targets,
    mase_scale,
    parse_arima,
    persistence,
    point_metrics,
    seasonal_naive,
    select_arima,
    transform_inputs,
    verdict,
    window_origins,
)
from seqlab.training.checkpoint import load_model
from seqlab.training.trainer import Trainer, strict_json

__all__ = ["CONFIG", "build_model", "load_run", "read_data", "train", "evaluate", "forecast", "predict",
           "format_prediction", "format_report", "format_future", "plot_forecast"]

CONFIG = ForecastRunConfig  # this task's run-config class
BASELINES = ("persistence", "seasonal_naive", "arima")
MASE_DEFINITION = "MAE / mean |y_t - y_(t-1)| over the training part (in-sample one-step naive MAE)"


def build_model(meta: dict) -> Forecaster:
    """Rebuild a run's model from its model.json alone."""
    cfg = ForecastRunConfig.from_dict(meta["config"])
    return Forecaster(len(meta["columns"]), cfg.data.horizon, cfg.model)


def load_run(run_dir: str | Path) -> tuple[Forecaster, dict, ForecastRunConfig]:
    """(model in eval mode, meta, run config) from a run directory."""
    state, meta = load_model(run_dir)
    if meta.get("task") != "forecast":
        raise ConfigError(f"{run_dir} holds a {meta.get('task')!r} run, not a forecast run")
    model = build_model(meta)
    model.load_state_dict(state)
    model.eval()
    return model, meta, ForecastRunConfig.from_dict(meta["config"])


# ---------------------------------------------------------------------------------------------------------
# Data


def _table(name: str, time_col: str | None, sort: bool, data_dir) -> SeriesTable:
    """A file, or a registered forecasting dataset "name" / "name:split" (default: its first split)."""
    if _is_file(name):
        return read_series(Path(name).expanduser(), time_col, sort=sort)
    base, _, split = name.partition(":")
    if base in dataset_names():
        spec = get_spec(base)
        if spec.task != "forecast":
            raise DataError(f"dataset {base!r} is for the {spec.task} task, not a time series; forecasting "
                            f"datasets: {', '.join(_forecast_datasets())}, or pass a CSV file")
        return load(base, split or next(iter(spec.splits)), data_dir=data_dir)
    raise DataError(f"no such file, and no registered dataset {base!r}; pass a CSV/TSV file, or one of "
                    f"{', '.join(_forecast_datasets())} (stock_prices:samsung|sk_hynix|naver)", file=name)


def _is_file(text: str) -> bool:
    try:
        return Path(text).expanduser().is_file()
    except (OSError, ValueError):  # a name too long for the OS, or a NUL byte: not a file
        return False


def _forecast_datasets() -> list[str]:
    return [n for n in dataset_names() if get_spec(n).task == "forecast"]


def read_data(cfg: ForecastRunConfig, data: str | None = None, *, data_dir=None, meta: dict | None = None) -> Series:
    """The run's columns from its dataset, or from ``data`` (another file / dataset with the same columns)."""
    d = cfg.data
    table = _table(data or d.name, d.time_col, d.sort, data_dir)
    if meta is not None:  # a trained run: exactly its columns and season
        target, features = meta["columns"][0], tuple(meta["columns"][1:])
    else:
        target, features = d.target, tuple(f.strip() for f in d.features.split(",") if f.strip())
    series = select(table, target, features, d.fill, season=d.season or None)
    if meta is not None:
        series = dataclasses.replace(series, freq=Frequency(series.freq.name, int(meta["season"])))
    return series


def describe(series: Series) -> list[str]:
    """What was read: rows, range, frequency, gaps, and what the reader did."""
    t, f = series.times, series.freq
    lines = [f"{series.file}: {len(series):,} rows, {format_time(t[0], f)} .. {format_time(t[-1], f)}, "
             f"{f.name} (season {f.season}); target {series.names[0]!r}"
             + (f", features {', '.join(series.names[1:])}" if len(series.names) > 1 else "")]
    gaps = find_gaps(t, f)
    if gaps:
        big = sorted(gaps, key=lambda g: -g[1])[:3]
        shown = ", ".join(f"{g[1]} after {format_time(t[g[0]], f)} (line {series.lines[g[0]]})" for g in big)
        lines.append(f"gaps: {len(gaps)} ({sum(g[1] for g in gaps):,} missing {f.name} steps; largest: {shown}); "
                     "left as they are, not filled")
    return lines + [f"note: {n}" for n in series.notes]


@dataclass(frozen=True)
class _Prepared:
    series: Series
    split: Split
    scaling: Scaling
    inputs: np.ndarray  # (N, F) standardised with the training part's statistics
    scale: float  # MASE denominator from the training part


def _prepare(series: Series, cfg: ForecastRunConfig, scaling: Scaling | None = None) -> _Prepared:
    d = cfg.data
    split = chronological_split(len(series), d.val_fraction, d.test_fraction)
    check_windows(len(series), split, d.lookback, d.horizon, d.transform, series.file)
    scaling = scaling or fit_scaling(series, split, d.lookback, d.horizon, d.transform)
    scale = mase_scale(series.target[:split.n_train])
    if not scale > 0:
        raise DataError(f"the target is constant over the training part (rows 1-{split.n_train}): there is "
                        "nothing to forecast and MASE is undefined; choose another --target", file=series.file)
    return _Prepared(series, split, scaling, transform_inputs(series, scaling), scale)


def _loader(p: _Prepared, cfg: ForecastRunConfig, part: str, *, batch_size: int, shuffle: bool = False,
            stride: int = 1) -> WindowBatches:
    d = cfg.data
    origins = window_origins(p.split, part, d.lookback, d.horizon, d.transform, stride)
    return WindowBatches(p.inputs, p.series.target, origins, d.lookback, d.horizon, p.scaling, batch_size,
                         cfg.train.seed, shuffle)


# ---------------------------------------------------------------------------------------------------------
# Training


def train(cfg: ForecastRunConfig, out: str | Path, *, data_dir: str | Path | None = None, resume: bool = False,
          progress: bool = True, log=print) -> dict:
    """Read, cut in time, fit scaling on the training part, train with early stopping on validation MASE,
    pick the ARIMA baseline's order on the training part; save the best model to ``out``."""
    if cfg.task != "forecast":
        raise ConfigError(f"this pipeline trains task 'forecast', got config for {cfg.task!r}")
    d, tc = cfg.data, cfg.train
    torch.manual_seed(tc.seed)
    t0 = time.perf_counter()
    series = read_data(cfg, data_dir=data_dir)
    for line in describe(series):
        log(line)
    p = _prepare(series, cfg)
    y, m = series.target, series.freq.season
    arima = _choose_arima(cfg.baseline.arima, y[:p.split.n_train], m)
    train_b = _loader(p, cfg, "train", batch_size=tc.batch_size, shuffle=True)
    val_b = _loader(p, cfg, "val", batch_size=512)
    log(f"{len(train_b.origins):,} training / {len(val_b.origins):,} validation windows (lookback {d.lookback}, "
        f"horizon {d.horizon}, transform {d.transform}); test part: last {p.split.n_test:,} rows, held out"
        + (f"; ARIMA baseline {arima.label()}" if arima else ""))
    meta = {"task": "forecast", "config": cfg.to_dict(), "columns": list(series.names), "season": m,
            "freq": series.freq.name, "scaling": p.scaling.to_dict(), "mase_scale": p.scale,
            "arima": arima.to_dict() if arima else None,
            "data": {"name": d.name, "file": series.file, "rows": len(series), "first": format_time(series.times[0]),
                     "last": format_time(series.times[-1]), "split": dataclasses.asdict(p.split)}}
    model = build_model(meta)
    objective = ForecastObjective(p.scaling, p.scale, model.quantiles, cfg.model.loss)
    summary = Trainer(model, objective, tc, run_dir=out, meta=meta, progress=progress).fit(train_b, val_b, resume)
    val_persistence = point_metrics(val_b.truth.numpy(), persistence(y, val_b.origins, d.horizon), p.scale)
    return summary | {"val_persistence_mase": val_persistence["mase"],
                      "prepare_s": round(time.perf_counter() - t0 - summary.get("wall_time_s", 0.0), 1)}


def _choose_arima(text: str, y_train: np.ndarray, season: int) -> ArimaSpec | None:
    spec = parse_arima(text, season)
    return select_arima(y_train, season) if spec == "auto" else spec


# ---------------------------------------------------------------------------------------------------------
# Walk-forward backtest


def _backtest(model: Forecaster, meta: dict, cfg: ForecastRunConfig, series: Series, part: str,
              stride: int | None = None) -> tuple[dict, dict]:
    """(report, curves): every origin of ``part``, the network and each baseline forecasting K steps from
    the actual history; metrics over all (origin, step) pairs with the training part's MASE scale."""
    d = cfg.data
    p = _prepare(series, cfg, Scaling.from_dict(meta["scaling"]))
    stride = stride or cfg.baseline.stride
    loader = _loader(p, cfg, part, batch_size=512, stride=stride)
    origins, y, K, m = loader.origins, series.target, d.horizon, series.freq.season
    objective = ForecastObjective(p.scaling, p.scale, model.quantiles)
    point, q, truth = objective.predict(model, loader)
    curves = {"origins": origins, "truth": truth, "model": point, "quantiles": q,
              "persistence": persistence(y, origins, K), "seasonal_naive": seasonal_naive(y, origins, K, m)}
    arima_info = _arima_backtest(meta, y, p.split, part, origins, K, curves)
    name = cfg.model.cell.upper().replace("_TANH", "").replace("_RELU", "")
    metrics = point_metrics(truth, point, p.scale)
    if q is not None:
        metrics |= interval_metrics(truth, q, model.quantiles)
    baselines = {b: point_metrics(truth, curves[b], p.scale) for b in BASELINES if b in curves}
    baselines["persistence"]["model"] = "y_(t+k) = y_t"
    baselines["seasonal_naive"]["model"] = f"y_(t+k) = y_(t+k-{m}*ceil(k/{m}))"
    baselines["arima"] = baselines.get("arima", {}) | arima_info
    dm = diebold_mariano(truth, point, curves["persistence"])
    beats, text = verdict(name, metrics["mase"], baselines, dm)
    if part == "train":
        text = "IN-SAMPLE (training part, not held out): " + text
    flat = {f"{b}_mase": baselines[b].get("mase") for b in BASELINES}
    start, end = p.split.bounds(part)
    report = {
        "task": "forecast", "split": part, "data": cfg.data.name if series.file == meta["data"]["file"]
        else series.file, "model": name, "target": series.names[0], "features": list(series.names[1:]),
        "lookback": d.lookback, "horizon": K, "season": m, "transform": d.transform, "origins": len(origins),
        "stride": stride, "rows": {"part": [start + 1, end], "of": len(series)},
        "period": [format_time(series.times[origins[0] + 1], series.freq),
                   format_time(series.times[origins[-1] + K], series.freq)],
        "metrics": metrics | flat, "baselines": baselines,
        "by_horizon": {"model": horizon_mase(truth, point, p.scale),
                       **{b: horizon_mase(truth, curves[b], p.scale) for b in BASELINES if b in curves}},
        "mase_scale": {"value": p.scale, "definition": MASE_DEFINITION, "training_rows": p.split.n_train},
        "vs_persistence": {"mase_ratio": metrics["mase"] / baselines["persistence"]["mase"]
                           if baselines["persistence"]["mase"] else None, "diebold_mariano": dm},
        "beats_persistence": beats, "verdict": text, "in_sample": part == "train",
    }
    return strict_json(report), curves


def _arima_backtest(meta, y, split: Split, part: str, origins, K: int, curves: dict) -> dict:
    """Fit the run's ARIMA order on the rows before ``part`` (on the training part itself when part is
    "train") and forecast from every origin; a failure is reported, never fatal."""
    if meta.get("arima") is None:
        return {"model": "off"}
    spec = ArimaSpec.from_dict(meta["arima"])
    fit_end = max(split.bounds(part)[0], split.n_train)
    try:
        curves["arima"], info = arima_walk_forward(y, fit_end, origins, K, spec)
    except Exception as e:  # statsmodels raises many types (LinAlgError, ValueError, ...) on odd data
        return {"model": spec.label(), "error": f"{type(e).__name__}: {e}"}
    return {"model": info["label"], "aic": info["aic"], "fit_rows": info["fit_rows"]}




def evaluate(run_dir: str | Path, data: str | None = None, split: str = "test", *,
             data_dir: str | Path | None = None, text_col: str | None = None, label_col: str | None = None,
             stride: int | None = None) -> dict:
    """Walk-forward metrics of a run on a chronological part ("test", "val"; "train" is flagged in-sample),
    with persistence, seasonal-naive and ARIMA side by side: ``{"task", "split", "metrics", "baselines",
    "verdict", ...}``. ``data`` may name another file with the same columns (default: the run's data)."""
    model, meta, cfg = load_run(run_dir)
    series = read_data(cfg, data, data_dir=data_dir, meta=meta)
    return _backtest(model, meta, cfg, series, split, stride)[0]


# ---------------------------------------------------------------------------------------------------------
# Forecasting the future


def _future(model: Forecaster, meta: dict, cfg: ForecastRunConfig, series: Series, baselines: bool = True) -> dict:
    """The next K steps after the last row: the network (and its interval) and, with ``baselines``,
    persistence, seasonal naive and ARIMA fit on the whole series."""
    d, y, n = cfg.data, series.target, len(series)
    scaling = Scaling.from_dict(meta["scaling"])
    if n - 1 < first_origin(d.lookback, d.transform):
        raise DataError(f"{n} rows, but the model needs the last {first_origin(d.lookback, d.transform) + 1} to "
                        "forecast; pass a longer series", file=series.file)
    x = torch.from_numpy(transform_inputs(series, scaling)[n - d.lookback:])[None]  # (1, L, F)
    with torch.no_grad():
        z = model(x).numpy()  # (1, K, Q)
    last = y[-1:]
    out = {"origin": format_time(series.times[-1], series.freq), "last": float(y[-1]),
           "times": [format_time(t, series.freq) if isinstance(t, np.datetime64) else str(t)
                     for t in future_times(series.times[-1], series.freq, d.horizon)]}
    if model.quantiles:
        q = np.sort(invert_targets(z, last, scaling), axis=-1)[0]  # (K, Q)
        out |= {"model": q[:, model.quantiles.index(0.5)].tolist(), "lower": q[:, 0].tolist(),
                "upper": q[:, -1].tolist(), "interval": [model.quantiles[0], model.quantiles[-1]]}
    else:
        out["model"] = invert_targets(z[..., 0], last, scaling)[0].tolist()
    if not baselines:
        return out
    origin = np.array([n - 1])
    out["persistence"] = persistence(y, origin, d.horizon)[0].tolist()
    out["seasonal_naive"] = seasonal_naive(y, origin, d.horizon, series.freq.season)[0].tolist()
    if meta.get("arima"):
        try:
            out["arima"] = arima_future(y, d.horizon, ArimaSpec.from_dict(meta["arima"])).tolist()
        except Exception as e:  # reported, not fatal (see _arima_backtest)
            out["arima_error"] = f"{type(e).__name__}: {e}"
    return out


def forecast(run_dir: str | Path, data: str | None = None, *, split: str = "test",
             data_dir: str | Path | None = None, plot: str | Path | None = None, stride: int | None = None) -> dict:
    """The ``seqlab forecast`` report: the next K steps after the data's last row (network + baselines) and
    the walk-forward backtest on ``split``; with ``plot``, a PNG of history, forecast, interval, baselines."""
    model, meta, cfg = load_run(run_dir)
    series = read_data(cfg, data, data_dir=data_dir, meta=meta)
    report, curves = _backtest(model, meta, cfg, series, split, stride)
    report["future"] = strict_json(_future(model, meta, cfg, series))
    report["notes"] = describe(series)
    if plot is not None:
        report["plot"] = str(plot_forecast(series, cfg, report, curves, Path(plot)))
    return report


# ---------------------------------------------------------------------------------------------------------
# `seqlab predict RUN INPUT...`: each input is a CSV file with the run's columns, or a list of numbers


def predict(run_dir: str | Path, texts: list[str]) -> list[dict]:
    """One dict per input: the next K values after its last row (and the interval when the run has one)."""
    model, meta, cfg = load_run(run_dir)
    results = []
    for text in texts:
        series = _series_from_text(text, cfg, meta)
        f = _future(model, meta, cfg, series, baselines=False)
        results.append({"input": text, **{k: f[k] for k in ("origin", "last", "times", "model", "lower", "upper")
                                          if k in f}})
    return results


def _series_from_text(text: str, cfg: ForecastRunConfig, meta: dict) -> Series:
    if _is_file(text):
        return read_data(cfg, text, meta=meta)
    try:
        values = np.array([float(v) for v in re.split(r"[,\s]+", text.strip()) if v], dtype=np.float64)
    except ValueError:
        raise DataError(f"{text[:40]!r} is neither a file nor a list of numbers; pass a CSV file with the columns "
                        f"{', '.join(meta['columns'])}, or comma-separated values of {meta['columns'][0]!r}") from None
    if len(meta["columns"]) > 1:
        raise DataError(f"this run reads {len(meta['columns'])} columns ({', '.join(meta['columns'])}); pass a CSV "
                        "file with them instead of a list of numbers")
    n = len(values)
    return Series("<input>", None, tuple(meta["columns"]), np.arange(n, dtype=np.int64), np.arange(1, n + 1),
                  values[:, None], Frequency("steps", int(meta["season"])))


def format_prediction(p: dict) -> str:
    """One line: the K forecasts (with the interval when present), then the input."""
    parts = []
    for i, v in enumerate(p["model"]):
        s = f"{p['times'][i]}={_num(v)}"
        if "lower" in p:
            s += f" [{_num(p['lower'][i])}, {_num(p['upper'][i])}]"
        parts.append(s)
    return "\t".join(parts) + f"\t{p['input'][:60]}"


# ---------------------------------------------------------------------------------------------------------
# Text report and plot


def _num(v) -> str:
    if v is None:
        return "n/a"
    a = abs(v)
    return f"{v:,.0f}" if a >= 10000 else f"{v:,.2f}" if a >= 10 else f"{v:.4g}"


def format_report(r: dict) -> str:
    """The side-by-side table every forecast report prints, then the verdict and the MASE definition."""
    rows = [("method", "MAE", "RMSE", "MAPE%", "sMAPE%", "MASE")]
    entries = [(f"{r['model']} (seqlab)", r["metrics"])] + [
        (f"{b} {r['baselines'][b].get('model', '')}".strip() if b == "arima" else b, r["baselines"][b])
        for b in BASELINES if r["baselines"].get(b, {}).get("mae") is not None]
    for label, m in entries:
        rows.append((label, _num(m["mae"]), _num(m["rmse"]), _num(m["mape"]), _num(m["smape"]),
                     f"{m['mase']:.3f}" if m.get("mase") is not None else "n/a"))
    widths = [max(len(row[i]) for row in rows) for i in range(6)]
    table = "\n".join("  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(row))
                      for row in rows)
    head = (f"walk-forward on the {r['split']} part ({r['period'][0]} .. {r['period'][1]}): {r['origins']:,} "
            f"origins, each forecasting {r['horizon']} step(s) ahead from the actual history; "
            f"target {r['target']!r}")
    lines = [head, table]
    if "coverage" in r["metrics"]:
        m = r["metrics"]
        lines.append(f"interval {100 * m['nominal']:.0f}% nominal: coverage {100 * m['coverage']:.1f}%, "
                     f"mean width {_num(m['width'])}, pinball {_num(m['pinball'])}")
    if r["baselines"].get("arima", {}).get("error"):
        lines.append(f"ARIMA failed: {r['baselines']['arima']['error']}")
    k = r["horizon"]
    if k > 1:
        lines.append("MASE by step ahead: " + "; ".join(
            f"{name} " + " ".join(f"{v:.2f}" for v in vals) for name, vals in r["by_horizon"].items()))
    lines.append(r["verdict"])
    lines.append(f"MASE = {MASE_DEFINITION} = {_num(r['mase_scale']['value'])} "
                 f"({r['mase_scale']['training_rows']:,} training rows)")
    return "\n".join(lines)


def format_future(f: dict) -> str:
    cols = ["model"] + (["lower", "upper"] if "lower" in f else []) + [b for b in BASELINES if b in f]
    rows = [["time", *("seqlab" if c == "model" else c for c in cols)]]
    rows += [[t, *(_num(f[c][i]) for c in cols)] for i, t in enumerate(f["times"])]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    head = f"next {len(f['times'])} step(s) after {f['origin']} (last value {_num(f['last'])})"
    if "interval" in f:
        head += f"; interval = quantiles {f['interval'][0]:g} .. {f['interval'][1]:g}"
    return head + "\n" + "\n".join("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in rows)


_BASELINE_STYLES = (("persistence", ":", "tab:gray"), ("seasonal_naive", "--", "tab:orange"),
                    ("arima", "-.", "tab:green"))


def _future_axis(series: Series, K: int) -> np.ndarray:
    """(K,) x positions of the next K steps: calendar times, else the typical spacing continued."""
    ahead = future_times(series.times[-1], series.freq, K)
    if isinstance(ahead[0], np.datetime64):
        return np.array(ahead, dtype="datetime64[s]")
    step = int(np.median(np.diff(series.times).astype(np.int64))) if len(series) > 1 else 1
    spacing = np.timedelta64(step, "s") if series.times.dtype.kind == "M" else step
    return series.times[-1] + spacing * np.arange(1, K + 1)


def _axis_times(series: Series, idx: np.ndarray):
    return series.times[idx] if series.times.dtype.kind == "M" else idx


def plot_forecast(series: Series, cfg: ForecastRunConfig, report: dict, curves: dict, path: Path) -> Path:
    """Top: recent history, the next K steps (network, interval, baselines). Bottom: the backtest's K-step-
    ahead forecasts against the actual values. Written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    f, K, n, y = report["future"], cfg.data.horizon, len(series), series.target
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 8))
    recent = np.arange(max(0, n - max(4 * cfg.data.lookback, 12 * K)), n)
    top.plot(_axis_times(series, recent), y[recent], color="black", lw=1, label="history")
    fx = _future_axis(series, K)
    link = lambda v: np.concatenate([[y[-1]], v])  # noqa: E731 (joins each forecast to the last value)
    fx1 = np.concatenate([[_axis_times(series, np.array([n - 1]))[0]], fx])
    if "lower" in f:
        top.fill_between(fx1, link(f["lower"]), link(f["upper"]), color="tab:blue", alpha=0.2,
                         label=f"interval {f['interval'][0]:g}-{f['interval'][1]:g}")
    top.plot(fx1, link(f["model"]), color="tab:blue", marker="o", ms=3, label=f"{report['model']} (seqlab)")
    for b, style, color in _BASELINE_STYLES:
        if b in f:
            top.plot(fx1, link(f[b]), ls=style, color=color, lw=1.2, label=b)
    top.set_title(f"{series.names[0]}: next {K} step(s) after {f['origin']}")
    top.legend(fontsize=8, loc="upper left")
    o = curves["origins"]
    at = _axis_times(series, o + K)
    bottom.plot(_axis_times(series, np.arange(o[0] + 1, o[-1] + K + 1)), y[o[0] + 1:o[-1] + K + 1], color="black",
                lw=1, label="actual")
    if curves["quantiles"] is not None:
        bottom.fill_between(at, curves["quantiles"][:, -1, 0], curves["quantiles"][:, -1, -1], color="tab:blue",
                            alpha=0.2, label="interval")
    bottom.plot(at, curves["model"][:, -1], color="tab:blue", lw=1, label=f"{report['model']} (seqlab)")
    for b, style, color in _BASELINE_STYLES:
        if b in curves:
            bottom.plot(at, curves[b][:, -1], ls=style, color=color, lw=1, label=b)
    mase = {"seqlab": report["metrics"]["mase"], **{b: report["metrics"].get(f"{b}_mase") for b in BASELINES}}
    bottom.set_title(f"walk-forward {report['split']} part, {K}-step-ahead forecasts; MASE " + ", ".join(
        f"{k} {v:.3f}" for k, v in mase.items() if v is not None), fontsize=9)
    bottom.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(path)
    return path

