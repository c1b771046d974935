"""Many-to-many forecasting: the last L steps of F columns in, the next K values of the target out, at once.

Shapes: B batch, L lookback, F input columns (column 0 is the target), K horizon (steps ahead), Q quantiles
(1 for a point forecast), N forecast origins, H hidden size.

    window (B, L, F) -> engine (B, L, H) -> last step (B, H) -> linear (B, K*Q) -> (B, K, Q)

An origin t is the last observed step: the window holds rows t-L+1..t, the targets are y_{t+1}..y_{t+K}
(direct multi-step: one output per step ahead, no feeding forecasts back in).

What the network sees and predicts (``transform``), column by column, with u the input and c_k the target:

    level       u_t = v_t                          c_k = y_{t+k}                ŷ_{t+k} = c_k
    diff        u_t = v_t - v_{t-1}                c_k = y_{t+k} - y_t          ŷ_{t+k} = y_t + c_k
    log_return  u_t = log v_t - log v_{t-1}        c_k = log y_{t+k} - log y_t  ŷ_{t+k} = y_t · exp(c_k)
                (the target must be > 0; other columns use log(1 + v), so zero volumes are fine, or plain
                differences when the training part holds negative values)

then standardised: inputs per column, targets per step ahead k, with means and deviations computed on the
training part only (rows before the validation part; target statistics over training windows only).

The series is cut chronologically: train | validation | test. A window belongs to the part that holds all
of its targets; its inputs may reach back into earlier parts (that is the past, not a leak).

Metrics over all (origin, step) pairs, e = y - ŷ:  MAE = mean|e|, RMSE = sqrt(mean e²),
MAPE = 100·mean|e/y|, sMAPE = 100·mean 2|e|/(|y|+|ŷ|), MASE = MAE / s with s = mean|y_t - y_{t-1}| over the
training part (the in-sample one-step naive error, Hyndman & Koehler 2006), the same s for every method.

Baselines every report shows beside the network: persistence ŷ_{t+k} = y_t; seasonal naive
ŷ_{t+k} = y_{t+k-m·⌈k/m⌉}; ARIMA (statsmodels), parameters fit once on the data before the evaluated part,
then run forward over the actual values (walk-forward, no refit) exactly like the network.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

from seqlab.config import TrainConfig, from_dict
from seqlab.engine import build_rnn
from seqlab.errors import ConfigError, DataError

__all__ = [
    "TRANSFORMS", "LOSSES", "ForecastDataConfig", "ForecastModelConfig", "ForecastTrainConfig", "BaselineConfig",
    "ForecastRunConfig", "check_config", "parse_quantiles", "Split", "chronological_split", "first_origin",
    "window_origins", "check_windows",
    "Scaling", "fit_scaling", "transform_inputs", "transform_targets", "invert_targets", "WindowBatch",
    "WindowBatches", "Forecaster", "pinball_loss", "ForecastObjective", "mase_scale", "point_metrics",
    "horizon_mase", "interval_metrics", "persistence", "seasonal_naive", "ArimaSpec", "parse_arima",
    "seasonal_strength", "select_arima", "fit_arima", "arima_walk_forward", "arima_future", "diebold_mariano",
    "verdict",
]

TRANSFORMS = ("level", "diff", "log_return")
LOSSES = ("mse", "mae")


# ---------------------------------------------------------------------------------------------------------
# Configuration


@dataclass(frozen=True)
class ForecastDataConfig:
    name: str = "stock_prices:samsung"  # a CSV/TSV file, or a registered dataset: "name" or "name:split"
    time_col: str | None = "Date"  # files: the time column (none: rows are equally spaced steps)
    target: str | None = None  # column to forecast (None: the registered dataset's default, e.g. Close)
    features: str = ""  # extra input columns, comma-separated (the target is always input column 0)
    fill: str = "error"  # missing values: error (name the row) | ffill (carry last value) | drop (the rows)
    sort: bool = False  # sort rows by time instead of refusing a file whose times go backwards
    lookback: int = 60  # L: past steps in each input window
    horizon: int = 5  # K: steps ahead, all forecast at once
    transform: str = "diff"  # level | diff | log_return: what the network sees and predicts (module doc)
    val_fraction: float = 0.15  # share of rows, after the training part, for early stopping
    test_fraction: float = 0.15  # last share of rows, held out for the walk-forward evaluation
    season: int = 0  # seasonal period m for seasonal-naive and ARIMA (0: the dataset's, else from the times)


@dataclass(frozen=True)
class ForecastModelConfig:
    cell: str = "lstm"  # rnn_tanh | rnn_relu | lstm | gru
    hidden_size: int = 64  # H
    num_layers: int = 1  # stacked recurrent layers
    dropout: float = 0.1  # between stacked layers and before the output layer
    impl: str = "auto"  # auto | explicit | fused: which engine path runs the recurrence
    quantiles: str = ""  # e.g. "0.1,0.5,0.9": pinball-loss quantile outputs; the median is the point forecast
    loss: str = "mse"  # point loss without quantiles: mse | mae (on the standardised targets)


@dataclass(frozen=True)
class ForecastTrainConfig(TrainConfig):
    """TrainConfig with forecasting defaults (small data: more epochs, early stopping on validation MASE)."""

    epochs: int = 40  # passes over the training windows
    batch_size: int = 64  # windows per step
    lr: float = 2e-3  # peak AdamW learning rate
    weight_decay: float = 1e-4  # AdamW decoupled weight decay on matrices
    warmup_steps: int = 20  # linear warm-up
    schedule: str = "cosine"  # decay after warm-up
    patience: int = 6  # validations (epochs) without a better validation MASE before stopping


@dataclass(frozen=True)
class BaselineConfig:
    arima: str = "auto"  # auto (small AIC search on the training part) | off | "p,d,q" | "p,d,q,P,D,Q"
    stride: int = 1  # walk-forward evaluation: a forecast origin every this many steps


@dataclass(frozen=True)
class ForecastRunConfig:
    task: str = "forecast"  # which task head and pipeline
    data: ForecastDataConfig = field(default_factory=ForecastDataConfig)
    model: ForecastModelConfig = field(default_factory=ForecastModelConfig)
    train: ForecastTrainConfig = field(default_factory=ForecastTrainConfig)
    baseline: BaselineConfig = field(default_factory=BaselineConfig)

    def __post_init__(self):
        check_config(self)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ForecastRunConfig:
        return from_dict(cls, d)


def check_config(cfg: ForecastRunConfig) -> None:
    """Ranges the dataclasses cannot express; each error names the --set key to change."""
    d, m = cfg.data, cfg.model
    if d.transform not in TRANSFORMS:
        raise ConfigError(f"data.transform must be one of {', '.join(TRANSFORMS)}, got {d.transform!r}")
    if d.fill not in ("error", "ffill", "drop"):
        raise ConfigError(f"data.fill must be error, ffill or drop, got {d.fill!r}")
    if d.lookback < 1 or d.horizon < 1:
        raise ConfigError(f"data.lookback and data.horizon must be >= 1, got {d.lookback} and {d.horizon}")
    if not (0 < d.val_fraction < 1 and 0 < d.test_fraction < 1 and d.val_fraction + d.test_fraction < 0.9):
        raise ConfigError(f"data.val_fraction and data.test_fraction must be in (0, 1) with a sum below 0.9, "
                          f"got {d.val_fraction} and {d.test_fraction}")
    if d.season < 0 or cfg.baseline.stride < 1:
        raise ConfigError(f"data.season must be >= 0 and baseline.stride >= 1, got {d.season}, "
                          f"{cfg.baseline.stride}")
    if m.loss not in LOSSES:
        raise ConfigError(f"model.loss must be one of {', '.join(LOSSES)}, got {m.loss!r}")
    parse_quantiles(m.quantiles)
    parse_arima(cfg.baseline.arima, 1)


def parse_quantiles(text: str) -> tuple[float, ...]:
    """"0.1,0.9" -> (0.1, 0.5, 0.9): sorted, unique, in (0, 1), the median always included; "" -> ()."""
    if not text.strip():
        return ()
    try:
        qs = {float(x) for x in text.replace(" ", "").split(",") if x}
    except ValueError:
        raise ConfigError(f"model.quantiles must be numbers like 0.1,0.5,0.9, got {text!r}") from None
    if not all(0 < q < 1 for q in qs):
        raise ConfigError(f"model.quantiles must lie strictly between 0 and 1, got {text!r}")
    return tuple(sorted(qs | {0.5}))


# ---------------------------------------------------------------------------------------------------------
# Chronological split and windows


@dataclass(frozen=True)
class Split:
    n_train: int  # rows [0, n_train)
    n_val: int  # rows [n_train, n_train + n_val)
    n_test: int  # the last n_test rows

    def bounds(self, part: str) -> tuple[int, int]:
        """[start, end) rows of "train", "val" or "test"."""
        edges = {"train": (0, self.n_train), "val": (self.n_train, self.n_train + self.n_val),
                 "test": (self.n_train + self.n_val, self.n_train + self.n_val + self.n_test)}
        if part not in edges:
            raise ConfigError(f"split must be train, val or test (the chronological parts), got {part!r}")
        return edges[part]


def chronological_split(n: int, val_fraction: float, test_fraction: float) -> Split:
    n_test, n_val = round(n * test_fraction), round(n * val_fraction)
    return Split(n - n_val - n_test, n_val, n_test)


def first_origin(lookback: int, transform: str) -> int:
    """Earliest origin with a full window: differenced inputs need one row more."""
    return lookback - 1 + (transform != "level")


def window_origins(split: Split, part: str, lookback: int, horizon: int, transform: str,
                   stride: int = 1) -> np.ndarray:
    """(N,) origins t whose targets t+1..t+K all lie in ``part`` (and whose window fits in the series)."""
    start, end = split.bounds(part)
    lo = max(first_origin(lookback, transform), start - 1)
    return np.arange(lo, end - horizon, stride, dtype=np.int64)


def check_windows(n: int, split: Split, lookback: int, horizon: int, transform: str, file: str) -> None:
    """One-line errors when the series is too short for the windows or a part has none."""
    need = first_origin(lookback, transform) + 1 + horizon
    if n < need:
        raise DataError(f"{n} rows, but lookback {lookback} + horizon {horizon}"
                        f"{' + 1 (differencing)' if transform != 'level' else ''} needs at least {need}; "
                        "lower --lookback / --horizon or use a longer series", file=file)
    for part, label in (("train", "training"), ("val", "validation"), ("test", "test")):
        if len(window_origins(split, part, lookback, horizon, transform)) == 0:
            start, end = split.bounds(part)
            raise DataError(f"the {label} part (rows {start + 1}-{end} of {n}) holds no window of lookback "
                            f"{lookback} + horizon {horizon}; lower --lookback / --horizon, change "
                            "data.val_fraction / data.test_fraction, or use a longer series", file=file)


# ---------------------------------------------------------------------------------------------------------
# Transforms and standardisation, fit on the training part only


@dataclass(frozen=True)
class Scaling:
    transform: str  # level | diff | log_return
    kinds: tuple[str, ...]  # (F,) per input column: level | diff | log_diff | log1p_diff
    in_mean: tuple[float, ...]  # (F,) of the transformed inputs over the training rows
    in_std: tuple[float, ...]  # (F,)
    out_mean: tuple[float, ...]  # (K,) of the transformed targets over the training windows
    out_std: tuple[float, ...]  # (K,)

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.__dict__.items()}

    @classmethod
    def from_dict(cls, d: dict) -> Scaling:
        return cls(d["transform"], *(tuple(d[k]) for k in ("kinds", "in_mean", "in_std", "out_mean", "out_std")))


def _raw_inputs(values: np.ndarray, kinds: tuple[str, ...]) -> np.ndarray:
    """(N, F) u_t before standardisation; row 0 of a differenced column is NaN."""
    u = np.empty_like(values, dtype=np.float64)
    for j, kind in enumerate(kinds):
        v = {"log_diff": np.log, "log1p_diff": np.log1p}.get(kind, np.asarray)(values[:, j])
        u[:, j] = v if kind == "level" else np.concatenate([[np.nan], np.diff(v)])
    return u


def _raw_targets(y: np.ndarray, origins: np.ndarray, horizon: int, transform: str) -> np.ndarray:
    """(N, K) c_k for each origin, before standardisation."""
    ahead = y[origins[:, None] + np.arange(1, horizon + 1)]  # (N, K)
    if transform == "level":
        return ahead
    if transform == "diff":
        return ahead - y[origins, None]
    return np.log(ahead) - np.log(y[origins, None])


def _std(x: np.ndarray, axis: int = 0) -> np.ndarray:
    s = x.std(axis=axis)
    return np.where(s > 1e-12, s, 1.0)  # a constant column: centre it, do not blow it up


def _check_positive(series, column: int, why: str, allow_zero: bool = False) -> None:
    v = series.values[:, column]
    bad = np.flatnonzero(v < 0 if allow_zero else v <= 0)
    if len(bad):
        i = bad[0]
        raise DataError(f"column {series.names[column]!r} is {v[i]:g} here, but {why} needs values "
                        f"{'>= 0' if allow_zero else '> 0'}; pass --transform diff (or level)", file=series.file,
                        line=int(series.lines[i]))


def fit_scaling(series, split: Split, lookback: int, horizon: int, transform: str) -> Scaling:
    """Transform kinds and standardisation statistics from the training part (rows < n_train) only."""
    values, n_train = series.values, split.n_train
    if transform == "log_return":
        _check_positive(series, 0, "--transform log_return on the target")
        kinds = ("log_diff",) + tuple("log1p_diff" if (values[:n_train, j] >= 0).all() else "diff"
                                      for j in range(1, values.shape[1]))
    else:
        kinds = ("level" if transform == "level" else "diff",) * values.shape[1]
    u = _raw_inputs(values[:n_train], kinds)[int(transform != "level"):]  # training rows only
    origins = window_origins(split, "train", lookback, horizon, transform)
    c = _raw_targets(values[:n_train, 0], origins, horizon, transform)  # every target index < n_train
    return Scaling(transform, kinds, tuple(u.mean(0)), tuple(_std(u)), tuple(c.mean(0)), tuple(_std(c)))


def transform_inputs(series, scaling: Scaling) -> np.ndarray:
    """(N, F) float32 standardised inputs for the whole series (row 0 of differenced columns: 0)."""
    for j, kind in enumerate(scaling.kinds):
        if kind in ("log_diff", "log1p_diff"):
            _check_positive(series, j, "--transform log_return", allow_zero=kind == "log1p_diff")
    u = _raw_inputs(series.values, scaling.kinds)
    z = (u - np.asarray(scaling.in_mean)) / np.asarray(scaling.in_std)
    return np.nan_to_num(z, nan=0.0).astype(np.float32)


def transform_targets(y: np.ndarray, origins: np.ndarray, horizon: int, scaling: Scaling) -> np.ndarray:
    """(N, K) float32 standardised targets."""
    c = _raw_targets(y, origins, horizon, scaling.transform)
    return ((c - np.asarray(scaling.out_mean)) / np.asarray(scaling.out_std)).astype(np.float32)


def invert_targets(z: np.ndarray, last: np.ndarray, scaling: Scaling) -> np.ndarray:
    """Standardised outputs (N, K) or (N, K, Q) -> forecasts in the target's units; ``last`` (N,) is y_t."""
    extra = (None,) * (z.ndim - 2)  # broadcast over Q
    mean = np.asarray(scaling.out_mean)[(slice(None), *extra)]
    std = np.asarray(scaling.out_std)[(slice(None), *extra)]
    c = z.astype(np.float64) * std + mean
    y_t = last[(slice(None), None, *extra)]
    if scaling.transform == "level":
        return c
    if scaling.transform == "diff":
        return y_t + c
    return y_t * np.exp(c)


