"""`train.diagnose_every`: the trainer logs spectral radius, gate saturation and ||dL/dh_t|| into metrics.jsonl
without changing the training trajectory; an objective's own ``diagnose`` takes precedence."""

from __future__ import annotations

import dataclasses
import json

import torch
from torch import nn

from seqlab.diagnostics.grad_flow import hidden_grad_flow
from seqlab.diagnostics.synthetic import (
    CellConfig,
    LongRangeConfig,
    LongRangeModel,
    LongRangeObjective,
    LongRangeRunConfig,
    SyntheticLoader,
)
from seqlab.training.trainer import Trainer

TASK = LongRangeConfig(task="adding", length=9)
CFG = dataclasses.replace(LongRangeRunConfig().train, max_steps=6, eval_every=0, num_threads=1, clip_norm=0.5)


def _fit(run_dir, objective=None, diagnose_every=2, cell="lstm"):
    torch.manual_seed(0)
    model = LongRangeModel(TASK, CellConfig(cell=cell, hidden_size=8))
    cfg = dataclasses.replace(CFG, diagnose_every=diagnose_every)
    Trainer(model, objective or LongRangeObjective(TASK), cfg, run_dir=run_dir, progress=False).fit(
        SyntheticLoader(TASK, 8, 6, seed=0))
    lines = [json.loads(s) for s in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return model, [r for r in lines if r["event"] == "grad_flow"]


def test_diagnostics_are_logged_and_leave_training_unchanged(tmp_path):
    plain, none = _fit(tmp_path / "plain", diagnose_every=0)
    model, logged = _fit(tmp_path / "diag")
    assert none == [] and [r["step_of_grads"] for r in logged] == [2, 4, 6]
    for a, b in zip(plain.state_dict().values(), model.state_dict().values(), strict=True):
        assert torch.equal(a, b)  # eval mode, forked RNG, .grad untouched: the same weights bit for bit
    layer = logged[-1]["recurrent"]["rnn"]["l0"]
    assert set(layer["spectral_radius"]) == {"i", "f", "g", "o"} and set(layer["saturation"]) == {"i", "f", "o", "g"}
    assert len(layer["grad_h"]) == TASK.length and all(0 <= v <= 1 for v in layer["saturation"].values())


def test_logged_grad_h_is_the_gradient_flow_of_that_batch(tmp_path):
    """With one step (diagnose_every=1 at step 1) the weights are the initial ones: recompute independently."""
    torch.manual_seed(0)
    fresh = LongRangeModel(TASK, CellConfig(cell="gru", hidden_size=8)).eval()
    batch = next(iter(SyntheticLoader(TASK, 8, 6, seed=0)))
    expected = hidden_grad_flow(fresh, lambda: LongRangeObjective(TASK).loss(fresh, batch)).top
    _, logged = _fit(tmp_path, diagnose_every=1, cell="gru")
    got = logged[0]["recurrent"]["rnn"]["l0"]["grad_h"]
    assert logged[0]["step_of_grads"] == 1
    assert all(abs(g - e) <= 1e-3 * e for g, e in zip(got, expected, strict=True))  # logged to 4 digits


class _Custom(LongRangeObjective):
    def diagnose(self, model, batch):
        assert not model.training
        return {"custom": {"batch": len(batch)}}


def test_an_objective_diagnose_method_takes_precedence(tmp_path):
    _, logged = _fit(tmp_path, objective=_Custom(TASK))
    assert logged[0]["custom"] == {"batch": 8} and "recurrent" not in logged[0]


class _NoRNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 1)

    def forward(self, x):
        return self.lin(x)


def test_a_model_without_recurrent_modules_logs_only_parameter_norms(tmp_path):
    Trainer(_NoRNN(), LongRangeObjective(TASK), dataclasses.replace(CFG, diagnose_every=3), run_dir=tmp_path,
            progress=False).fit(SyntheticLoader(TASK, 8, 6, seed=0))
    logged = [json.loads(s) for s in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    flow = [r for r in logged if r["event"] == "grad_flow"]
    assert len(flow) == 2 and "recurrent" not in flow[0] and "lin.weight" in flow[0]["grad_norms"]
