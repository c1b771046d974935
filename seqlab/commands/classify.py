"""`seqlab train classify`."""

from __future__ import annotations

from pathlib import Path

import typer

from seqlab.commands import CONFIG_HELP, DATA_DIR_HELP, DATA_HELP, SET_HELP, build_config, print_summary


def register(app: typer.Typer, train_app: typer.Typer) -> None:
    from seqlab.cli import console

    @train_app.command("classify")
    def train_classify(
        out: Path = typer.Option(..., "--out", help="run directory to create (model.safetensors + model.json)"),
        data: str = typer.Option(None, "--data", help=DATA_HELP + " (CSV/TSV/JSONL) [default: nsmc]"),
        config: Path = typer.Option(None, "--config", help=CONFIG_HELP),
        sets: list[str] = typer.Option([], "--set", help=SET_HELP),
        text_col: str = typer.Option(None, "--text-col", help="user files: the text column"),
        label_col: str = typer.Option(None, "--label-col", help="user files: the label column"),
        data_dir: Path = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
        resume: bool = typer.Option(False, "--resume", help="continue an interrupted run in --out exactly"),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="show a progress bar"),
        diagnose_every: int = typer.Option(0, "--diagnose-every", help="log gradient flow, spectral radius and gate "
                                           "saturation every N steps into metrics.jsonl (= train.diagnose_every)"),
    ) -> None:
        """Train a text classifier (many-to-one): `seqlab train classify --data nsmc --out runs/nsmc`."""
        from seqlab.pipelines import classify

        extra = [f"data.name={data}"] if data else []
        extra += [f"data.text_col={text_col}"] if text_col else []
        extra += [f"data.label_col={label_col}"] if label_col else []
        extra += [f"train.diagnose_every={diagnose_every}"] if diagnose_every else []
        cfg = build_config(classify.CONFIG, config, extra + list(sets))
        console.print(f"training classify on [bold]{cfg.data.name}[/bold] -> {out}")
        summary = classify.train(cfg, out, data_dir=data_dir, resume=resume, progress=progress, log=console.print)
        print_summary(console, summary, out)
