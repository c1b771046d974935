"""Forecast head, windows, scaling, metrics and baselines, each against a plain independent computation."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from seqlab.config import apply_overrides
from seqlab.data.series import Frequency, Series
from seqlab.errors import ConfigError, DataError
from seqlab.tasks.forecast import (
    ArimaSpec,
    Forecaster,
    ForecastModelConfig,
    ForecastObjective,
    ForecastRunConfig,
    Split,
    WindowBatches,
    arima_walk_forward,
    check_windows,
    chronological_split,
    diebold_mariano,
    fit_arima,
    fit_scaling,
    interval_metrics,
    invert_targets,
    mase_scale,
    parse_arima,
    parse_quantiles,
    persistence,
    pinball_loss,
    point_metrics,
    seasonal_naive,
    select_arima,
    transform_inputs,
    transform_targets,
    verdict,
    window_origins,
)


def make_series(values: np.ndarray, names=("y",)) -> Series:
    values = np.asarray(values, dtype=np.float64).reshape(len(values), -1)
    n = len(values)
    return Series("mem.csv", None, tuple(names), np.arange(n), np.arange(2, n + 2), values, Frequency("steps", 1))


# ---------------------------------------------------------------------------------------------------------
# Metrics and baselines vs loops


def test_point_metrics_match_loops():
    rng = np.random.default_rng(0)
    y, yhat = rng.uniform(1, 5, (7, 3)), rng.uniform(1, 5, (7, 3))
    scale = 0.8
    pairs = [(a, b) for ra, rb in zip(y, yhat, strict=True) for a, b in zip(ra, rb, strict=True)]
    n = len(pairs)
    m = point_metrics(y, yhat, scale)
    assert m["mae"] == pytest.approx(sum(abs(a - b) for a, b in pairs) / n)
    assert m["rmse"] == pytest.approx(math.sqrt(sum((a - b) ** 2 for a, b in pairs) / n))
    assert m["mape"] == pytest.approx(100 * sum(abs((a - b) / a) for a, b in pairs) / n)
    assert m["smape"] == pytest.approx(100 * sum(2 * abs(a - b) / (abs(a) + abs(b)) for a, b in pairs) / n)
    assert m["mase"] == pytest.approx(m["mae"] / scale)
    y[0, 0] = 0.0
    assert math.isnan(point_metrics(y, yhat, scale)["mape"])  # undefined, not silently huge


def test_mase_scale_is_in_sample_one_step_naive_mae():
    y = np.array([3.0, 5.0, 4.0, 8.0, 8.0])
    assert mase_scale(y) == pytest.approx((2 + 1 + 4 + 0) / 4)


def test_persistence_and_seasonal_naive_match_loops():
    y = np.arange(40, dtype=float) ** 1.5
    origins, K, m = np.array([10, 17, 30]), 7, 4
    p = persistence(y, origins, K)
    s = seasonal_naive(y, origins, K, m)
    for i, t in enumerate(origins):
        for k in range(1, K + 1):
            assert p[i, k - 1] == y[t]
            j = t + k
            while j > t:  # step back whole seasons until the value was observed at the origin
                j -= m
            assert s[i, k - 1] == y[j]
    np.testing.assert_array_equal(seasonal_naive(y, origins, K, 1), p)


def test_pinball_and_interval_metrics_match_loops():
    rng = np.random.default_rng(1)
    taus = (0.1, 0.5, 0.9)
    y = rng.normal(size=(5, 2))
    q = np.sort(rng.normal(size=(5, 2, 3)), axis=-1)
    brute = np.mean([max(t * (y[i, k] - q[i, k, j]), (t - 1) * (y[i, k] - q[i, k, j]))
                     for i in range(5) for k in range(2) for j, t in enumerate(taus)])
    got = pinball_loss(torch.tensor(q), torch.tensor(y), torch.tensor(taus, dtype=torch.float64))
    assert float(got) == pytest.approx(brute)
    im = interval_metrics(y, q, taus)
    assert im["pinball"] == pytest.approx(brute)
    inside = [q[i, k, 0] <= y[i, k] <= q[i, k, -1] for i in range(5) for k in range(2)]
    assert im["coverage"] == pytest.approx(sum(inside) / 10) and im["nominal"] == pytest.approx(0.8)


def test_verdict_says_plainly_when_persistence_wins_or_the_gain_is_noise():
    base = {"persistence": {"mase": 1.0}, "seasonal_naive": {"mase": 1.3}, "arima": {"mase": 0.98}}
    beats, text = verdict("LSTM", 1.05, base)
    assert not beats and "does NOT beat persistence" in text and "Best on this period: arima" in text
    beats, text = verdict("LSTM", 0.9, base, {"statistic": -3.1, "p_value": 0.002})
    assert beats and "beats persistence" in text and "10.0% lower" in text and "p = 0.002" in text
    beats, text = verdict("LSTM", 0.999, base, {"statistic": -0.2, "p_value": 0.84})
    assert not beats and "does NOT reliably beat persistence" in text and "within noise" in text


@pytest.mark.parametrize("K", [1, 4])
def test_diebold_mariano_matches_an_ols_hac_t_test(K):
    """Oracle: the DM statistic is the t statistic of the mean loss differential with Newey-West (Bartlett,
    K-1 lags) standard errors, which statsmodels' OLS computes independently."""
    import statsmodels.api as sm

    rng = np.random.default_rng(8)
    y = rng.normal(size=(150, K))
    a, b = y + rng.normal(0, 0.9, (150, K)), y + rng.normal(0, 1.0, (150, K))
    dm = diebold_mariano(y, a, b)
    d = np.abs(y - a).mean(1) - np.abs(y - b).mean(1)
    ols = sm.OLS(d, np.ones_like(d)).fit(cov_type="HAC", cov_kwds={"maxlags": K - 1, "use_correction": False})
    assert dm["statistic"] == pytest.approx(float(ols.tvalues[0]), rel=1e-10)
    assert dm["p_value"] == pytest.approx(float(ols.pvalues[0]), rel=1e-8)
    assert diebold_mariano(y, b, b) == {"statistic": 0.0, "p_value": 1.0}


