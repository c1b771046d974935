"""`seqlab train seq2seq`, `seqlab evaluate --json`, `seqlab translate` / `respond` (beam, n-best, attention
heatmap) run as a user runs them, and bad input as one stderr line with exit code 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.seq2seq.helpers import fruit_pairs, write_pairs

ENV = os.environ | {"PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
TINY = ["--set", "data.tokenizer=word", "--set", "data.min_freq=1", "--set", "model.hidden_size=32",
        "--set", "model.embedding_dim=16", "--set", "train.batch_size=16", "--set", "train.warmup_steps=10",
        "--set", "train.num_threads=1", "--set", "train.lr=0.01"]


def seqlab(*args, check=True):
    r = subprocess.run([sys.executable, "-m", "seqlab.cli", *map(str, args)], capture_output=True, text=True,
                       timeout=300, env=ENV)
    if check:
        assert r.returncode == 0, r.stdout + r.stderr
    return r


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("s2s_cli")
    write_pairs(d / "fruit.tsv", fruit_pairs(400, seed=1))
    r = seqlab("train", "seq2seq", "--data", d / "fruit.tsv", "--out", d / "run", "--no-progress", *TINY,
               "--set", "train.epochs=10", "--set", "model.attention=bahdanau")
    assert "best validation loss" in r.stdout and "test pairs" in r.stdout
    return d / "run"


def test_evaluate_json_reports_held_out_bleu_and_chrf(run_dir):
    r = seqlab("evaluate", run_dir, "--json")
    out = json.loads(r.stdout)  # exactly one JSON object
    assert (out["task"], out["split"]) == ("seq2seq", "test")
    assert out["examples"] > 0
    assert out["metrics"]["bleu"] > 80 and out["metrics"]["chrf"] > 90  # the word-for-word mapping is learned


def test_translate_and_respond_with_beam_nbest_and_attention_heatmap(run_dir, tmp_path):
    r = seqlab("translate", run_dir, "사과 포도", "레몬", "--beam", "3", "--nbest", "2", "--json")
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert [x["text"] for x in lines] == ["사과 포도", "레몬"]
    assert lines[0]["translation"] == "apple grape" and lines[1]["translation"] == "lemon"
    assert len(lines[0]["nbest"]) == 2 and lines[0]["nbest"][0]["score"] >= lines[0]["nbest"][1]["score"]
    png = tmp_path / "att.png"
    r = seqlab("respond", run_dir, "수박 자두 딸기", "--beam", "1", "--attention", png)
    assert r.stdout == "watermelon plum strawberry\n"  # notices go to stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and str(png) in r.stderr


@pytest.mark.parametrize(
    ("text", "extra", "where", "what"),
    [
        ("사과\tapple\n포도 grape\n", [], ":2:", "no tab on this line"),
        ("사과\tapple\n포도\t\n", [], ":2:", "empty target"),
        ("사과\tapple\n" + "포도 " * 20 + "\tgrape\n", ["--set", "data.max_chars=50"], ":2:", "over the limit of 50"),
    ],
)
def test_bad_pairs_file_is_one_line_exit_2(tmp_path, text, extra, where, what):
    bad = tmp_path / "bad.tsv"
    bad.write_text(text, encoding="utf-8")
    r = seqlab("train", "seq2seq", "--data", bad, "--out", tmp_path / "run", "--no-progress", *extra, check=False)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    assert f"{bad}{where}" in r.stderr and what in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_translate_empty_input_is_one_line_exit_2(run_dir):
    r = seqlab("translate", run_dir, " ", check=False)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "input 1 is empty" in r.stderr