# ---------------------------------------------------------------------------------------------------------
# Batches of windows


@dataclass(frozen=True)
class WindowBatch:
    x: Tensor  # (B, L, F) standardised inputs
    y: Tensor  # (B, K) standardised targets
    last: Tensor  # (B,) float64 y_t, the last observed target value (original units)
    truth: Tensor  # (B, K) float64 y_{t+1..t+K} (original units)

    def to(self, device) -> WindowBatch:
        return WindowBatch(self.x.to(device), self.y.to(device), self.last, self.truth)

    def __len__(self) -> int:
        return self.x.shape[0]


class WindowBatches:
    """Batches of windows at ``origins``; the order depends on (seed, epoch) only, never on global RNGs."""

    def __init__(self, inputs: np.ndarray, y: np.ndarray, origins: np.ndarray, lookback: int, horizon: int,
                 scaling: Scaling, batch_size: int, seed: int = 0, shuffle: bool = False):
        self.z = torch.from_numpy(inputs)  # (N_rows, F)
        self.origins = origins  # (N,)
        self.targets = torch.from_numpy(transform_targets(y, origins, horizon, scaling))  # (N, K)
        self.last = torch.from_numpy(y[origins].astype(np.float64))  # (N,)
        self.truth = torch.from_numpy(y[origins[:, None] + np.arange(1, horizon + 1)].astype(np.float64))
        self.offsets = np.arange(-lookback + 1, 1)  # (L,)
        self.batch_size, self.seed, self.shuffle, self.epoch = batch_size, seed, shuffle, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return math.ceil(len(self.origins) / self.batch_size)

    def __iter__(self):
        n = len(self.origins)
        order = np.random.default_rng([self.seed, self.epoch]).permutation(n) if self.shuffle else np.arange(n)
        for s in range(0, n, self.batch_size):
            i = order[s:s + self.batch_size]
            rows = torch.from_numpy(self.origins[i, None] + self.offsets)  # (B, L) row indices
            yield WindowBatch(self.z[rows], self.targets[i], self.last[i], self.truth[i])  # x: (B, L, F)