# ---------------------------------------------------------------------------------------------------------
# Splits, windows and scaling


def test_windows_stay_inside_their_part():
    sp = chronological_split(100, 0.15, 0.15)
    assert (sp.n_train, sp.n_val, sp.n_test) == (70, 15, 15)
    L, K = 10, 3
    for transform in ("level", "diff"):
        tr = window_origins(sp, "train", L, K, transform)
        va = window_origins(sp, "val", L, K, transform)
        te = window_origins(sp, "test", L, K, transform)
        assert tr[0] - L + 1 - (transform != "level") == 0  # the first window starts at row 0 (diff: row 1)
        assert tr[-1] + K == 69  # last training target is the last training row
        assert va[0] + 1 == 70 and va[-1] + K == 84
        assert te[0] + 1 == 85 and te[-1] + K == 99 and len(te) == 15 - K + 1
    np.testing.assert_array_equal(window_origins(sp, "test", L, K, "diff", stride=5), [84, 89, 94])


def test_scaling_fit_on_training_part_only_nothing_leaks():
    """Changing every value after the training part leaves the scaling unchanged, and it equals NumPy
    statistics of the training rows (inputs) and training windows (targets)."""
    rng = np.random.default_rng(2)
    n, L, K = 120, 8, 4
    values = np.stack([50 + np.cumsum(rng.normal(size=n)), rng.uniform(1, 2, n)], axis=1)
    sp = chronological_split(n, 0.2, 0.2)
    for transform in ("level", "diff", "log_return"):
        a = fit_scaling(make_series(values, ("y", "x")), sp, L, K, transform)
        poisoned = values.copy()
        poisoned[sp.n_train:] *= 1000.0  # validation and test from another world
        b = fit_scaling(make_series(poisoned, ("y", "x")), sp, L, K, transform)
        assert a == b, transform
    # the statistics themselves, recomputed by hand for "diff"
    a = fit_scaling(make_series(values, ("y", "x")), sp, L, K, "diff")
    tr = values[: sp.n_train]
    d = np.diff(tr, axis=0)
    np.testing.assert_allclose(a.in_mean, d.mean(0))
    np.testing.assert_allclose(a.in_std, d.std(0))
    origins = range(L, sp.n_train - K)  # every training window: inputs from row 1, targets before n_train
    c = np.array([[tr[t + k, 0] - tr[t, 0] for k in range(1, K + 1)] for t in origins])
    np.testing.assert_allclose(a.out_mean, c.mean(0))
    np.testing.assert_allclose(a.out_std, c.std(0))


