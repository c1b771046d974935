"""Trainer: repeatability, exact resume after SIGKILL, early stopping, max_steps, clipping, the metrics log."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import safetensors.torch
import torch
from tinyrun import CONFIG, Classify, TinyLoader, TinyModel, run

from seqlab.errors import ConfigError
from seqlab.training.checkpoint import load_model, load_resume
from seqlab.training.trainer import Trainer, lr_factor, param_groups

ROOT = Path(__file__).resolve().parents[2]
TINYRUN = Path(__file__).with_name("tinyrun.py")


def _cfg(**changes):
    return dataclasses.replace(CONFIG, **changes)


def _events(run_dir: Path, *kinds: str) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    for r in records:  # wall time differs between runs by nature; everything else must be identical
        r.pop("elapsed_s", None)
    return [r for r in records if not kinds or r["event"] in kinds]


def _assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_same_seed_gives_identical_weights(tmp_path):
    first = run(tmp_path / "a")
    second = run(tmp_path / "b")
    _assert_same_weights(first["model"].state_dict(), second["model"].state_dict())
    _assert_same_weights(load_model(tmp_path / "a")[0], load_model(tmp_path / "b")[0])
    assert _events(tmp_path / "a", "train", "val") == _events(tmp_path / "b", "train", "val")
    third = run(None, _cfg(seed=8))  # the seed matters (dropout, via the trainer's seeding)
    assert not torch.equal(third["model"].out.weight, first["model"].out.weight)


def _run_tinyrun(run_dir: Path, *args: str, **popen) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, str(TINYRUN), str(run_dir), *args]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **popen)


@pytest.mark.slow
def test_sigkill_then_resume_equals_an_uninterrupted_run(tmp_path):
    """A child is SIGKILLed after 10 of 24 steps (resume state saved at step 9: mid-epoch 1), a second
    child resumes; weights, optimizer moments, RNG and the metrics log match an uninterrupted run."""
    killed_dir, ref_dir = tmp_path / "killed", tmp_path / "ref"
    child = _run_tinyrun(killed_dir, "--stall-after", "10")
    run(ref_dir)  # the uninterrupted run, in this process while the child starts
    deadline = time.monotonic() + 60
    while not (killed_dir / "stalled").exists():
        assert child.poll() is None, child.stdout.read().decode()
        assert time.monotonic() < deadline, "child never reached the stall point"
        time.sleep(0.05)
    os.kill(child.pid, signal.SIGKILL)
    assert child.wait(timeout=30) == -signal.SIGKILL
    saved = json.loads((killed_dir / "resume.json").read_text())["state"]["trainer"]
    assert (saved["step"], saved["epoch"], saved["batch"]) == (9, 1, 1)

    resumed = _run_tinyrun(killed_dir, "--resume")
    out, _ = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, out.decode()

    _assert_same_weights(load_model(killed_dir)[0], load_model(ref_dir)[0])
    final_killed = safetensors.torch.load_file(killed_dir / "resume.safetensors")
    final_ref = safetensors.torch.load_file(ref_dir / "resume.safetensors")
    _assert_same_weights(final_killed, final_ref)  # weights, AdamW moments, torch RNG state
    kinds = ("train", "val", "grad_flow")
    assert _events(killed_dir, *kinds) == _events(ref_dir, *kinds)
    assert [r["event"] for r in _events(killed_dir, "start", "resume", "end")] == ["start", "resume", "end"]


def test_resuming_a_finished_run_trains_no_more(tmp_path):
    done = run(tmp_path)
    again = run(tmp_path, resume=True)
    assert again["steps"] == done["steps"] == 24
    _assert_same_weights(again["model"].state_dict(), done["model"].state_dict())


def test_resume_without_a_checkpoint_starts_fresh(tmp_path):
    fresh = run(tmp_path / "a", _cfg(max_steps=4))
    resumed = run(tmp_path / "b", _cfg(max_steps=4), resume=True)
    _assert_same_weights(fresh["model"].state_dict(), resumed["model"].state_dict())


def test_max_steps_is_respected(tmp_path):
    summary = run(tmp_path, _cfg(max_steps=5, eval_every=0))
    assert summary["steps"] == 5 and summary["epochs"] == pytest.approx(5 / 8)
    steps = [r["step"] for r in _events(tmp_path, "train", "val")]
    assert max(steps) == 5 and steps[-1] == 5  # a final validation covers the unvalidated last step
    state = load_resume(tmp_path, TinyModel(), None, None)
    assert state["step"] == 5


class _Flat(Classify):
    """A validation metric that never improves after the first evaluation."""

    def evaluate(self, model, loader):
        return {"accuracy": 0.5}


def test_early_stopping_stops_after_patience_validations(tmp_path):
    cfg = _cfg(eval_every=2, patience=3)
    trainer = Trainer(TinyModel(), _Flat(), cfg, run_dir=tmp_path, progress=False)
    summary = trainer.fit(TinyLoader(), TinyLoader(n=16))
    assert summary["stopped_early"] and summary["steps"] == 8  # improved at 2; no better at 4, 6, 8
    vals = _events(tmp_path, "val")
    assert [v["step"] for v in vals] == [2, 4, 6, 8] and vals[-1]["bad_evals"] == 3
    assert load_model(tmp_path)[1]["checkpoint"]["step"] == 2


class _Scripted(Classify):
    metric, mode = "loss", "min"

    def __init__(self, values):
        self.values = iter(values)

    def evaluate(self, model, loader):
        return {"loss": next(self.values)}


def test_best_weights_are_saved_and_restored(tmp_path):
    cfg = _cfg(eval_every=6, epochs=3)  # validations at 6, 12, 18, 24
    trainer = Trainer(TinyModel(), _Scripted([0.9, 0.3, math.nan, 0.5]), cfg, run_dir=tmp_path, progress=False)
    summary = trainer.fit(TinyLoader(), TinyLoader(n=16))
    assert (summary["best_metric"], summary["best_step"]) == (0.3, 12)
    best, meta = load_model(tmp_path)
    assert meta["checkpoint"] == {"step": 12, "epoch": 1, "metric": "loss", "value": 0.3}
    _assert_same_weights(trainer.model.state_dict(), best)
    final = safetensors.torch.load_file(tmp_path / "resume.safetensors")
    assert not torch.equal(final["model.out.weight"], best["out.weight"])  # the last step was not the best


def test_without_validation_the_final_weights_are_saved(tmp_path):
    trainer = Trainer(TinyModel(), Classify(), _cfg(max_steps=3), run_dir=tmp_path, progress=False)
    trainer.fit(TinyLoader())
    _assert_same_weights(load_model(tmp_path)[0], trainer.model.state_dict())


@pytest.mark.parametrize(("clip_norm", "fraction"), [(1e-6, 1.0), (0.0, 0.0)])
def test_clipped_fraction_is_logged(tmp_path, clip_norm, fraction):
    summary = run(tmp_path, _cfg(clip_norm=clip_norm, max_steps=10))
    assert summary["clipped_fraction"] == fraction
    train = _events(tmp_path, "train")
    assert [r["clipped_fraction"] for r in train] == [fraction]
    assert train[0]["grad_norm"] > 0


def test_metrics_log_is_jsonl_with_every_event(tmp_path):
    run(tmp_path, _cfg(eval_every=5, max_steps=12))
    records = _events(tmp_path)
    assert [r["event"] for r in records][0] == "start" and records[-1]["event"] == "end"
    train = [r for r in records if r["event"] == "train"]
    assert [r["step"] for r in train] == [10, 12]
    assert all({"loss", "lr", "grad_norm", "clipped_fraction"} <= r.keys() for r in train)
    assert [r["step"] for r in records if r["event"] == "val"] == [5, 10, 12]
    assert [r["step"] for r in records if r["event"] == "grad_flow"] == [3, 7, 11]
    steps = [r["step"] for r in records]
    assert steps == sorted(steps)


def test_lr_schedule_warms_up_then_decays():
    assert [lr_factor(s, 4, 12, "constant") for s in (0, 3, 11)] == [0.25, 1.0, 1.0]
    linear = [lr_factor(s, 4, 12, "linear") for s in range(12)]
    assert linear[:4] == [0.25, 0.5, 0.75, 1.0] and linear[4:] == [1 - i / 8 for i in range(8)]
    cosine = [lr_factor(s, 0, 10, "cosine") for s in range(11)]
    assert cosine[0] == 1.0 and cosine[5] == pytest.approx(0.5) and cosine[10] == pytest.approx(0.0)


def test_logged_lr_follows_the_schedule(tmp_path):
    run(tmp_path, _cfg(schedule="linear", warmup_steps=4, max_steps=10, eval_every=0))
    (train,) = _events(tmp_path, "train")
    assert train["lr"] == pytest.approx(CONFIG.lr * lr_factor(9, 4, 10, "linear"))


def test_weight_decay_skips_biases_and_embeddings():
    model = TinyModel()
    decay, no_decay = param_groups(model, 0.1)
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    ids = lambda ps: {id(p) for p in ps}  # noqa: E731
    assert ids(decay["params"]) == ids([model.rnn.weight_ih_l0, model.rnn.weight_hh_l0, model.out.weight])
    assert id(model.emb.weight) in ids(no_decay["params"]) and id(model.out.bias) in ids(no_decay["params"])


def test_progress_bar_runs_on_a_terminal(tmp_path, monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    trainer = Trainer(TinyModel(), Classify(), _cfg(max_steps=3), progress=True)
    assert trainer.fit(TinyLoader(), TinyLoader(n=16))["steps"] == 3


def test_bad_config_and_objective_are_reported():
    with pytest.raises(ConfigError, match="train.schedule must be one of linear, cosine, constant"):
        Trainer(TinyModel(), Classify(), _cfg(schedule="step"))
    with pytest.raises(ConfigError, match="train.max_steps must be >= 0"):
        Trainer(TinyModel(), Classify(), _cfg(max_steps=-1))
    wrong = Classify()
    wrong.metric = "f1"
    trainer = Trainer(TinyModel(), wrong, _cfg(max_steps=2), progress=False)
    with pytest.raises(ValueError, match=r"no 'f1' \(objective.metric\); it returned \['accuracy', 'loss'\]"):
        trainer.fit(TinyLoader(), TinyLoader(n=16))
    with pytest.raises(ValueError, match="needs run_dir"):
        Trainer(TinyModel(), Classify(), CONFIG).fit(TinyLoader(), resume=True)
