"""The ``seqlab`` command line. Thin: parses, calls the API, prints. User errors print one line, exit 2."""

from __future__ import annotations

import importlib
import json
import sys
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from seqlab.commands import DATA_DIR_HELP, DATA_HELP, MODULES
from seqlab.errors import ConfigError, SeqlabError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Sequence modeling with recurrent networks.")
train_app = typer.Typer(no_args_is_help=True, help="Train a model for a task.")
data_app = typer.Typer(no_args_is_help=True, help="List and fetch registered datasets.")
app.add_typer(train_app, name="train")
app.add_typer(data_app, name="data")
console = Console()
err = Console(stderr=True)


@app.callback()
def _root() -> None:
    """seqlab: train, evaluate, inspect and serve recurrent sequence models."""


@app.command()
def evaluate(
    run_dirs: list[Path] = typer.Argument(..., help="a run directory made by `seqlab train`; several classify "
                                          "runs: their ensemble (class probabilities averaged)"),
    data: str = typer.Option(None, "--data", help=DATA_HELP + " [default: the run's dataset]"),
    split: str = typer.Option("test", "--split", help="split of a registered dataset"),
    text_col: str = typer.Option(None, "--text-col", help="user files: the text column"),
    label_col: str = typer.Option(None, "--label-col", help="user files: the label column"),
    data_dir: Path = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
    as_json: bool = typer.Option(False, "--json", help='print one JSON object {"task", "split", "metrics"}'),
) -> None:
    """Metrics of a trained run on a held-out split; the run's task decides which (classify: accuracy,
    macro-F1 and the confusion matrix as a table and a PNG in the run directory). Several classify runs are
    scored as one ensemble: each reads the texts with its own tokenizer, their probabilities are averaged."""
    from seqlab.pipelines import pipeline, run_task

    run_dir, members = run_dirs[0], tuple(run_dirs[1:])
    tasks = {str(r): run_task(r) for r in run_dirs}  # model.json only; each task reads its own weights
    task = tasks[str(run_dir)]
    if members and set(tasks.values()) != {"classify"}:
        raise ConfigError("an ensemble (several run directories) is for classify runs; got "
                          + ", ".join(f"{r} ({t})" for r, t in tasks.items()))
    ensemble = {"members": members} if members else {}  # other tasks' evaluate takes no members
    r = pipeline(task).evaluate(run_dir, data, split, data_dir=data_dir, text_col=text_col, label_col=label_col,
                                **ensemble)
    if as_json:
        keep = {k: v for k, v in r.items() if k not in ("confusion_png",)}
        sys.stdout.write(json.dumps(keep, ensure_ascii=False) + "\n")
        return
    if task != "classify":
        report = getattr(pipeline(task), "format_report", None)
        if callable(report):  # the task's own report (forecast: baselines side by side and the verdict)
            sys.stdout.write(report(r).rstrip("\n") + "\n")
            return
        for k, v in r["metrics"].items():
            console.print(f"{k:>12} {v:.4f}" if isinstance(v, float) else f"{k:>12} {v}")
        return
    m = r["metrics"]
    if members:
        console.print(f"ensemble of {len(run_dirs)} runs (class probabilities averaged): "
                      + ", ".join(map(str, run_dirs)))
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
    from seqlab.inference.textio import read_texts, write_predictions
    from seqlab.pipelines import pipeline, run_task

    items = list(texts or [])
    if input is not None:
        items += read_texts(input, text_col)
    if not items:
        raise typer.BadParameter("give texts as arguments or --input FILE")
    task = pipeline(run_task(run_dir))
    preds = task.predict(run_dir, items)
    if output is not None:
        write_predictions(output, preds)
        console.print(f"wrote {len(preds)} predictions to {output}")
        return
    for p in preds:
        sys.stdout.write(task.format_prediction(p) + "\n")


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


for _name in MODULES:
    importlib.import_module(f"seqlab.commands.{_name}").register(app, train_app)


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