# ---------------------------------------------------------------------------------------------------------
# The model and its loss


class Forecaster(nn.Module):
    """Recurrent engine over the window -> last step -> dropout -> linear to K steps × Q quantiles."""

    def __init__(self, num_features: int, horizon: int, cfg: ForecastModelConfig):
        super().__init__()
        self.horizon, self.quantiles = horizon, parse_quantiles(cfg.quantiles)
        Q = max(1, len(self.quantiles))
        self.rnn = build_rnn(cfg.cell, num_features, cfg.hidden_size, cfg.num_layers, batch_first=True,
                             dropout=cfg.dropout if cfg.num_layers > 1 else 0.0, impl=cfg.impl)
        self.drop = nn.Dropout(cfg.dropout)
        self.out = nn.Linear(cfg.hidden_size, horizon * Q)

    def forward(self, x: Tensor) -> Tensor:
        out, _ = self.rnn(x)  # (B, L, H)
        z = self.out(self.drop(out[:, -1]))  # (B, K*Q)
        return z.view(x.shape[0], self.horizon, -1)  # (B, K, Q)


def pinball_loss(q_hat: Tensor, y: Tensor, taus: Tensor) -> Tensor:
    """Mean pinball loss of quantile forecasts q_hat (B, K, Q) for targets y (B, K) at levels taus (Q,)."""
    # u = y - q̂ ;  ρ_τ(u) = max(τ u, (τ - 1) u)
    u = y.unsqueeze(-1) - q_hat  # (B, K, Q)
    return torch.maximum(taus * u, (taus - 1) * u).mean()


