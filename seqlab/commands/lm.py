"""`seqlab train lm` and `seqlab generate` (evaluate / predict dispatch here by the run's task)."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from seqlab.commands import CONFIG_HELP, DATA_DIR_HELP, SET_HELP, build_config, print_summary

LM_DATA_HELP = ("corpus: mysterious_island, tiny_shakespeare, nsmc (review text), or a UTF-8 text file "
                "[default: mysterious_island]")


def register(app: typer.Typer, train_app: typer.Typer) -> None:
    from seqlab.cli import console, err

    @train_app.command("lm")
    def train_lm(
        out: Path = typer.Option(..., "--out", help="run directory to create (model.safetensors + model.json)"),
        data: str = typer.Option(None, "--data", help=LM_DATA_HELP),
        tokenizer: str = typer.Option(None, "--tokenizer", help="char | subword (BPE) | unigram [default: char]"),
        config: Path = typer.Option(None, "--config", help=CONFIG_HELP),
        sets: list[str] = typer.Option([], "--set", help=SET_HELP),
        data_dir: Path = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
        resume: bool = typer.Option(False, "--resume", help="continue an interrupted run in --out"),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="show a progress bar"),
    ) -> None:
        """Train a language model with stateful truncated BPTT:
        `seqlab train lm --data mysterious_island --tokenizer char --out runs/mi`."""
        from seqlab.pipelines import lm

        extra = [f"data.name={data}"] if data else []
        extra += [f"data.tokenizer={tokenizer}"] if tokenizer else []
        cfg = build_config(lm.CONFIG, config, extra + list(sets))
        console.print(f"training lm on [bold]{cfg.data.name}[/bold] ({cfg.data.tokenizer}) -> {out}")
        summary = lm.train(cfg, out, data_dir=data_dir, resume=resume, progress=progress, log=console.print)
        print_summary(console, summary, out)

    @app.command("generate")
    def generate(
        run_dir: Path = typer.Argument(..., help="a run directory made by `seqlab train lm`"),
        prompt: str = typer.Option("", "--prompt", help="text to prime the model with [default: a newline]"),
        length: int = typer.Option(500, "--length", help="tokens to generate (characters for char models)"),
        temperature: float = typer.Option(0.8, "--temperature", help="sampling temperature; 0 is greedy"),
        top_k: int = typer.Option(0, "--top-k", help="sample among the k most likely tokens (0: off)"),
        top_p: float = typer.Option(1.0, "--top-p", help="nucleus sampling: smallest set with mass >= p (1: off)"),
        seed: int = typer.Option(None, "--seed", help="random seed for a repeatable sample"),
    ) -> None:
        """Write text: `seqlab generate runs/mi --prompt "The island" --length 500 --temperature 0.8`.
        The prompt is printed, then the continuation streams out as it is sampled."""
        from seqlab.pipelines import lm

        def warn(msg: str) -> None:
            err.print(f"warning: {msg}", highlight=False, markup=False, soft_wrap=True)

        pieces = lm.generate(run_dir, prompt, length, temperature=temperature, top_k=top_k, top_p=top_p,
                             seed=seed, warn=warn)
        sys.stdout.write(prompt)
        sys.stdout.flush()
        for piece in pieces:
            sys.stdout.write(piece)
            sys.stdout.flush()
        sys.stdout.write("\n")
