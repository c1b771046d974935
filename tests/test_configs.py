"""The presets in configs/: each loads into its own task's run config, and a preset handed to another task's
``train`` command is a one-line error, not a silently mixed config."""

from __future__ import annotations

import dataclasses
import importlib
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from seqlab.config import load_config
from seqlab.errors import ConfigError

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.toml"))


def test_there_are_presets():
    assert {p.stem for p in CONFIGS} >= {"nsmc", "imdb"}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_preset_loads_into_its_task(path):
    raw = tomllib.loads(path.read_text())
    task = raw["task"]  # every preset names its task, so `seqlab train <task> --config` can check it
    cls = importlib.import_module(f"seqlab.pipelines.{task}").CONFIG
    cfg = load_config(path, cls)
    assert cfg.task == task
    for section, values in raw.items():
        if isinstance(values, dict):  # every key written in the file reached the config unchanged
            for key, value in values.items():
                assert getattr(getattr(cfg, section), key) == value, f"{section}.{key}"


def test_preset_of_another_task_is_refused(tmp_path):
    lm = tmp_path / "lm.toml"
    lm.write_text('task = "lm"\n[model]\nhidden_size = 64\n')
    cls = importlib.import_module("seqlab.pipelines.classify").CONFIG
    with pytest.raises(ConfigError, match=r"lm\.toml: this preset is for task 'lm', not 'classify'"):
        load_config(lm, cls)
    r = subprocess.run([sys.executable, "-m", "seqlab.cli", "train", "classify", "--data", "nsmc", "--config",
                        str(lm), "--out", str(tmp_path / "run")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert "seqlab train lm --config" in r.stdout + r.stderr
    assert "Traceback" not in r.stdout + r.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("task", ["classify", "lm", "tag", "seq2seq", "forecast"])
def test_keys_a_preset_leaves_out_keep_the_tasks_defaults(tmp_path, task):
    """Only the keys written in the file change; the rest are the task's defaults (the LM's 10 epochs and
    cosine schedule, the tagger's batch of 32), not the bare defaults of the section classes."""
    cls = importlib.import_module(f"seqlab.pipelines.{task}").CONFIG
    default = cls()
    path = tmp_path / "p.toml"
    path.write_text(f'task = "{task}"\n[train]\nseed = 7\n')
    cfg = load_config(path, cls)
    assert cfg.train == dataclasses.replace(default.train, seed=7)
    assert cfg == dataclasses.replace(default, train=cfg.train)


@pytest.mark.parametrize("content", [b"task = \"lm\"\n[model\n", b"\xff\xfe not utf-8", b"[1, 2]"])
def test_a_broken_preset_is_one_config_error(tmp_path, content):
    path = tmp_path / ("p.json" if content.startswith(b"[") else "p.toml")
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=r"p\.(toml|json): "):
        load_config(path, importlib.import_module("seqlab.pipelines.lm").CONFIG)