@dataclass
class ForecastObjective:
    """Point (MSE/MAE) or pinball loss on standardised targets; validation MASE picks the best checkpoint."""

    scaling: Scaling
    scale: float  # MASE denominator: mean |y_t - y_{t-1}| over the training part
    quantiles: tuple[float, ...] = ()  # () for a point forecast
    loss_name: str = "mse"
    metric: str = "mase"
    mode: str = "min"

    def loss(self, model: Forecaster, batch: WindowBatch) -> Tensor:
        z = model(batch.x)  # (B, K, Q)
        if self.quantiles:
            return pinball_loss(z, batch.y, torch.tensor(self.quantiles, dtype=z.dtype, device=z.device))
        e = z[..., 0] - batch.y  # (B, K)
        return e.square().mean() if self.loss_name == "mse" else e.abs().mean()

    @torch.no_grad()
    def predict(self, model: Forecaster, loader) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """(point (N, K), quantiles (N, K, Q) or None, truth (N, K)) in the target's units, loader order."""
        zs, lasts, truths = [], [], []
        device = next(model.parameters()).device
        for batch in loader:
            zs.append(model(batch.x.to(device)).cpu().numpy())
            lasts.append(batch.last.numpy())
            truths.append(batch.truth.numpy())
        z, last = np.concatenate(zs), np.concatenate(lasts)  # (N, K, Q), (N,)
        if not self.quantiles:
            return invert_targets(z[..., 0], last, self.scaling), None, np.concatenate(truths)
        q = np.sort(invert_targets(z, last, self.scaling), axis=-1)  # monotone rearrangement: no crossing
        return q[..., self.quantiles.index(0.5)], q, np.concatenate(truths)

    @torch.no_grad()
    def evaluate(self, model: Forecaster, loader) -> dict[str, float]:
        point, _, truth = self.predict(model, loader)
        m = point_metrics(truth, point, self.scale)
        return {"mase": m["mase"], "mae": m["mae"], "rmse": m["rmse"]}


