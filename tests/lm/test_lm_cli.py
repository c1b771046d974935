"""`seqlab train lm`, `seqlab generate`, and evaluate / predict on an LM run, as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from lm_corpora import SMALL

from seqlab.pipelines import lm

ENV = os.environ | {"PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}


def seqlab(*args, check=True, timeout=300):
    r = subprocess.run([sys.executable, "-m", "seqlab.cli", *map(str, args)], capture_output=True, text=True,
                       timeout=timeout, env=ENV)
    if check:
        assert r.returncode == 0, r.stdout + r.stderr
    return r


def _sets(*items):
    return [a for s in items for a in ("--set", s)]


@pytest.fixture(scope="module")
def run_dir(corpora, tmp_path_factory):
    out = tmp_path_factory.mktemp("lmcli") / "run"
    r = seqlab("train", "lm", "--data", corpora / "en.txt", "--tokenizer", "char", "--out", out, "--no-progress",
               *_sets(*SMALL, "train.epochs=3"))
    assert "best validation bpc" in r.stdout and "held out by position" in r.stdout
    return out


def test_evaluate_json_reports_bpc_and_perplexity(run_dir):
    r = seqlab("evaluate", run_dir, "--json")
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 1
    out = json.loads(lines[0])
    assert out["task"] == "lm" and out["split"] == "test" and out["held_out"] is True
    assert {"bpc", "perplexity", "loss", "nats_per_char"} <= set(out["metrics"])
    assert out["metrics"]["bpc"] < 1.5  # learned the grammar (uniform: log2(24) = 4.6 bits)


def test_generate_writes_a_repeatable_sample_and_warns_about_unknown_prompt_characters(run_dir):
    a = seqlab("generate", run_dir, "--prompt", "the ξ€ island", "--length", "120", "--temperature", "0.8",
               "--top-k", "10", "--top-p", "0.95", "--seed", "1")
    again = "".join(lm.generate(run_dir, "the ξ€ island", 120, temperature=0.8, top_k=10, top_p=0.95, seed=1,
                                warn=lambda msg: None))
    assert a.stdout == "the ξ€ island" + again + "\n" and len(again) == 120  # the seed repeats the sample
    assert a.stdout.count(".\n") >= 2  # writes sentences of the grammar
    assert "warning: 2 prompt character(s) not in the model's vocabulary, read as <unk>: 'ξ', '€'" in a.stderr


def test_generate_output_arrives_while_sampling_continues(run_dir):
    proc = subprocess.Popen([sys.executable, "-m", "seqlab.cli", "generate", str(run_dir), "--prompt", "the",
                             "--length", "2000000", "--seed", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=ENV)
    try:
        first = proc.stdout.read(40)  # blocks until 40 bytes were flushed
        assert len(first) == 40 and first.startswith(b"the")
        assert proc.poll() is None  # still sampling: the text was streamed, not printed at the end
    finally:
        proc.kill()
        proc.wait()


def test_predict_scores_texts(run_dir):
    r = seqlab("predict", run_dir, "the cat sat on the mat.", "mat the on sat cat the.")
    good, bad = r.stdout.strip().splitlines()
    assert good.startswith("bpc ") and good.endswith("the cat sat on the mat.")
    assert float(good.split()[1]) < float(bad.split()[1])


def _one_line_error(r, *fragments):
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    for f in fragments:
        assert f in r.stderr, r.stderr


def test_bad_input_gives_one_line_errors(run_dir, tmp_path):
    _one_line_error(seqlab("generate", run_dir, "--length", "0", check=False), "--length must be a positive")
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    _one_line_error(seqlab("train", "lm", "--data", empty, "--out", tmp_path / "e", check=False),
                    f"{empty}:1:", "file is empty")
    short = tmp_path / "short.txt"
    short.write_text("only a few words here\n" * 4)
    _one_line_error(seqlab("train", "lm", "--data", short, "--out", tmp_path / "s", check=False),
                    f"{short}:1:", "shorter than one window", "data.window")
