"""Checkpoints: round trips, crash safety, and refusal of anything that is not safetensors + JSON."""

from __future__ import annotations

import json
import os
import pickle
import random

import numpy as np
import pytest
import torch
from torch import nn

from seqlab.errors import CheckpointError
from seqlab.training import checkpoint
from seqlab.training.checkpoint import load_model, load_resume, save_model, save_resume


def _state(v: float) -> dict[str, torch.Tensor]:
    return {"w": torch.full((3, 4), v), "b": torch.arange(4) + int(v), "mask": torch.tensor([True, False])}


def _assert_equal(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]), k


def test_model_round_trip_keeps_tensors_meta_and_versions(tmp_path):
    sd = {**_state(1.0), "half": torch.randn(2, 3).to(torch.bfloat16)}
    meta = {"config": {"model": {"hidden_size": 16}}, "vocab": ["<pad>", "<unk>", "가"], "labels": [0, 1]}
    save_model(tmp_path, sd, meta)
    got, got_meta = load_model(tmp_path)
    _assert_equal(got, sd)
    versions = got_meta.pop("versions")
    assert got_meta == meta
    assert versions["torch"] == torch.__version__ and versions["format_version"] == checkpoint.FORMAT_VERSION
    assert {p.name for p in tmp_path.iterdir()} == {"model.safetensors", "model.json"}
    assert checkpoint.load_meta(tmp_path) == {**meta, "versions": versions}  # model.json alone, the same meta


def test_a_header_length_that_starts_like_a_pickle_still_loads(tmp_path):
    """A safetensors file opens with its header length, little-endian: one file in 256 starts with 0x80."""
    for k in range(512):  # the tensor name's length moves the header length through every low byte
        sd = {"w" * (k + 1): torch.arange(6.0).view(2, 3)}
        save_model(tmp_path, sd, {"k": k})
        if (tmp_path / "model.safetensors").read_bytes()[0] == 0x80:  # the byte a pickle opens with
            break
    else:
        pytest.fail("no name length gave the wanted first byte")
    got, meta = load_model(tmp_path)
    _assert_equal(got, sd)
    assert meta["k"] == k


def test_tied_weights_are_saved(tmp_path):
    emb = nn.Embedding(5, 3)
    head = nn.Linear(3, 5, bias=False)
    head.weight = emb.weight  # tied: two names, one storage
    model = nn.Sequential(emb, head)
    save_model(tmp_path, model.state_dict(), {})
    got, _ = load_model(tmp_path)
    assert torch.equal(got["0.weight"], got["1.weight"])


def test_meta_that_is_not_json_raises_and_writes_nothing(tmp_path):
    with pytest.raises(ValueError, match="JSON-serialisable"):
        save_model(tmp_path, _state(1.0), {"config": object()})
    assert not (tmp_path / "model.json").exists() and not (tmp_path / "model.safetensors").exists()


def test_missing_checkpoint_names_the_file(tmp_path):
    with pytest.raises(CheckpointError, match=r"model\.json: not found.*run directory"):
        load_model(tmp_path / "nope")


def test_missing_tensor_file_names_it(tmp_path):
    save_model(tmp_path, _state(1.0), {})
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match=r"model\.safetensors: not found"):
        load_model(tmp_path)


def test_json_that_does_not_parse_names_the_file(tmp_path):
    save_model(tmp_path, _state(1.0), {})
    (tmp_path / "model.json").write_text('{"format_version": 1, "meta": ')
    with pytest.raises(CheckpointError, match=r"model\.json: not valid JSON"):
        load_model(tmp_path)


def test_modified_tensor_data_is_detected(tmp_path):
    save_model(tmp_path, _state(1.0), {})
    path = tmp_path / "model.safetensors"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # flip bits of the last tensor
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="sha256 differs"):
        load_model(tmp_path)


def _rewrite_tensor_file(run_dir, data: bytes) -> None:
    """Replace model.safetensors and re-sign model.json so the sha256 check passes: only the parser
    stands between the bytes and the caller."""
    (run_dir / "model.safetensors").write_bytes(data)
    doc = json.loads((run_dir / "model.json").read_text())
    doc["sha256"] = checkpoint._sha256(data)
    (run_dir / "model.json").write_text(json.dumps(doc))


@pytest.mark.parametrize(
    "tamper",
    [
        lambda d: (10**12).to_bytes(8, "little") + d[8:],  # header length past the end
        lambda d: d[:8] + b"[" + d[9:],  # header is not a JSON object
        lambda d: d[:8] + d[8:].replace(b'"F32"', b'"X99"', 1),  # unknown dtype
        lambda d: d[:8] + d[8:].replace(b'"shape":[3,4]', b'"shape":[9,9]', 1),  # offsets disagree
        lambda d: d[:5],  # truncated
    ],
    ids=["length", "not-object", "dtype", "shape", "truncated"],
)
def test_tampered_header_is_rejected(tmp_path, tamper):
    save_model(tmp_path, _state(1.0), {})
    data = (tmp_path / "model.safetensors").read_bytes()
    bad = tamper(data)
    assert bad != data
    _rewrite_tensor_file(tmp_path, bad)
    with pytest.raises(CheckpointError, match=r"model\.safetensors: "):
        load_model(tmp_path)