# ---------------------------------------------------------------------------------------------------------
# Metrics


def mase_scale(y_train: np.ndarray) -> float:
    """s = mean |y_t - y_{t-1}| over the training part: the in-sample one-step naive MAE."""
    return float(np.mean(np.abs(np.diff(y_train)))) if len(y_train) > 1 else math.nan


def point_metrics(y: np.ndarray, yhat: np.ndarray, scale: float) -> dict[str, float]:
    """MAE, RMSE, MAPE (%), sMAPE (%), MASE over every (origin, step) pair; MAPE is NaN if some y = 0."""
    e = y - yhat
    mae = float(np.mean(np.abs(e)))
    denom = np.abs(y) + np.abs(yhat)
    smape = 2 * np.abs(e) / np.where(denom > 0, denom, 1.0)  # 0/0 counts as a perfect forecast
    with np.errstate(divide="ignore", invalid="ignore"):
        mape = float(100 * np.mean(np.abs(e / y))) if np.all(y != 0) else math.nan
    return {"mae": mae, "rmse": float(np.sqrt(np.mean(e * e))), "mape": mape,
            "smape": float(100 * np.mean(smape)), "mase": mae / scale if scale > 0 else math.nan}


def horizon_mase(y: np.ndarray, yhat: np.ndarray, scale: float) -> list[float]:
    """(K,) MASE of each step ahead."""
    return [float(v) for v in np.mean(np.abs(y - yhat), axis=0) / scale]