@pytest.mark.parametrize("transform", ["level", "diff", "log_return"])
def test_targets_invert_exactly(transform):
    rng = np.random.default_rng(3)
    y = 20 + np.cumsum(rng.normal(size=60))
    s = make_series(y)
    sp = chronological_split(60, 0.2, 0.2)
    sc = fit_scaling(s, sp, 5, 3, transform)
    origins = np.arange(6, 50)
    z = transform_targets(y, origins, 3, sc)
    truth = y[origins[:, None] + np.arange(1, 4)]
    np.testing.assert_allclose(invert_targets(z, y[origins], sc), truth, rtol=1e-5)
    np.testing.assert_allclose(invert_targets(np.repeat(z[..., None], 2, -1), y[origins], sc)[..., 1], truth,
                               rtol=1e-5)


def test_log_return_kinds_per_column_and_bad_values_named():
    y = np.linspace(10, 20, 50)
    volume = np.concatenate([[0.0], np.linspace(1, 5, 49)])  # a zero volume: log(1 + v) copes
    signed = np.linspace(-1, 1, 50)  # negative values: plain differences
    sp = chronological_split(50, 0.2, 0.2)
    s = make_series(np.stack([y, volume, signed], 1), ("y", "v", "s"))
    sc = fit_scaling(s, sp, 4, 2, "log_return")
    assert sc.kinds == ("log_diff", "log1p_diff", "diff")
    u = transform_inputs(s, sc) * np.asarray(sc.in_std) + np.asarray(sc.in_mean)
    np.testing.assert_allclose(u[5], [np.log(y[5] / y[4]), np.log1p(volume[5]) - np.log1p(volume[4]),
                                      signed[5] - signed[4]], rtol=1e-5)
    s.values[40, 1] = -3.0  # a negative volume after the training part
    with pytest.raises(DataError) as e:
        transform_inputs(s, sc)
    assert e.value.line == 42 and "'v'" in str(e.value)
    y[30] = -1.0
    with pytest.raises(DataError) as e:
        fit_scaling(make_series(y), sp, 4, 2, "log_return")
    assert e.value.line == 32 and "--transform diff" in str(e.value)


def test_too_short_series_and_empty_parts_are_one_line_errors():
    sp = chronological_split(30, 0.15, 0.15)
    with pytest.raises(DataError, match="needs at least 36"):
        check_windows(30, sp, 30, 5, "diff", "s.csv")
    with pytest.raises(DataError, match="training part"):
        check_windows(30, Split(6, 12, 12), 5, 2, "level", "s.csv")
    with pytest.raises(DataError, match="test part"):
        check_windows(30, Split(20, 8, 2), 5, 3, "level", "s.csv")


def test_loader_order_depends_on_seed_and_epoch_only():
    rng = np.random.default_rng(4)
    y = np.cumsum(rng.normal(size=80)) + 5
    s = make_series(y)
    sp = chronological_split(80, 0.2, 0.2)
    sc = fit_scaling(s, sp, 6, 2, "diff")
    origins = window_origins(sp, "train", 6, 2, "diff")
    make = lambda: WindowBatches(transform_inputs(s, sc), y, origins, 6, 2, sc, 8, seed=7, shuffle=True)  # noqa: E731
    a, b = make(), make()
    a.set_epoch(3)
    b.set_epoch(3)
    torch.manual_seed(0)
    np.random.seed(0)
    first = [x.last.tolist() for x in a]
    torch.manual_seed(99)
    np.random.seed(99)
    assert first == [x.last.tolist() for x in b]  # global RNG state changes nothing
    b.set_epoch(4)
    assert first != [x.last.tolist() for x in b]
    batch = next(iter(a))
    t = int(origins[np.flatnonzero(y[origins] == batch.last[0].item())[0]])
    np.testing.assert_allclose(batch.x[0, :, 0].numpy(), transform_inputs(s, sc)[t - 5:t + 1, 0])
    assert batch.x.shape == (8, 6, 1) and batch.y.shape == (8, 2)


