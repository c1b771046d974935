"""`seqlab train forecast` and `seqlab forecast` (registered by seqlab.cli through MODULES)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from seqlab.commands import CONFIG_HELP, DATA_DIR_HELP, SET_HELP, build_config, print_summary

FORECAST_DATA_HELP = ("a CSV/TSV file with a time column, or a registered series: sunspots, co2, elnino, "
                      "stock_prices:samsung|sk_hynix|naver")


def register(app: typer.Typer, train_app: typer.Typer) -> None:
    from seqlab.cli import console

    @train_app.command("forecast")
    def train_forecast(
        out: Path = typer.Option(..., "--out", help="run directory to create (model.safetensors + model.json)"),
        data: str = typer.Option(None, "--data", help=FORECAST_DATA_HELP + " [default: stock_prices:samsung]"),
        time_col: str = typer.Option(None, "--time-col", help="files: the time column [default: Date; none: "
                                                              "rows are equally spaced steps]"),
        target: str = typer.Option(None, "--target", help="column to forecast [default: the dataset's]"),
        features: str = typer.Option(None, "--features", help="input columns, comma-separated, e.g. "
                                                              "Open,High,Low,Close,Volume [default: the target]"),
        lookback: int = typer.Option(None, "--lookback", help="L: past steps per input window [default: 60]"),
        horizon: int = typer.Option(None, "--horizon", help="K: steps ahead, forecast at once [default: 5]"),
        transform: str = typer.Option(None, "--transform", help="level | diff | log_return [default: diff]"),
        quantiles: str = typer.Option(None, "--quantiles", help="e.g. 0.1,0.5,0.9: prediction intervals by "
                                                                "pinball loss [default: point forecast]"),
        fill: str = typer.Option(None, "--fill", help="missing values: error | ffill | drop [default: error]"),
        sort: bool = typer.Option(False, "--sort", help="sort rows by time instead of refusing an unsorted file"),
        season: int = typer.Option(None, "--season", help="seasonal period m for the seasonal-naive and ARIMA "
                                                          "baselines [default: from the dataset / frequency]"),
        config: Path = typer.Option(None, "--config", help=CONFIG_HELP.replace("[train]", "[train] [baseline]")),
        sets: list[str] = typer.Option([], "--set", help=SET_HELP),
        data_dir: Path = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
        resume: bool = typer.Option(False, "--resume", help="continue an interrupted run in --out exactly"),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="show a progress bar"),
    ) -> None:
        """Train a forecaster: `seqlab train forecast --data prices.csv --time-col Date --target Close
        --lookback 60 --horizon 5 --out runs/stock`. The last 15% of rows stay held out for `seqlab forecast`."""
        from seqlab.pipelines import forecast

        given = {"name": data, "time_col": time_col, "target": target, "features": features, "lookback": lookback,
                 "horizon": horizon, "transform": transform, "fill": fill, "season": season}
        extra = [f"data.{k}={v}" for k, v in given.items() if v is not None]
        extra += ["data.sort=true"] if sort else []
        extra += [f"model.quantiles={quantiles}"] if quantiles is not None else []
        cfg = build_config(forecast.CONFIG, config, extra + list(sets))
        console.print(f"training forecast on [bold]{cfg.data.name}[/bold] -> {out}")
        summary = forecast.train(cfg, out, data_dir=data_dir, resume=resume, progress=progress, log=console.print)
        print_summary(console, summary, out)
        best, p = summary["best_metric"], summary["val_persistence_mase"]
        word = "beats" if best < p else "does NOT beat"
        console.print(f"validation: {cfg.model.cell.upper()} MASE {best:.3f} {word} persistence {p:.3f}; the held-out "
                      f"test report: seqlab forecast {out}" + (f" --data {data}" if data else ""), highlight=False)

    @app.command("forecast")
    def forecast_cmd(
        run_dir: Path = typer.Argument(..., help="a run directory made by `seqlab train forecast`"),
        data: str = typer.Option(None, "--data", help=FORECAST_DATA_HELP + " [default: the run's data]"),
        split: str = typer.Option("test", "--split", help="chronological part to backtest: test | val | train"),
        plot: Path = typer.Option(None, "--plot", help="write a PNG: history, forecast, interval, baselines"),
        stride: int = typer.Option(None, "--stride", help="walk-forward: a forecast origin every N steps [1]"),
        data_dir: Path = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
        as_json: bool = typer.Option(False, "--json", help="print one JSON object (backtest + future)"),
    ) -> None:
        """Forecast the next K steps after the data's last row, beside persistence, seasonal-naive and ARIMA,
        and backtest all of them walk-forward on the held-out part: `seqlab forecast runs/stock --data
        prices.csv --plot out.png`."""
        from seqlab.pipelines import forecast

        r = forecast.forecast(run_dir, data, split=split, data_dir=data_dir, plot=plot, stride=stride)
        if as_json:
            sys.stdout.write(json.dumps({k: v for k, v in r.items() if k != "notes"}, ensure_ascii=False) + "\n")
            return
        for line in r["notes"]:
            console.print(line, highlight=False, markup=False)
        console.print(forecast.format_future(r["future"]), highlight=False, markup=False)
        console.print()
        console.print(forecast.format_report(r), highlight=False, markup=False)
        if plot is not None:
            console.print(f"plot: {r['plot']}", highlight=False, markup=False)
