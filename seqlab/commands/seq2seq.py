"""`seqlab train seq2seq`, `seqlab translate` and its alias `seqlab respond`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from seqlab.commands import DATA_DIR_HELP, DATA_HELP, SET_HELP, build_config, print_summary

CONFIG_HELP_S2S = "preset file (.toml/.json) with one table per section: data, model, forcing, train, decode"


def register(app: typer.Typer, train_app: typer.Typer) -> None:
    from seqlab.cli import console, err

    @train_app.command("seq2seq")
    def train_seq2seq(
        out: Path = typer.Option(..., "--out", help="run directory to create (model.safetensors + model.json)"),
        data: str = typer.Option(None, "--data", help=DATA_HELP + " (pairs: .tsv source<TAB>target, .csv, .jsonl; "
                                 "default chatbot_data_ko)"),
        config: Path = typer.Option(None, "--config", help=CONFIG_HELP_S2S),
        sets: list[str] = typer.Option([], "--set", help=SET_HELP),
        src_col: str = typer.Option(None, "--src-col", help="user files: source column (TSV: 0-based index)"),
        tgt_col: str = typer.Option(None, "--tgt-col", help="user files: target column (TSV: 0-based index)"),
        reverse: bool = typer.Option(None, "--reverse/--no-reverse",
                                     help="swap source and target (tatoeba_kor_eng --reverse: Korean->English)"),
        data_dir: Path = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
        resume: bool = typer.Option(False, "--resume", help="continue an interrupted run in --out exactly"),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="show a progress bar"),
    ) -> None:
        """Train an encoder-decoder with attention: `seqlab train seq2seq --data chatbot_data_ko --out runs/chat`."""
        from seqlab.pipelines import seq2seq

        extra = [f"data.name={data}"] if data else []
        extra += [f"data.src_col={src_col}"] if src_col is not None else []
        extra += [f"data.tgt_col={tgt_col}"] if tgt_col is not None else []
        extra += [f"data.reverse={reverse}"] if reverse is not None else []
        cfg = build_config(seq2seq.CONFIG, config, extra + list(sets))
        console.print(f"training seq2seq ({cfg.model.cell}, attention {cfg.model.attention}) on "
                      f"[bold]{cfg.data.name}[/bold] -> {out}")
        summary = seq2seq.train(cfg, out, data_dir=data_dir, resume=resume, progress=progress, log=console.print)
        print_summary(console, summary, out)
        console.print(f"held out for `seqlab evaluate {out}`: {summary['split']['test']} test pairs")

    def translate(
        run_dir: Path = typer.Argument(..., help="a run directory made by `seqlab train seq2seq`"),
        texts: list[str] = typer.Argument(None, help="sentences (questions) to translate (answer)"),
        input: Path = typer.Option(None, "--input", help="file of sentences, one per line"),
        beam: int = typer.Option(None, "--beam", help="beam size; 1 is greedy (default: the run's decode.beam_size)"),
        length_penalty: float = typer.Option(None, "--length-penalty",
                                             help="α: rank hypotheses by log P / len^α (default: the run's)"),
        max_len: int = typer.Option(None, "--max-len", help="most tokens generated (default: the run's)"),
        nbest: int = typer.Option(1, "--nbest", help="print the N best hypotheses with their scores"),
        attention: Path = typer.Option(None, "--attention", help="write the attention heatmap of one input (PNG)"),
        as_json: bool = typer.Option(False, "--json", help="one JSON object per input"),
    ) -> None:
        """Translate or respond: `seqlab translate runs/chat "오늘 날씨 어때?" --beam 5`."""
        from seqlab.errors import DataError
        from seqlab.pipelines import seq2seq

        items = list(texts or [])
        if input is not None:
            from seqlab.data import read_text

            items += [line for line in read_text(input).splitlines() if line.strip()]
        if not items:
            raise typer.BadParameter("give sentences as arguments or --input FILE")
        if attention is not None and len(items) != 1:
            raise DataError(f"--attention draws one input's heatmap; got {len(items)} inputs: pass exactly one")
        results = seq2seq.translate(run_dir, items, beam=beam, length_penalty=length_penalty, max_len=max_len,
                                    nbest=nbest, attention=attention is not None)
        if attention is not None:
            r = results[0]
            seq2seq.plot_attention(r["attention"], r["source_tokens"], r["output_tokens"], attention,
                                   title=f"{r['text']} -> {r['translation']}", log=err.print)
        for r in results:
            if as_json:
                sys.stdout.write(json.dumps(r, ensure_ascii=False) + "\n")
            elif nbest > 1:
                sys.stdout.write(f"{r['text']}\n" + "".join(f"  {h['score']:.4f}\t{h['translation']}\n"
                                                            for h in r["nbest"]))
            else:
                sys.stdout.write(r["translation"] + "\n")
        if attention is not None:
            err.print(f"attention heatmap: {attention}")  # notices on stderr: stdout holds only outputs

    app.command("translate")(translate)
    app.command("respond", help="Alias of `seqlab translate` for chatbot runs: `seqlab respond runs/chat \"안녕\"`.")(
        translate)
