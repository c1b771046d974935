"""Every `seqlab diagnose` command on a tiny classify run and on fresh models of the synthetic tasks; bad input
exits 2 with one line naming the problem (and file:line for data).

Commands run through ``seqlab.cli.main`` (the real entry point: argument parsing, error handling, exit codes)
in this process, because starting a Python with torch costs seconds on a shared machine; the bad-input cases
that must hold for users also run as real subprocesses (``python -m seqlab.cli``).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from types import SimpleNamespace

import pytest

from seqlab.config import RunConfig, apply_overrides
from seqlab.diagnostics.plots import font_for

ENV = os.environ | {"PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}


@pytest.fixture
def seqlab(capfd, monkeypatch):
    """``seqlab(*args, code=0)`` runs ``seqlab.cli.main`` with ``args``; returns stdout, stderr."""
    from seqlab.cli import main

    def call(*args, code=0):
        monkeypatch.setattr(sys, "argv", ["seqlab", *map(str, args)])
        capfd.readouterr()
        try:
            main()
            rc = 0
        except SystemExit as e:
            rc = e.code or 0
        out, err = capfd.readouterr()
        assert rc == code, out + err
        return SimpleNamespace(stdout=out, stderr=err)

    return call


def subprocess_seqlab(*args, code=0):
    r = subprocess.run([sys.executable, "-m", "seqlab.cli", *map(str, args)], capture_output=True, text=True,
                       timeout=300, env=ENV)
    assert r.returncode == code, r.stdout + r.stderr
    return r


def _reviews(n: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    filler = ["영화", "배우", "연기", "스토리", "진짜", "그냥", "오늘", "음악", "장면", "감독"]
    cues = {"1": ["최고다", "재밌다", "감동적"], "0": ["최악", "지루하다", "별로"]}
    rows = []
    for _ in range(n):
        label = rng.choice("01")
        words = rng.sample(filler, rng.randint(2, 7))
        words.insert(rng.randrange(len(words) + 1), rng.choice(cues[label]))
        rows.append((" ".join(words), label))
    return rows


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny bidirectional LSTM classify run (trained in-process) and a test file."""
    import torch

    from seqlab.pipelines import classify

    d = tmp_path_factory.mktemp("diag")
    for name, n, seed in (("train.tsv", 240, 0), ("test.tsv", 60, 1)):
        lines = ["id\tdocument\tlabel"] + [f"{i}\t{t}\t{y}" for i, (t, y) in enumerate(_reviews(n, seed))]
        (d / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    cfg = apply_overrides(RunConfig(), [f"data.name={d / 'train.tsv'}", "data.text_col=document",
                                        "data.label_col=label", "data.tokenizer=word", "data.min_freq=1",
                                        "model.hidden_size=8", "model.embedding_dim=8", "train.epochs=1",
                                        "train.batch_size=32", "train.num_threads=1", "train.warmup_steps=2"])
    torch.set_num_threads(1)
    classify.train(cfg, d / "run", progress=False, log=lambda *a: None)
    return d


def test_gradient_flow_of_fresh_cells_on_a_task(seqlab, tmp_path):
    out = tmp_path / "gf"
    r = seqlab("diagnose", "gradient-flow", "--cell", "rnn,lstm,gru", "--task", "adding", "--steps", "3",
               "--length", "12", "--batch-size", "8", "--out", out)
    flow = json.loads((out / "gradient_flow.json").read_text())
    assert list(flow) == ["rnn", "lstm", "gru"] and all(len(v) == 12 and min(v) > 0 for v in flow.values())
    details = json.loads((out / "gradient_flow_details.json").read_text())
    assert details["runs"]["lstm"]["trained"]["steps"] == 3 and details["setup"]["task"] == "adding"
    assert all((out / f"gradient_flow_{c}.png").stat().st_size > 5000 for c in flow)
    assert (out / "gradient_flow.png").exists() and "ratio" in r.stdout


def test_gradient_flow_and_gates_of_a_classify_run(seqlab, run, tmp_path):
    data = ["--data", run / "test.tsv", "--text-col", "document", "--label-col", "label", "--batch-size", "16"]
    seqlab("diagnose", "gradient-flow", run / "run", *data, "--out", tmp_path / "gf")
    flow = json.loads((tmp_path / "gf" / "gradient_flow.json").read_text())
    details = json.loads((tmp_path / "gf" / "gradient_flow_details.json").read_text())
    T = details["setup"]["max_tokens"]
    assert list(flow) == ["lstm"] and len(flow["lstm"]) == T == len(details["runs"]["lstm"]["count"])
    assert details["runs"]["lstm"]["count"][-1] == 16 and set(details["runs"]["lstm"]["layers"]) == {"l0",
                                                                                                   "l0_reverse"}
    r = seqlab("diagnose", "gates", run / "run", *data, "--out", tmp_path / "g")
    gates = json.loads((tmp_path / "g" / "gates.json").read_text())["cells"]["lstm"]
    assert set(gates["saturation"]["l0_reverse"]) == {"i", "f", "o", "g"} and "spectral radius" in r.stdout
    assert (tmp_path / "g" / "gates_lstm.png").stat().st_size > 5000


def test_gates_of_fresh_cells_on_copy(seqlab, tmp_path):
    seqlab("diagnose", "gates", "--cell", "gru", "--task", "copy", "--length", "9", "--copy-len", "2",
           "--steps", "0", "--out", tmp_path)
    gates = json.loads((tmp_path / "gates.json").read_text())
    assert set(gates["cells"]["gru"]["saturation"]["l0"]) == {"r", "z", "n"}


def test_hidden_states_of_one_review(seqlab, run, tmp_path):
    r = seqlab("diagnose", "hidden-states", run / "run", "영화 진짜 최고다", "--out", tmp_path)
    doc = json.loads((tmp_path / "hidden_states.json").read_text())
    assert doc["tokens"] == ["영화", "진짜", "최고다"] and len(doc["layers"]["l0"]["h"]) == 3
    assert len(doc["layers"]["l0_reverse"]["gates"]["f"][0]) == 8 and doc["prediction"]["label"] in ("0", "1")
    assert (tmp_path / "hidden_states.png").stat().st_size > 5000
    if font_for(doc["tokens"]) is None:  # no Hangul font installed: indices on the axis, tokens beside it
        assert (tmp_path / "hidden_states_tokens.txt").read_text(encoding="utf-8") == "0\t영화\n1\t진짜\n2\t최고다\n"
        assert "token indices" in r.stdout


def test_exploding_with_and_without_clipping(seqlab, tmp_path):
    seqlab("diagnose", "exploding", "--cell", "rnn", "--task", "adding", "--length", "20", "--radius", "3",
           "--steps", "10", "--batch-size", "8", "--out", tmp_path)
    r = json.loads((tmp_path / "exploding.json").read_text())
    flows = list(r["grad_flow"].values())
    assert flows[1][0] > flows[0][0]  # ρ = 3 carries more gradient back to t = 0 than the default init
    runs = r["runs"]
    assert runs["no clipping"]["clipped_fraction"] == 0.0 and runs["clip 1"]["clipped_fraction"] > 0
    assert (tmp_path / "noclip" / "metrics.jsonl").exists() and (tmp_path / "exploding.png").exists()


def test_long_range_grid(seqlab, tmp_path):
    r = seqlab("diagnose", "long-range", "--lengths", "8,12", "--cells", "rnn,gru", "--steps", "3", "--copy-len",
               "2", "--batch-size", "8", "--test-examples", "256", "--out", tmp_path)
    rows = json.loads((tmp_path / "long_range.json").read_text())["results"]
    assert [(x["task"], x["length"], x["cell"]) for x in rows][:3] == [("adding", 8, "rnn"), ("adding", 8, "gru"),
                                                                     ("adding", 12, "rnn")]
    assert len(rows) == 8 and "copy: test accuracy" in (tmp_path / "long_range.md").read_text()
    assert "rnn grad ratio" in r.stdout


@pytest.mark.parametrize("args,message", [
    (["gradient-flow", "--out", "x"], "either a RUN_DIR"),
    (["gradient-flow", "--task", "sorting", "--out", "x"], "task must be one of adding, copy"),
    (["gradient-flow", "--task", "copy", "--length", "10", "--out", "x"], "length >= 2 * copy_len + 1"),
    (["gates", "--task", "adding", "--cell", "lstm,transformer", "--out", "x"], "--cell must be"),
    (["exploding", "--cell", "rnn,gru", "--out", "x"], "one cell"),
    (["long-range", "--lengths", "50,abc", "--out", "x"], "--lengths expects"),
    (["long-range", "--tasks", "adding,sorting", "--out", "x"], "--tasks expects"),
    (["exploding", "--radius", "-1", "--out", "x"], "must be > 0"),
])
def test_bad_arguments_exit_2_with_one_line(seqlab, args, message):
    r = seqlab("diagnose", *args, code=2)
    assert message in r.stderr and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_a_label_unseen_in_training_names_file_and_line_in_a_real_subprocess(run, tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("id\tdocument\tlabel\n0\t영화 최고다\t1\n1\t영화 별로\tneutral\n", encoding="utf-8")
    r = subprocess_seqlab("diagnose", "gradient-flow", run / "run", "--data", bad, "--text-col", "document",
                          "--label-col", "label", "--out", tmp_path / "o", code=2)
    assert f"{bad}:3" in r.stderr and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_a_run_dir_and_a_task_together_are_refused(seqlab, run, tmp_path):
    r = seqlab("diagnose", "gradient-flow", run / "run", "--task", "adding", "--out", tmp_path, code=2)
    assert "not both" in r.stderr and "Traceback" not in r.stderr
    r = seqlab("diagnose", "gates", run / "run", "--cell", "gru", "--out", tmp_path, code=2)
    assert "--cell applies to --task only" in r.stderr