def interval_metrics(y: np.ndarray, q: np.ndarray, taus: tuple[float, ...]) -> dict[str, float]:
    """Coverage and width of the outermost quantiles' interval, and the mean pinball loss (target units)."""
    lo, hi = q[..., 0], q[..., -1]
    u = y[..., None] - q  # (N, K, Q)
    t = np.asarray(taus)
    return {"coverage": float(np.mean((y >= lo) & (y <= hi))), "nominal": round(taus[-1] - taus[0], 6),
            "width": float(np.mean(hi - lo)), "pinball": float(np.mean(np.maximum(t * u, (t - 1) * u)))}


# ---------------------------------------------------------------------------------------------------------
# Baselines


def persistence(y: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
    """(N, K): ŷ_{t+k} = y_t."""
    return np.repeat(y[origins, None], horizon, axis=1)


def seasonal_naive(y: np.ndarray, origins: np.ndarray, horizon: int, m: int) -> np.ndarray:
    """(N, K): ŷ_{t+k} = y_{t+k-m·⌈k/m⌉}, the last observed value of the same season (m = 1: persistence)."""
    k = np.arange(1, horizon + 1)
    idx = origins[:, None] + k - m * np.ceil(k / m).astype(np.int64)  # (N, K), every index <= t
    return y[np.maximum(idx, 0)]


@dataclass(frozen=True)
class ArimaSpec:
    order: tuple[int, int, int]  # (p, d, q)
    seasonal_order: tuple[int, int, int, int]  # (P, D, Q, m); (0, 0, 0, 0) for none
    trend: str  # "c" (constant) when undifferenced, else "n"

    def label(self) -> str:
        s = f"ARIMA{self.order}".replace(" ", "")
        return s + (f"{self.seasonal_order[:3]}_{self.seasonal_order[3]}".replace(" ", "")
                    if self.seasonal_order[3] else "")

    def to_dict(self) -> dict:
        return {"order": list(self.order), "seasonal_order": list(self.seasonal_order), "trend": self.trend}

    @classmethod
    def from_dict(cls, d: dict) -> ArimaSpec:
        return cls(tuple(d["order"]), tuple(d["seasonal_order"]), d["trend"])


def parse_arima(text: str, season: int) -> ArimaSpec | str | None:
    """"auto" -> "auto"; "off" -> None; "p,d,q" or "p,d,q,P,D,Q" -> ArimaSpec (seasonal period = season)."""
    t = text.strip().lower()
    if t in ("auto", "off"):
        return None if t == "off" else "auto"
    try:
        n = [int(x) for x in t.split(",")]
    except ValueError:
        n = []
    if len(n) not in (3, 6) or min(n) < 0:
        raise ConfigError(f"baseline.arima must be auto, off, 'p,d,q' or 'p,d,q,P,D,Q', got {text!r}")
    seasonal = (*n[3:], season) if len(n) == 6 and season > 1 else (0, 0, 0, 0)
    return ArimaSpec(tuple(n[:3]), seasonal, "c" if n[1] + seasonal[1] == 0 else "n")


def _arima_model(y: np.ndarray, spec: ArimaSpec):
    from statsmodels.tsa.arima.model import ARIMA

    return ARIMA(y, order=spec.order, seasonal_order=spec.seasonal_order, trend=spec.trend)


def _one_blas_thread():
    """The state-space matrices are tiny: BLAS threads only contend (10x slower on a busy 2-core machine).
    threadpoolctl comes with scikit-learn (a seqeval dependency); without it nothing changes."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def fit_arima(y: np.ndarray, spec: ArimaSpec):
    """statsmodels ARIMA results fit on y (convergence warnings silenced: the AIC search expects some)."""
    with warnings.catch_warnings(), _one_blas_thread():
        warnings.simplefilter("ignore")
        return _arima_model(y, spec).fit()


def seasonal_strength(y: np.ndarray, m: int) -> float:
    """F_s = max(0, 1 - Var(R) / Var(S + R)) from an STL decomposition (Wang, Smith & Hyndman 2006): near 1
    for a strong seasonal pattern, near 0 for none."""
    from statsmodels.tsa.seasonal import STL

    with warnings.catch_warnings(), _one_blas_thread():
        warnings.simplefilter("ignore")
        fit = STL(y, period=m, robust=True).fit()
    return max(0.0, 1.0 - float(np.var(fit.resid) / np.var(fit.seasonal + fit.resid)))


def select_arima(y: np.ndarray, season: int) -> ArimaSpec:
    """A small auto-ARIMA on the training part, in the spirit of R's auto.arima: one seasonal difference
    (with a seasonal MA(1)) when the STL seasonal strength exceeds 0.64; d = 1 when an ADF test on the
    (seasonally differenced) series cannot reject a unit root (p > 0.05); then (p, q) in {0, 1, 2}² by AIC."""
    from statsmodels.tsa.stattools import adfuller

    m = season
    seasonal = m > 1 and len(y) >= 3 * m and seasonal_strength(y, m) > 0.64
    w = y[m:] - y[:-m] if seasonal else y
    with warnings.catch_warnings(), _one_blas_thread():
        warnings.simplefilter("ignore")
        d = int(len(w) > 20 and adfuller(w, autolag="AIC")[1] > 0.05)
    s_order = (0, 1, 1, m) if seasonal else (0, 0, 0, 0)
    best, best_aic = None, math.inf
    for p in range(3):
        for q in range(3):
            spec = ArimaSpec((p, d, q), s_order, "c" if d + s_order[1] == 0 else "n")
            try:
                aic = fit_arima(y, spec).aic
            except (ValueError, np.linalg.LinAlgError):
                continue
            if math.isfinite(aic) and aic < best_aic:
                best, best_aic = spec, aic
    return best or ArimaSpec((0, 1, 0), (0, 0, 0, 0), "n")


def _at(a: np.ndarray, idx: np.ndarray, ndim: int) -> np.ndarray:
    """A statsmodels system matrix at times ``idx`` with time as the last axis (N, or 1 when time-invariant)."""
    return a[..., idx] if a.ndim > ndim else a[..., None]


def arima_walk_forward(y: np.ndarray, fit_end: int, origins: np.ndarray, horizon: int,
                       spec: ArimaSpec) -> tuple[np.ndarray, dict]:
    """(N, K) forecasts from each origin: parameters fit on y[:fit_end], then one Kalman pass over the whole
    y with those parameters; from the predicted state a_{t+1|t} the K-step forecasts follow the state
    equations, so each origin sees the actual values up to t and nothing after."""
    res = fit_arima(y[:fit_end], spec)
    with _one_blas_thread():
        full = res.apply(y)  # same parameters, filtered over every value
    ssm = full.model.ssm
    Z, T, d, c = ssm["design"], ssm["transition"], ssm["obs_intercept"], ssm["state_intercept"]
    a = full.filter_results.predicted_state[:, origins + 1]  # (S, N): a_{t+1|t} for each origin t
    out = np.empty((len(origins), horizon))
    for h in range(horizon):
        i = origins + 1 + h  # the time being forecast, t+h+1 for h = 0..K-1
        # y_{t+h|t} = Z a_{t+h|t} + d_{t+h}
        out[:, h] = (_at(Z, i, 2) * a[None]).sum(1)[0] + _at(d, i, 1)[0]  # (1, S, N) -> (N,)
        # a_{t+h+1|t} = T a_{t+h|t} + c_{t+h}
        a = (_at(T, i, 2) * a[None]).sum(1) + _at(c, i, 1)  # (S, S, N) -> (S, N)
    return out, {"label": spec.label(), "aic": float(res.aic), "fit_rows": int(fit_end)}


def arima_future(y: np.ndarray, horizon: int, spec: ArimaSpec) -> np.ndarray:
    """(K,) forecasts after the last value, parameters fit on all of y."""
    return np.asarray(fit_arima(y, spec).forecast(horizon), dtype=np.float64)


# ---------------------------------------------------------------------------------------------------------
# The verdict


def diebold_mariano(y: np.ndarray, a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Is forecast ``a`` more accurate than ``b`` (both (N, K) over the same origins)? Diebold-Mariano (1995)
    on absolute errors with a Newey-West variance: neighbouring origins share K-1 target steps, so the loss
    differential is autocorrelated up to lag K-1. Negative statistic: ``a`` is better; p two-sided, normal."""
    # d_t = mean_k |y - a| - mean_k |y - b|  per origin t
    d = np.abs(y - a).mean(1) - np.abs(y - b).mean(1)  # (N,)
    n, lags = len(d), a.shape[1] - 1
    u = d - d.mean()
    # S = γ_0 + 2 Σ_{l=1..L} (1 - l/(L+1)) γ_l,  γ_l = (1/N) Σ_t u_t u_{t-l}   (Bartlett weights)
    S = u @ u / n + 2 * sum((1 - lag / (lags + 1)) * (u[lag:] @ u[:-lag]) / n for lag in range(1, min(lags, n - 1) + 1))
    if not S > 0:
        return {"statistic": 0.0, "p_value": 1.0}
    stat = float(d.mean() / math.sqrt(S / n))
    return {"statistic": stat, "p_value": math.erfc(abs(stat) / math.sqrt(2))}


def verdict(name: str, mase: float, baselines: dict[str, dict], dm: dict[str, float] | None = None,
            alpha: float = 0.05) -> tuple[bool, str]:
    """(beats persistence, one plain sentence) comparing the network's MASE with the baselines'. With a
    Diebold-Mariano result ``dm`` against persistence, a lower MASE counts only when significant at alpha."""
    p = baselines["persistence"]["mase"]
    others = {k: v["mase"] for k, v in baselines.items() if v.get("mase") is not None and math.isfinite(v["mase"])}
    scores = {name: mase, **others}
    best = min(scores, key=scores.get)
    lower = mase < p
    significant = dm is None or dm["p_value"] < alpha
    test = f", Diebold-Mariano p = {dm['p_value']:.2g}" if dm is not None else ""
    if lower and significant:
        head = f"The {name} beats persistence: MASE {mase:.3f} vs {p:.3f} ({100 * (1 - mase / p):.1f}% lower{test})."
    elif lower:
        head = (f"The {name} does NOT reliably beat persistence: MASE {mase:.3f} vs {p:.3f} is only "
                f"{100 * (1 - mase / p):.1f}% lower, within noise ({test[2:]}); treat it as no better than "
                "\"tomorrow equals today\".")
    else:
        head = (f"The {name} does NOT beat persistence (the last value carried forward): MASE {mase:.3f} vs "
                f"{p:.3f}{test}; a forecaster that cannot beat \"tomorrow equals today\" adds nothing here.")
    return lower and significant, f"{head} Best on this period: {best} (MASE {scores[best]:.3f})."
