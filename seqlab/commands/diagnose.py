"""`seqlab diagnose ...`: see inside recurrent networks (gradient flow through time, exploding gradients, gate
saturation, hidden states, the long-range benchmark). Thin: parses, calls ``seqlab.diagnostics``, prints."""

from __future__ import annotations

from pathlib import Path

import typer

from seqlab.commands import DATA_DIR_HELP, DATA_HELP

CELL_HELP = "cells to compare, comma-separated: rnn (= rnn_tanh), rnn_relu, lstm, gru"
TASK_HELP = "synthetic long-range task for fresh models: adding | copy"
STEPS_HELP = "training steps per cell on --task before measuring (0: the freshly initialised model)"
OUT_HELP = "output directory for the JSON and PNG files"


def _ints(text: str, option: str) -> list[int]:
    from seqlab.errors import ConfigError

    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"{option} expects comma-separated integers such as 50,100,200; got {text!r}") from None
    if not values or min(values) <= 0:
        raise ConfigError(f"{option} expects positive integers such as 50,100,200; got {text!r}")
    return values


def _subject(run_dir: Path | None, task: str | None, cell: str | None) -> None:
    """Exactly one of RUN_DIR or --task; --cell only with --task."""
    from seqlab.errors import ConfigError

    if (run_dir is None) == (task is None):
        raise ConfigError("give either a RUN_DIR (a trained run) or --task adding|copy (fresh models, with --cell), "
                          "not both and not neither")
    if run_dir is not None and cell is not None:
        raise ConfigError("--cell applies to --task only: a RUN_DIR already has its cell")


