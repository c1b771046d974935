"""Every CLI command, run as a user runs it: a real subprocess, exit codes, stdout and files."""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys

import pytest

ENV = os.environ | {"PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}


def seqlab(*args, check=True, timeout=300):
    r = subprocess.run([sys.executable, "-m", "seqlab.cli", *map(str, args)], capture_output=True, text=True,
                       timeout=timeout, env=ENV)
    if check:
        assert r.returncode == 0, r.stdout + r.stderr
    return r


def _reviews(n: int, seed: int) -> list[tuple[str, str]]:
    """Synthetic Korean reviews whose label is carried by one cue word among filler words."""
    rng = random.Random(seed)
    filler = ["영화", "배우", "연기", "스토리", "진짜", "그냥", "오늘", "보고", "왔는데", "음악", "장면", "감독"]
    cues = {"1": ["최고다", "재밌다", "감동적", "추천"], "0": ["최악", "지루하다", "별로", "실망"]}
    rows = []
    for _ in range(n):
        label = rng.choice("01")
        words = rng.sample(filler, rng.randint(2, 6))
        words.insert(rng.randrange(len(words) + 1), rng.choice(cues[label]))
        rows.append((" ".join(words), label))
    return rows


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    for name, n, seed in (("train.tsv", 600, 0), ("test.tsv", 200, 1)):
        lines = ["id\tdocument\tlabel"] + [f"{i}\t{t}\t{y}" for i, (t, y) in enumerate(_reviews(n, seed))]
        (d / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return d


@pytest.fixture(scope="module")
def run_dir(files):
    out = files / "run"
    r = seqlab("train", "classify", "--data", files / "train.tsv", "--text-col", "document", "--label-col", "label",
               "--out", out, "--no-progress", "--set", "data.tokenizer=word", "--set", "data.min_freq=1",
               "--set", "model.hidden_size=16", "--set", "model.embedding_dim=16", "--set", "train.epochs=4",
               "--set", "train.batch_size=16", "--set", "train.seed=3", "--set", "train.warmup_steps=10")
    assert "best validation accuracy" in r.stdout
    assert (out / "model.safetensors").exists() and (out / "model.json").exists()
    return out


def test_evaluate_json_prints_exactly_one_object_and_learns(run_dir, files):
    r = seqlab("evaluate", run_dir, "--data", files / "test.tsv", "--text-col", "document", "--label-col", "label",
               "--json")
    obj = json.loads(r.stdout)  # the whole stdout is one JSON object
    assert obj["task"] == "classify" and obj["split"] == "test"
    assert obj["metrics"]["accuracy"] > 0.9  # the cue word decides the label: a working model finds it
    assert sum(map(sum, obj["confusion"])) == 200


def test_evaluate_table_and_plot(run_dir, files):
    r = seqlab("evaluate", run_dir, "--data", files / "test.tsv", "--text-col", "document", "--label-col", "label")
    assert "accuracy" in r.stdout and "confusion matrix" in r.stdout
    assert (run_dir / "confusion_test.png").stat().st_size > 1000


def test_evaluate_an_ensemble_averages_the_runs_probabilities(run_dir, files):
    """Several runs (here: word and char tokenizers) are scored on the average of their class probabilities;
    the oracle is each run's Predictor, an independent path through the same models."""
    from seqlab.inference.predictor import Predictor

    other = files / "run_char"
    seqlab("train", "classify", "--data", files / "train.tsv", "--text-col", "document", "--label-col", "label",
           "--out", other, "--no-progress", "--set", "data.tokenizer=char", "--set", "model.hidden_size=16",
           "--set", "model.embedding_dim=16", "--set", "train.max_steps=30", "--set", "train.batch_size=16")
    test = [ln.split("\t") for ln in (files / "test.tsv").read_text(encoding="utf-8").splitlines()[1:]]
    texts, gold = [t for _, t, _ in test], [y for _, _, y in test]
    probs = [[p.probabilities for p in Predictor.from_run(r).predict(texts)] for r in (run_dir, other)]
    avg = [{k: (a[k] + b[k]) / 2 for k in a} for a, b in zip(*probs, strict=True)]
    want = sum(max(p, key=p.get) == y for p, y in zip(avg, gold, strict=True)) / len(gold)
    args = ["--data", files / "test.tsv", "--text-col", "document", "--label-col", "label", "--json"]
    obj = json.loads(seqlab("evaluate", run_dir, other, *args).stdout)
    assert obj["ensemble"] == [str(run_dir), str(other)] and obj["metrics"]["accuracy"] == pytest.approx(want)
    nll = -sum(math.log(p[y]) for p, y in zip(avg, gold, strict=True)) / len(gold)
    assert obj["metrics"]["loss"] == pytest.approx(nll, rel=1e-4)
    alone = json.loads(seqlab("evaluate", run_dir, *args).stdout)["metrics"]
    twice = json.loads(seqlab("evaluate", run_dir, run_dir, *args).stdout)["metrics"]
    assert twice == pytest.approx(alone)  # a run averaged with itself is the run
    r = seqlab("evaluate", run_dir, other, *args[:-1])
    assert "ensemble of 2 runs" in r.stdout and (run_dir / "confusion_test_ensemble2.png").exists()


def test_an_ensemble_of_different_tasks_is_one_line(run_dir, files, tmp_path):
    from seqlab.config import apply_overrides
    from seqlab.pipelines import lm

    (tmp_path / "text.txt").write_text("영화 진짜 최고다\n" * 200, encoding="utf-8")
    cfg = apply_overrides(lm.CONFIG(), [f"data.name={tmp_path / 'text.txt'}", "model.hidden_size=8",
                                        "model.embedding_dim=8", "data.window=10", "train.max_steps=2"])
    lm.train(cfg, tmp_path / "lm", progress=False, log=lambda msg: None)
    r = seqlab("evaluate", run_dir, tmp_path / "lm", "--data", files / "test.tsv", check=False)
    assert r.returncode == 2 and "is for classify runs" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_predict_texts_and_files(run_dir, files):
    r = seqlab("predict", run_dir, "영화 진짜 최고다", "스토리 최악")
    lines = r.stdout.strip().splitlines()
    assert [ln.split("\t")[0] for ln in lines] == ["1", "0"]
    assert all(0.5 < float(ln.split("\t")[1]) <= 1 for ln in lines)
    src = files / "in.txt"
    src.write_text("배우 연기 감동적\n\n음악 지루하다\n", encoding="utf-8")
    out = files / "preds.jsonl"
    seqlab("predict", run_dir, "--input", src, "--output", out)
    rows = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [r["label"] for r in rows] == ["1", "0"]
    assert abs(sum(rows[0]["probabilities"].values()) - 1) < 1e-5


def test_resume_of_finished_run_keeps_weights(run_dir, files):
    before = (run_dir / "model.safetensors").read_bytes()
    seqlab("train", "classify", "--data", files / "train.tsv", "--text-col", "document", "--label-col", "label",
           "--out", run_dir, "--no-progress", "--resume", "--set", "data.tokenizer=word", "--set", "data.min_freq=1",
           "--set", "model.hidden_size=16", "--set", "model.embedding_dim=16", "--set", "train.epochs=4",
           "--set", "train.batch_size=16", "--set", "train.seed=3", "--set", "train.warmup_steps=10")
    assert (run_dir / "model.safetensors").read_bytes() == before


def test_data_list_shows_registry():
    r = seqlab("data", "list")
    assert "nsmc" in r.stdout and "imdb" in r.stdout


def test_data_fetch_from_local_mirror(tmp_path, data_dir):
    import gzip
    import hashlib
    import threading
    from functools import partial
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    from seqlab.data import get_spec

    spec = get_spec("tatoeba_kor_eng")
    root = tmp_path / "mirror" / "tatoeba_kor_eng"
    root.mkdir(parents=True)
    for f in spec.files:
        stored = data_dir / "tatoeba_kor_eng" / f.name
        gz = stored.with_name(f.name + ".gz")
        data = stored.read_bytes() if stored.exists() else gzip.decompress(gz.read_bytes())
        assert hashlib.sha256(data).hexdigest() == f.sha256
        (root / f.name).write_bytes(data)
    handler = partial(SimpleHTTPRequestHandler, directory=str(tmp_path / "mirror"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        r = seqlab("data", "fetch", "tatoeba_kor_eng", "--cache-dir", tmp_path / "cache", "--mirror",
                   f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
    assert r.stdout.count("ok ") == len(spec.files)
    assert (tmp_path / "cache" / "tatoeba_kor_eng" / "kor.txt").exists()


@pytest.mark.parametrize("args,needle", [
    (["evaluate", "no/such/run"], "CheckpointError"),
    (["train", "classify", "--data", "missing.tsv", "--out", "x"], "DataError: missing.tsv"),
    (["train", "classify", "--out", "x", "--set", "model.hiden_size=3"], "unknown key model.hiden_size"),
    (["train", "classify", "--out", "x", "--set", "train.epochs=two"], "train.epochs expects a int"),
    (["data", "fetch", "nope"], "nope"),
])
def test_bad_input_one_line_exit_2_no_traceback(args, needle, tmp_path):
    r = subprocess.run([sys.executable, "-m", "seqlab.cli", *args], capture_output=True, text=True, timeout=120,
                       env=ENV, cwd=tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    assert needle in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_bad_row_names_file_and_line(files, tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("id\tdocument\tlabel\n1\t좋다\t1\n2\t별로\n", encoding="utf-8")
    r = seqlab("train", "classify", "--data", bad, "--text-col", "document", "--out", tmp_path / "r", check=False)
    assert r.returncode == 2
    assert f"{bad}:3:" in r.stderr and "Traceback" not in r.stderr


def test_evaluate_unseen_label_is_a_data_error(run_dir, tmp_path):
    f = tmp_path / "odd.tsv"
    f.write_text("id\tdocument\tlabel\n1\t영화 최고다\t7\n", encoding="utf-8")
    r = seqlab("evaluate", run_dir, "--data", f, "--text-col", "document", "--label-col", "label", check=False)
    assert r.returncode == 2 and f"{f}:2:" in r.stderr and "Traceback" not in r.stderr
