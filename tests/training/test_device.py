"""``train.device``: where the model trains, checked before any work starts."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from seqlab.config import RunConfig, apply_overrides
from seqlab.data.batching import BucketBatches
from seqlab.errors import ConfigError
from seqlab.training.trainer import _MovedLoader, _on, resolve_device

no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the behaviour of a machine without a GPU")


def test_cpu_and_auto_without_a_gpu():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")


@no_cuda
@pytest.mark.parametrize("name", ["cuda", "cuda:1"])
def test_asking_for_a_missing_gpu_is_a_config_error(name):
    with pytest.raises(ConfigError, match="no CUDA GPU; use train.device=cpu or auto"):
        resolve_device(name)


@pytest.mark.parametrize("name", ["tpu", "gpu", "meta"])
def test_unknown_devices_are_config_errors(name):
    with pytest.raises(ConfigError, match="train.device must be cpu, cuda, cuda:N or auto"):
        resolve_device(name)


def test_device_is_a_config_key_defaulting_to_cpu():
    assert RunConfig().train.device == "cpu"
    assert apply_overrides(RunConfig(), ["train.device=auto"]).train.device == "auto"


def test_validation_batches_follow_the_device():
    batches = BucketBatches([[1, 2, 3], [4, 5]], [0, 1], batch_size=2, seed=0, shuffle=False)
    assert _on(batches, torch.device("cpu")) is batches  # on the CPU nothing is wrapped
    moved = _MovedLoader(batches, torch.device("cpu"))
    assert len(moved) == len(batches) == 1
    assert moved.max_len is None and moved.batch_size == 2  # the loader's own attributes show through
    (b,) = list(moved)
    assert b.tokens.device.type == b.lengths.device.type == b.targets.device.type == "cpu"
    assert b.tokens.tolist() == [[1, 2, 3], [4, 5, 0]]


@no_cuda
def test_cli_train_on_a_missing_gpu_fails_in_one_line(tmp_path):
    data = tmp_path / "r.csv"
    data.write_text("text,label\nfine movie,1\nbad movie,0\n" * 5, encoding="utf-8")
    r = subprocess.run([sys.executable, "-m", "seqlab.cli", "train", "classify", "--data", str(data), "--out",
                        str(tmp_path / "run"), "--set", "data.tokenizer=word", "--set", "train.device=cuda"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "no CUDA GPU" in r.stderr and "Traceback" not in r.stderr