def register(app: typer.Typer, train_app: typer.Typer) -> None:
    from seqlab.cli import console

    diagnose_app = typer.Typer(no_args_is_help=True, help="See inside recurrent networks: gradient flow through "
                               "time, exploding gradients, gate saturation, hidden states, long-range tasks.")
    app.add_typer(diagnose_app, name="diagnose")

    def task_config(task: str, length: int, copy_len: int):
        from seqlab.diagnostics.synthetic import LongRangeConfig, check_task

        cfg = LongRangeConfig(task=task, length=length, copy_len=copy_len)
        check_task(cfg)
        return cfg

    def measure(run_dir, cell, task, steps, length, copy_len, hidden_size, batch_size, lr, seed, data, split,
                data_dir, text_col, label_col, what: str):
        """(results {label: measurement}, setup, title) for a run directory or freshly trained cells."""
        from seqlab.diagnostics import experiments, inspect_run

        _subject(run_dir, task, cell)
        if run_dir is not None:
            results, p = inspect_run.measure_run(run_dir, data=data, split=split, batch_size=batch_size, seed=seed,
                                                 data_dir=data_dir, text_col=text_col, label_col=label_col)
            return results, p.setup, f"{what} of {run_dir.name}"
        cfg = task_config(task, length, copy_len)
        cells = experiments.parse_cells(cell or "rnn,lstm,gru")
        console.print(f"training {', '.join(cells)} for {steps} steps each on {task} T={length}")
        results = experiments.gradient_flow_on_task(cells, cfg, steps=steps, hidden_size=hidden_size,
                                                    batch_size=batch_size, lr=lr, seed=seed, log=console.print)
        setup = {"task": task, "length": length, "copy_len": copy_len if task == "copy" else None, "steps": steps,
                 "hidden_size": hidden_size, "batch_size": batch_size, "lr": lr, "seed": seed, "align": "end",
                 "loss": "the loss of the last output step, on a fixed held-out batch"}
        return results, setup, f"{what} after {steps} steps on {task} T={length}"

    @diagnose_app.command("gradient-flow")
    def gradient_flow(
        run_dir: Path = typer.Argument(None, help="a run directory (classify or long_range); or use --task"),
        out: Path = typer.Option(..., "--out", help=OUT_HELP),
        cell: str = typer.Option(None, "--cell", help=CELL_HELP + " [default: rnn,lstm,gru]"),
        task: str = typer.Option(None, "--task", help=TASK_HELP),
        steps: int = typer.Option(300, "--steps", help=STEPS_HELP),
        length: int = typer.Option(100, "--length", help="--task: T, input steps per sequence"),
        copy_len: int = typer.Option(10, "--copy-len", help="--task copy: symbols to remember"),
        hidden_size: int = typer.Option(64, "--hidden-size", help="--task: H"),
        batch_size: int = typer.Option(32, "--batch-size", help="examples in the measured batch (and per step)"),
        lr: float = typer.Option(1e-2, "--lr", help="--task: AdamW learning rate"),
        seed: int = typer.Option(1, "--seed", help="model init, training stream and RUN_DIR sample"),
        data: str = typer.Option(None, "--data", help="RUN_DIR: " + DATA_HELP + " [default: the run's dataset]"),
        split: str = typer.Option("test", "--split", help="RUN_DIR: split of a registered dataset"),
        data_dir: Path = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
        text_col: str = typer.Option(None, "--text-col", help="RUN_DIR, user files: the text column"),
        label_col: str = typer.Option(None, "--label-col", help="RUN_DIR, user files: the label column"),
    ) -> None:
        """||dL/dh_t|| for every step t and layer: `seqlab diagnose gradient-flow --cell rnn,lstm,gru --task adding
        --out diag/` or `seqlab diagnose gradient-flow runs/nsmc --out diag/`. Writes gradient_flow.json
        ({cell: list of norm_t for t = 0..T-1}), gradient_flow_details.json and a log-scale plot per cell."""
        from seqlab.diagnostics.experiments import write_gradient_flow

        results, setup, title = measure(run_dir, cell, task, steps, length, copy_len, hidden_size, batch_size, lr,
                                        seed, data, split, data_dir, text_col, label_col, "gradient flow")
        files = write_gradient_flow(results, out, setup, title)
        for label, r in results.items():
            top = r["flow"].top
            ratio = top[0] / top[-1] if top[-1] else float("nan")
            console.print(f"{label:>10}: ||dL/dh_t|| first step {top[0]:.3g}, last step {top[-1]:.3g} "
                          f"(ratio {ratio:.3g} over {len(top)} steps)")
        console.print("wrote " + ", ".join(str(f) for f in files))

    @diagnose_app.command("gates")
    def gates(
        run_dir: Path = typer.Argument(None, help="a run directory (classify or long_range); or use --task"),
        out: Path = typer.Option(..., "--out", help=OUT_HELP),
        cell: str = typer.Option(None, "--cell", help=CELL_HELP + " [default: rnn,lstm,gru]"),
        task: str = typer.Option(None, "--task", help=TASK_HELP),
        steps: int = typer.Option(300, "--steps", help=STEPS_HELP),
        length: int = typer.Option(100, "--length", help="--task: T, input steps per sequence"),
        copy_len: int = typer.Option(10, "--copy-len", help="--task copy: symbols to remember"),
        hidden_size: int = typer.Option(64, "--hidden-size", help="--task: H"),
        batch_size: int = typer.Option(32, "--batch-size", help="examples in the measured batch (and per step)"),
        lr: float = typer.Option(1e-2, "--lr", help="--task: AdamW learning rate"),
        seed: int = typer.Option(1, "--seed", help="model init, training stream and RUN_DIR sample"),
        data: str = typer.Option(None, "--data", help="RUN_DIR: " + DATA_HELP + " [default: the run's dataset]"),
        split: str = typer.Option("test", "--split", help="RUN_DIR: split of a registered dataset"),
        data_dir: Path = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
        text_col: str = typer.Option(None, "--text-col", help="RUN_DIR, user files: the text column"),
        label_col: str = typer.Option(None, "--label-col", help="RUN_DIR, user files: the label column"),
    ) -> None:
        """Per layer: spectral radius of each W_hh gate block and gate saturation (share of sigmoid gates < 0.05
        or > 0.95; tanh |a| > 0.95) on a batch. Writes gates.json and a bar chart per cell."""
        from seqlab.diagnostics.inspect_run import write_gates

        results, setup, title = measure(run_dir, cell, task, steps, length, copy_len, hidden_size, batch_size, lr,
                                        seed, data, split, data_dir, text_col, label_col, "gates")
        files = write_gates(results, out, setup, title)
        for label, r in results.items():
            for layer, sat in r["saturation"].items():
                rho = ", ".join(f"{g} {v['radius']:.2f}" for g, v in r["spectral_radius"][layer].items())
                share = ", ".join(f"{g} {100 * v['saturated']:.1f}%" for g, v in sat.items())
                console.print(f"{label} {layer}: spectral radius {rho}; saturated {share}")
        console.print("wrote " + ", ".join(str(f) for f in files))

    @diagnose_app.command("exploding")
    def exploding(
        out: Path = typer.Option(..., "--out", help=OUT_HELP),
        cell: str = typer.Option("rnn", "--cell", help="one cell: rnn (= rnn_tanh), rnn_relu, lstm, gru"),
        task: str = typer.Option("adding", "--task", help=TASK_HELP),
        radius: float = typer.Option(3.0, "--radius", help="spectral radius to scale every W_hh gate block to"),
        steps: int = typer.Option(200, "--steps", help="training steps for each of the two runs"),
        clip: float = typer.Option(1.0, "--clip", help="gradient-norm clip of the clipped run"),
        length: int = typer.Option(100, "--length", help="T, input steps per sequence"),
        copy_len: int = typer.Option(10, "--copy-len", help="--task copy: symbols to remember"),
        hidden_size: int = typer.Option(64, "--hidden-size", help="H"),
        batch_size: int = typer.Option(32, "--batch-size", help="examples per step"),
        lr: float = typer.Option(2e-3, "--lr", help="AdamW learning rate"),
        seed: int = typer.Option(1, "--seed", help="model init and training stream"),
    ) -> None:
        """Exploding gradients: W_hh scaled to spectral radius > 1, gradient flow at init, then training without
        and with clipping (runs in OUT/noclip and OUT/clip, the trainer logging the clipped fraction)."""
        from seqlab.diagnostics import experiments
        from seqlab.errors import ConfigError

        names = experiments.parse_cells(cell)
        if len(names) != 1:
            raise ConfigError(f"--cell takes one cell for exploding, got {cell!r}")
        r = experiments.exploding(names[0], task_config(task, length, copy_len), out, radius=radius, steps=steps,
                                  clip=clip, hidden_size=hidden_size, batch_size=batch_size, lr=lr, seed=seed,
                                  log=console.print)
        for label, flow in r["grad_flow"].items():
            console.print(f"{label}: ||dL/dh_t|| first step {flow[0]:.3g}, last step {flow[-1]:.3g}")
        console.print(f"wrote {out / 'exploding.json'}, {out / 'exploding.png'}")

    @diagnose_app.command("hidden-states")
    def hidden_states(
        run_dir: Path = typer.Argument(..., help="a classify run directory"),
        text: str = typer.Argument(..., help="one input text, e.g. a review"),
        out: Path = typer.Option(..., "--out", help=OUT_HELP),
    ) -> None:
        """Heatmap of every layer's h_t over the tokens of one input (with mean gate activations):
        `seqlab diagnose hidden-states runs/nsmc "이 영화 진짜 최고다" --out diag/`."""
        from seqlab.diagnostics.inspect_run import hidden_states_of_run

        r = hidden_states_of_run(run_dir, text, out)
        console.print(f"prediction {r['prediction']['label']} ({r['prediction']['probability']:.3f})")
        if r["font"] is None:
            console.print(f"no installed font has glyphs for these tokens: the ticks are token indices, the tokens "
                          f"are listed in {r['tokens_file']}")
        console.print(f"wrote {r['json']}, {r['png']}")

    @diagnose_app.command("long-range")
    def long_range(
        out: Path = typer.Option(..., "--out", help=OUT_HELP),
        tasks: str = typer.Option("adding,copy", "--tasks", help="comma-separated: adding, copy"),
        lengths: str = typer.Option("50,100,200", "--lengths", help="comma-separated sequence lengths T"),
        cells: str = typer.Option("rnn,lstm,gru", "--cells", help=CELL_HELP),
        steps: int = typer.Option(500, "--steps", help="training steps, the same for every cell"),
        hidden_size: int = typer.Option(64, "--hidden-size", help="H"),
        batch_size: int = typer.Option(64, "--batch-size", help="examples per step"),
        lr: float = typer.Option(1e-2, "--lr", help="AdamW learning rate"),
        copy_len: int = typer.Option(10, "--copy-len", help="copy: symbols to remember"),
        test_examples: int = typer.Option(1024, "--test-examples", help="held-out test examples per run"),
        seed: int = typer.Option(1, "--seed", help="model init and data streams"),
        num_threads: int = typer.Option(0, "--num-threads", help="torch threads (0: torch's default)"),
    ) -> None:
        """Adding and copy at several T: RNN vs LSTM vs GRU after equal training, scored on held-out data.
        Writes long_range.json, long_range.md (a table) and long_range.png."""
        from seqlab.diagnostics import experiments
        from seqlab.errors import ConfigError

        task_list = [t.strip() for t in tasks.split(",") if t.strip()]
        if not task_list or any(t not in ("adding", "copy") for t in task_list):
            raise ConfigError(f"--tasks expects a comma-separated list of adding, copy; got {tasks!r}")
        if steps <= 0:
            raise ConfigError(f"--steps must be > 0, got {steps}")
        rows = experiments.long_range(task_list, _ints(lengths, "--lengths"), experiments.parse_cells(cells), out,
                                      steps=steps, hidden_size=hidden_size, batch_size=batch_size, lr=lr,
                                      seed=seed, test_examples=test_examples, copy_len=copy_len,
                                      num_threads=num_threads, log=console.print)
        console.print(experiments.long_range_table(rows))
        console.print(f"wrote {out / 'long_range.json'}, {out / 'long_range.md'}, {out / 'long_range.png'}")
