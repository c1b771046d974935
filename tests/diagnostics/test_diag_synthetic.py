"""The adding and copy tasks: the data is what the task says, the loaders are repeatable and leave the global
RNGs alone, the metrics match a direct computation, and a gated cell learns a short instance."""

from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest
import torch

from seqlab.diagnostics.synthetic import (
    CellConfig,
    LongRangeConfig,
    LongRangeModel,
    LongRangeObjective,
    LongRangeRunConfig,
    SyntheticLoader,
    build_model,
    check_task,
    make_batch,
    train_long_range,
)
from seqlab.errors import ConfigError


def test_adding_targets_are_the_sum_of_the_two_marked_values():
    cfg = LongRangeConfig(task="adding", length=30)
    b = make_batch(cfg, 500, np.random.default_rng(0))
    u, m = b.x[..., 0].double(), b.x[..., 1]
    assert b.x.shape == (500, 30, 2) and m.sum(1).eq(2).all()
    assert m[:, :15].sum(1).eq(1).all() and m[:, 15:].sum(1).eq(1).all()  # one marker per half
    assert torch.allclose((u * m).sum(1), b.y.double(), atol=1e-6)


def test_adding_baseline_mse_is_one_sixth():
    b = make_batch(LongRangeConfig(task="adding", length=10), 200_000, np.random.default_rng(1))
    assert float((b.y - 1.0).square().mean()) == pytest.approx(1 / 6, rel=0.01)


def test_copy_layout_symbols_delimiter_and_targets():
    cfg = LongRangeConfig(task="copy", length=20, symbols=5, copy_len=4)
    b = make_batch(cfg, 64, np.random.default_rng(2))
    tokens = b.x.argmax(-1)  # one-hot back to token ids (B, T)
    assert b.x.shape == (64, 20, 7) and torch.equal(b.x.sum(-1), torch.ones(64, 20))
    assert torch.equal(tokens[:, :4], b.y + 1) and b.y.min() >= 0 and b.y.max() <= 4
    assert tokens[:, 15].eq(6).all()  # the delimiter S+1 at T-K-1
    assert tokens[:, 4:15].eq(0).all() and tokens[:, 16:].eq(0).all()  # blanks elsewhere


def test_loaders_repeat_by_seed_and_epoch_and_leave_global_rngs_alone():
    cfg = LongRangeConfig(task="copy", length=12, copy_len=3)
    torch_state, np_state, py_state = torch.get_rng_state(), np.random.get_state(), random.getstate()
    a = SyntheticLoader(cfg, 4, 3, seed=5)
    first = [b.x for b in a]
    assert all(torch.equal(x, b.x) for x, b in zip(first, a, strict=True))
    a.set_epoch(1)
    assert not torch.equal(first[0], next(iter(a)).x)
    val = SyntheticLoader(cfg, 4, 3, seed=5, split="val")
    val.set_epoch(3)  # held-out splits ignore the epoch and never equal the training stream
    assert torch.equal(next(iter(val)).x, next(iter(SyntheticLoader(cfg, 4, 3, 5, "val"))).x)
    assert not torch.equal(next(iter(val)).x, first[0])
    assert torch.equal(torch_state, torch.get_rng_state()) and random.getstate() == py_state
    assert all(np.array_equal(p, q) for p, q in zip(np_state[1:2], np.random.get_state()[1:2], strict=True))


@pytest.mark.parametrize("task", ["adding", "copy"])
def test_evaluate_matches_a_direct_computation(task):
    cfg = LongRangeConfig(task=task, length=12, copy_len=3, symbols=4)
    torch.manual_seed(0)
    model = LongRangeModel(cfg, CellConfig(cell="gru", hidden_size=8)).eval()
    loader = SyntheticLoader(cfg, 16, 2, seed=0, split="test")
    got = LongRangeObjective(cfg).evaluate(model, loader)
    with torch.no_grad():
        outs = torch.cat([model(b.x) for b in loader])
    ys = torch.cat([b.y for b in loader])
    if task == "adding":
        mse = float((outs[:, -1, 0].double() - ys.double()).square().mean())
        assert got["mse"] == pytest.approx(mse, rel=1e-6)
        assert got["r2"] == pytest.approx(1 - mse / float(ys.double().var(unbiased=False)), rel=1e-6)
    else:
        hits = outs[:, -3:].argmax(-1) == ys
        assert got["accuracy"] == pytest.approx(float(hits.double().mean()))
        assert got["seq_accuracy"] == pytest.approx(float(hits.all(1).double().mean()))
        assert got["loss"] == pytest.approx(float(torch.nn.functional.cross_entropy(outs[:, -3:].reshape(-1, 4),
                                                                                    ys.reshape(-1))), rel=1e-5)


def test_lstm_forget_bias_is_added_once():
    torch.manual_seed(0)
    plain = LongRangeModel(LongRangeConfig(), CellConfig(cell="lstm", hidden_size=8, forget_bias=0.0))
    torch.manual_seed(0)
    biased = LongRangeModel(LongRangeConfig(), CellConfig(cell="lstm", hidden_size=8, forget_bias=1.0))
    diff = biased.rnn.bias_hh_l0 - plain.rnn.bias_hh_l0
    assert torch.allclose(diff, torch.cat([torch.zeros(8), torch.ones(8), torch.zeros(16)]))


@pytest.mark.parametrize("bad,match", [
    (LongRangeConfig(task="sort"), "adding, copy"),
    (LongRangeConfig(task="copy", length=20, copy_len=10), "length >= 2"),
    (LongRangeConfig(task="adding", length=1), "length >= 2"),
])
def test_bad_task_configs_say_what_to_change(bad, match):
    with pytest.raises(ConfigError, match=match):
        check_task(bad)


def test_a_gru_learns_a_short_adding_task_and_the_run_rebuilds_from_its_meta(tmp_path):
    cfg = LongRangeRunConfig(data=LongRangeConfig(task="adding", length=6),
                             model=CellConfig(cell="gru", hidden_size=16),
                             train=dataclasses.replace(LongRangeRunConfig().train, max_steps=80, lr=2e-2,
                                                       eval_every=20, num_threads=1))
    model, summary = train_long_range(cfg, run_dir=tmp_path)
    assert summary["best_metric"] < 0.05  # the mean predictor scores 1/6
    from seqlab.training.checkpoint import load_model

    state, meta = load_model(tmp_path)
    again = build_model(meta)
    again.load_state_dict(state)
    x = make_batch(cfg.data, 4, np.random.default_rng(0)).x
    assert torch.equal(again(x), model(x)) and meta["task"] == "long_range"
