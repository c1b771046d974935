"""The ``seqlab`` command line. Thin: parses, calls the API, prints. User errors print one line, exit 2."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from seqlab.errors import SeqlabError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Sequence modeling with recurrent networks.")
train_app = typer.Typer(no_args_is_help=True, help="Train a model for a task.")
data_app = typer.Typer(no_args_is_help=True, help="List and fetch registered datasets.")
app.add_typer(train_app, name="train")
app.add_typer(data_app, name="data")
console = Console()
err = Console(stderr=True)

DATA_HELP = "registered dataset name (see `seqlab data list`) or a CSV/TSV/JSONL file"
DATA_DIR_HELP = "offline data directory holding <name>/<file> (default: $SEQLAB_DATA_DIR, then the cache)"


@app.callback()
def _root() -> None:
    """seqlab: train, evaluate, inspect and serve recurrent sequence models."""


@train_app.command("classify")
def train_classify(
    out: Path = typer.Option(..., "--out", help="run directory to create (model.safetensors + model.json)"),
    data: str = typer.Option(None, "--data", help=DATA_HELP + " [default: the config's, nsmc]"),
    config: Path = typer.Option(None, "--config", help="preset file (.toml/.json) with [data] [model] [train]"),
    sets: list[str] = typer.Option([], "--set", help="override a field, e.g. --set model.hidden_size=256"),
    text_col: str = typer.Option(None, "--text-col", help="user files: the text column"),
    label_col: str = typer.Option(None, "--label-col", help="user files: the label column"),
    data_dir: Path = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
    resume: bool = typer.Option(False, "--resume", help="continue an interrupted run in --out exactly"),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="show a progress bar"),
) -> None:
    """Train a text classifier (many-to-one): `seqlab train classify --data nsmc --out runs/nsmc`."""
    from seqlab import api
    from seqlab.config import RunConfig, apply_overrides, load_config

    cfg = load_config(config) if config else RunConfig()
    extra = [f"data.name={data}"] if data else []
    extra += [f"data.text_col={text_col}"] if text_col else []
    extra += [f"data.label_col={label_col}"] if label_col else []
    cfg = apply_overrides(cfg, extra + list(sets))
    console.print(f"training classify on [bold]{cfg.data.name}[/bold] -> {out}")
    summary = api.train(cfg, out, data_dir=data_dir, resume=resume, progress=progress, log=console.print)
    console.print(f"best validation {summary['metric']} {summary['best_metric']:.4f} at step "
                  f"{summary['best_step']}; {summary['steps']} steps in {summary['wall_time_s']:.0f}s "
                  f"({summary['steps_per_s']:.1f} steps/s), clipped {100 * summary['clipped_fraction']:.1f}% "
                  f"of steps; model in {out}")


@app.command()
def evaluate(
    run_dir: Path = typer.Argument(..., help="a run directory made by `seqlab train`"),
    data: str = typer.Option(None, "--data", help=DATA_HELP + " [default: the run's dataset]"),
    split: str = typer.Option("test", "--split", help="split of a registered dataset"),
    text_col: str = typer.Option(None, "--text-col", help="user files: the text column"),
    label_col: str = typer.Option(None, "--label-col", help="user files: the label column"),
    data_dir: Path = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
    as_json: bool = typer.Option(False, "--json", help='print one JSON object {"task", "split", "metrics"}'),
) -> None:
    """Accuracy, macro-F1 and the confusion matrix (table + PNG in the run directory)."""
    from seqlab import api

    r = api.evaluate(run_dir, data, split, text_col=text_col, label_col=label_col, data_dir=data_dir)
    if as_json:
        sys.stdout.write(json.dumps({"task": r["task"], "split": r["split"], "metrics": r["metrics"],
                                     "examples": r["examples"], "labels": r["labels"],
                                     "confusion": r["confusion"]}, ensure_ascii=False) + "\n")
        return
    m = r["metrics"]
    console.print(f"{r['data']} {split}: {r['examples']} examples"
                  + (f" ({r['skipped']} empty skipped)" if r["skipped"] else ""))
    console.print(f"accuracy {m['accuracy']:.4f}   macro-F1 {m['macro_f1']:.4f}   loss {m['loss']:.4f}")
    table = Table(title="confusion matrix (rows: true, columns: predicted)")
    table.add_column("true \\ pred")
    for name in r["labels"]:
        table.add_column(name, justify="right")
    for name, row in zip(r["labels"], r["confusion"], strict=True):
        table.add_row(name, *(f"{v:,}" for v in row))
    console.print(table)
    console.print(f"plot: {r['confusion_png']}")


@app.command()
def predict(
    run_dir: Path = typer.Argument(..., help="a run directory made by `seqlab train`"),
    texts: list[str] = typer.Argument(None, help="texts to label"),
    input: Path = typer.Option(None, "--input", help="file of texts: .txt (one per line), .csv/.tsv/.jsonl"),
    output: Path = typer.Option(None, "--output", help="write predictions here (.jsonl, .tsv or .csv)"),
    text_col: str = typer.Option("text", "--text-col", help="column of --input CSV/TSV/JSONL files"),
) -> None:
    """Label texts: `seqlab predict runs/nsmc "이 영화 진짜 최고다"` prints label and probability."""
    from seqlab.inference.predictor import Predictor
    from seqlab.inference.textio import read_texts, write_predictions

    items = list(texts or [])
    if input is not None:
        items += read_texts(input, text_col)
    if not items:
        raise typer.BadParameter("give texts as arguments or --input FILE")
    preds = Predictor.from_run(run_dir).predict(items)
    if output is not None:
        write_predictions(output, preds)
        console.print(f"wrote {len(preds)} predictions to {output}")
        return
    for p in preds:
        sys.stdout.write(f"{p.label}\t{p.probability:.4f}\t{p.text}\n")  # tab-separated: label, probability, text


@data_app.command("list")
def data_list(data_dir: Path = typer.Option(None, "--data-dir", help=DATA_DIR_HELP)) -> None:
    """Registered datasets and whether they are available offline or in the cache."""
    from seqlab.data import list_datasets

    table = Table()
    for col in ("name", "task", "splits", "offline", "cached", "description"):
        table.add_column(col)
    for d in list_datasets(data_dir=data_dir):
        table.add_row(d.name, d.task, ", ".join(d.splits), "yes" if d.offline else "no",
                      "yes" if d.cached else "no", d.description)
    console.print(table)


@data_app.command("fetch")
def data_fetch(
    name: str = typer.Argument(..., help="registered dataset name"),
    cache_dir: Path = typer.Option(None, "--cache-dir", help="download cache (default ~/.cache/seqlab)"),
    mirror: str = typer.Option(None, "--mirror", help="base URL serving <name>/<file> instead of the origin"),
) -> None:
    """Download a dataset's files into the cache, verifying each sha256."""
    from seqlab.data import fetch

    for path in fetch(name, cache_dir=cache_dir, mirror=mirror):
        console.print(f"ok {path}")


