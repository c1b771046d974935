"""`seqlab train tag`: NER / POS taggers (BiLSTM over words + character features, softmax or CRF)."""

from __future__ import annotations

from pathlib import Path

import typer

from seqlab.commands import CONFIG_HELP, DATA_DIR_HELP, SET_HELP, build_config, print_summary

TAG_DATA_HELP = ("conll2003 | ud_english_ewt | ud_korean_gsd | korean_ner_kmou, or a file: CoNLL columns, "
                 ".conllu, token<TAB>tag (blank line between sentences) or .jsonl {tokens, tags} [default: conll2003]")


def register(app: typer.Typer, train_app: typer.Typer) -> None:
    from seqlab.cli import console

    @train_app.command("tag")
    def train_tag(
        out: Path = typer.Option(..., "--out", help="run directory to create (model.safetensors + model.json)"),
        data: str = typer.Option(None, "--data", help=TAG_DATA_HELP),
        column: str = typer.Option(None, "--column", help="tag column: ner | chunk | pos (CoNLL-2003), upos | xpos "
                                                          "(CoNLL-U) [default: ner / upos]"),
        format: str = typer.Option(None, "--format", help="user files: conll | conllu | tsv | jsonl | kmou "
                                                          "[default: by suffix, then content]"),
        embeddings: Path = typer.Option(None, "--embeddings", help="pretrained word vectors: word2vec/fastText/"
                                                                   "GloVe text file (.vec/.txt, optionally .gz)"),
        config: Path = typer.Option(None, "--config", help=CONFIG_HELP),
        sets: list[str] = typer.Option([], "--set", help=SET_HELP),
        data_dir: Path = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
        resume: bool = typer.Option(False, "--resume", help="continue an interrupted run in --out exactly"),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="show a progress bar"),
    ) -> None:
        """Train a sequence tagger (one tag per token): `seqlab train tag --data conll2003 --out runs/ner`."""
        from seqlab.pipelines import tag

        extra = [f"data.name={data}"] if data else []
        extra += [f"data.column={column}"] if column else []
        extra += [f"data.format={format}"] if format else []
        extra += [f"data.embeddings={embeddings}"] if embeddings else []
        cfg = build_config(tag.CONFIG, config, extra + list(sets))
        console.print(f"training tag on [bold]{cfg.data.name}[/bold] -> {out}")
        summary = tag.train(cfg, out, data_dir=data_dir, resume=resume, progress=progress, log=console.print)
        print_summary(console, summary, out)