# ---------------------------------------------------------------------------------------------------------
# The model and objective


def test_forecaster_shapes_and_sorted_quantiles():
    torch.manual_seed(0)
    cfg = ForecastModelConfig(hidden_size=8, quantiles="0.9,0.1")
    model = Forecaster(2, 3, cfg)
    assert model.quantiles == (0.1, 0.5, 0.9)
    assert model(torch.randn(4, 7, 2)).shape == (4, 3, 3)
    rng = np.random.default_rng(5)
    y = 10 + np.cumsum(rng.normal(size=60))
    s = make_series(np.stack([y, rng.normal(size=60)], 1), ("y", "x"))
    sp = chronological_split(60, 0.2, 0.2)
    sc = fit_scaling(s, sp, 7, 3, "diff")
    loader = WindowBatches(transform_inputs(s, sc), y, window_origins(sp, "val", 7, 3, "diff"), 7, 3, sc, 4)
    obj = ForecastObjective(sc, 1.0, model.quantiles)
    point, q, truth = obj.predict(model.eval(), loader)
    assert (np.diff(q, axis=-1) >= 0).all()  # no crossing after rearrangement
    np.testing.assert_array_equal(point, q[..., 1])
    assert set(obj.evaluate(model, loader)) == {"mase", "mae", "rmse"}


def test_config_validation_names_the_key():
    cfg = ForecastRunConfig()
    assert cfg.train.epochs == 40 and cfg.data.transform == "diff"
    with pytest.raises(ConfigError, match="data.transform"):
        apply_overrides(cfg, ["data.transform=logs"])
    with pytest.raises(ConfigError, match="model.quantiles"):
        apply_overrides(cfg, ["model.quantiles=0.1,1.5"])
    with pytest.raises(ConfigError, match="baseline.arima"):
        apply_overrides(cfg, ["baseline.arima=1,1"])
    assert parse_quantiles("") == () and parse_quantiles("0.05, 0.95") == (0.05, 0.5, 0.95)
    assert parse_arima("1,1,1,0,1,1", 12) == ArimaSpec((1, 1, 1), (0, 1, 1, 12), "n")
    assert parse_arima("2,0,0", 12) == ArimaSpec((2, 0, 0), (0, 0, 0, 0), "c")
    assert ForecastRunConfig.from_dict(cfg.to_dict()) == cfg


# ---------------------------------------------------------------------------------------------------------
# ARIMA walk-forward vs statsmodels' own forecast from each origin


@pytest.mark.parametrize("spec", [ArimaSpec((1, 0, 1), (0, 0, 0, 0), "c"),
                                  ArimaSpec((0, 1, 1), (0, 1, 1, 4), "n")])
def test_arima_walk_forward_equals_statsmodels_forecast_from_each_origin(spec):
    rng = np.random.default_rng(6)
    t = np.arange(90)
    y = 5 + 0.03 * t + np.sin(2 * np.pi * t / 4) + np.cumsum(rng.normal(0, 0.2, 90))
    origins, K = np.array([60, 71, 85]), 4
    got, info = arima_walk_forward(y, 60, origins, K, spec)
    res = fit_arima(y[:60], spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = np.stack([res.apply(y[: o + 1]).forecast(K) for o in origins])  # only data up to the origin
    np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-8)
    assert info["fit_rows"] == 60 and info["label"] == spec.label()


def test_select_arima_finds_seasonality_and_unit_roots():
    rng = np.random.default_rng(7)
    t = np.arange(80)
    seasonal = 10 + 3 * np.sin(2 * np.pi * t / 4) + rng.normal(0, 0.2, 80)
    spec = select_arima(seasonal, 4)
    assert spec.seasonal_order == (0, 1, 1, 4)  # lag-4 differences are far smaller than lag-1 ones
    walk = np.cumsum(rng.normal(size=150))
    spec = select_arima(walk, 1)
    assert spec.order[1] == 1 and spec.seasonal_order == (0, 0, 0, 0) and spec.trend == "n"