@app.command()
def demo(seed: int = typer.Option(1, help="random seed"),
         batch_size: int = typer.Option(64, help="B"), steps: int = typer.Option(100, help="T"),
         hidden_size: int = typer.Option(256, help="H")) -> None:
    """Engine demo: seqlab's explicit-BPTT LSTM against torch.nn.LSTM on the same weights."""
    import torch

    from seqlab.engine import LSTM

    torch.manual_seed(seed)
    ref = torch.nn.LSTM(128, hidden_size, batch_first=True)
    mine = LSTM(128, hidden_size, batch_first=True, impl="explicit")
    mine.load_state_dict(ref.state_dict())
    x = torch.randn(batch_size, steps, 128, requires_grad=True)
    results = {}
    for name, m in (("seqlab explicit", mine), ("torch.nn.LSTM", ref)):
        out, _ = m(x)
        (gx,) = torch.autograd.grad(out.square().sum(), x)
        t0 = time.perf_counter()
        for _ in range(3):
            out, _ = m(x)
            out.square().sum().backward()
        results[name] = (out.detach(), gx, (time.perf_counter() - t0) / 3)
    (o1, g1, t1), (o2, g2, t2) = results.values()
    console.print(f"LSTM B={batch_size} T={steps} I=128 H={hidden_size}, forward + backward")
    console.print(f"  max |output difference|   {float((o1 - o2).abs().max()):.2e}")
    console.print(f"  max |dL/dx difference|    {float((g1 - g2).abs().max()):.2e}")
    console.print(f"  seqlab explicit {t1 * 1e3:8.1f} ms/iter   torch.nn {t2 * 1e3:8.1f} ms/iter   "
                  f"ratio {t2 / t1:.2f}x")


def main() -> None:
    """Entry point: user errors become one line on stderr and exit code 2, never a traceback."""
    import click

    try:
        app(standalone_mode=False)
    except SeqlabError as e:
        err.print(f"{type(e).__name__}: {e}", highlight=False, markup=False, soft_wrap=True)
        sys.exit(2)
    except ValueError as e:  # bad arguments caught by the engine/config constructors
        err.print(f"error: {e}", highlight=False, markup=False, soft_wrap=True)
        sys.exit(2)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)


if __name__ == "__main__":
    main()