class _Payload:
    """Unpickling this creates ``marker``: a stand-in for arbitrary code execution."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("writer", ["pickle", "torch.save"])
@pytest.mark.parametrize("signed", [False, True], ids=["unsigned", "json-re-signed"])
def test_malicious_pickle_is_refused_without_running(tmp_path, monkeypatch, writer, signed):
    # control: the payload really runs when something unpickles it
    control = tmp_path / "control-marker"
    pickle.loads(pickle.dumps(_Payload(control)))
    assert control.exists()

    run_dir, marker = tmp_path / "run", tmp_path / "marker"
    save_model(run_dir, _state(1.0), {})
    path = run_dir / "model.safetensors"
    if writer == "pickle":
        path.write_bytes(pickle.dumps({"w": _Payload(marker)}))
    else:
        torch.save({"w": _Payload(marker)}, path)
    if signed:
        _rewrite_tensor_file(run_dir, path.read_bytes())

    def forbidden(*a, **k):
        raise AssertionError("checkpoint loading must never unpickle")

    for mod, name in [(torch, "load"), (pickle, "load"), (pickle, "loads"), (pickle, "Unpickler")]:
        monkeypatch.setattr(mod, name, forbidden)
    with pytest.raises(CheckpointError, match=r"model\.safetensors: .*never unpickles"):
        load_model(run_dir)
    assert not marker.exists()


def test_a_lone_pickle_is_not_a_checkpoint(tmp_path):
    torch.save({"w": _Payload(tmp_path / "marker")}, tmp_path / "model.safetensors")
    with pytest.raises(CheckpointError, match=r"model\.json: not found"):
        load_model(tmp_path)
    assert not (tmp_path / "marker").exists()


def test_a_crash_at_any_point_of_a_save_leaves_a_complete_checkpoint(tmp_path, monkeypatch):
    """Kill a save at every rename (the points where the directory changes) of two consecutive saves —
    the second runs the recovery of the first — and load: always one complete, consistent checkpoint."""
    real_replace = os.replace
    for crash1 in range(1, 4):
        for crash2 in range(1, 6):
            run_dir = tmp_path / f"c{crash1}-{crash2}"
            save_model(run_dir, _state(1.0), {"v": 1})
            calls = {"n": 0, "crash_at": crash1}

            def replace(src, dst, calls=calls):
                calls["n"] += 1
                if calls["n"] == calls["crash_at"]:
                    raise KeyboardInterrupt("simulated kill")
                real_replace(src, dst)

            monkeypatch.setattr(os, "replace", replace)
            for version, crash in ((2, crash1), (3, crash2)):
                calls.update(n=0, crash_at=crash)
                try:
                    save_model(run_dir, _state(float(version)), {"v": version})
                except KeyboardInterrupt:
                    pass
                sd, meta = load_model(run_dir)
                assert meta["v"] in (1, 2, 3) and meta["v"] <= version
                _assert_equal(sd, _state(float(meta["v"])))
            monkeypatch.setattr(os, "replace", real_replace)
            save_model(run_dir, _state(4.0), {"v": 4})
            assert load_model(run_dir)[1]["v"] == 4
            assert not list(run_dir.glob(".*")), "no leftovers after a clean save"


def _tiny_training_state(seed: int):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Embedding(7, 4), nn.Linear(4, 3))
    opt = torch.optim.AdamW(model.parameters(), lr=0.1, betas=(0.8, 0.9))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 / (s + 1))
    for _ in range(3):
        opt.zero_grad()
        model(torch.tensor([1, 2, 3])).square().sum().backward()
        opt.step()
        sched.step()
    return model, opt, sched


def test_resume_round_trip_restores_everything(tmp_path):
    model, opt, sched = _tiny_training_state(0)
    trainer_state = {"step": 3, "best": None, "worst": float("-inf"), "pair": (1, "a"), "by_id": {2: [1.5]}}
    torch.manual_seed(11), np.random.seed(11), random.seed(11)
    save_resume(tmp_path, model, opt, sched, trainer_state)
    expect_rng = (torch.rand(3), np.random.rand(3), random.random())

    model2, opt2, sched2 = _tiny_training_state(1)  # different weights, moments and RNG
    got = load_resume(tmp_path, model2, opt2, sched2)
    assert got == trainer_state and isinstance(got["pair"], tuple)
    _assert_equal(model2.state_dict(), model.state_dict())
    s1, s2 = opt.state_dict(), opt2.state_dict()
    assert s1["param_groups"] == s2["param_groups"]
    for i in s1["state"]:
        _assert_equal(s1["state"][i], s2["state"][i])
    assert sched2.state_dict() == sched.state_dict()
    assert torch.equal(torch.rand(3), expect_rng[0])
    assert np.array_equal(np.random.rand(3), expect_rng[1]) and random.random() == expect_rng[2]


def test_load_resume_without_checkpoint_returns_none(tmp_path):
    model, opt, sched = _tiny_training_state(0)
    assert load_resume(tmp_path, model, opt, sched) is None


def test_load_resume_into_another_architecture_says_so(tmp_path):
    model, opt, sched = _tiny_training_state(0)
    save_resume(tmp_path, model, opt, sched, {"step": 3})
    other = nn.Sequential(nn.Embedding(7, 5), nn.Linear(5, 3))
    with pytest.raises(CheckpointError, match=r"resume\.json: does not fit"):
        load_resume(tmp_path, other, None, None)
