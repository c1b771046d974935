"""Stream batching for truncated BPTT, and the stateful objective: carried state == one full forward."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from seqlab.data.streams import IGNORE, RandomWindows, StreamBatches
from seqlab.tasks.lm import LanguageModel, LMModelConfig, LMObjective


def _model(cell="lstm", layers=1, impl="auto", vocab=11, seed=0) -> LanguageModel:
    torch.manual_seed(seed)
    cfg = LMModelConfig(cell=cell, embedding_dim=6, hidden_size=8, num_layers=layers, dropout=0.0, impl=impl)
    return LanguageModel(vocab, cfg)


@pytest.mark.parametrize("n,B,k,context", [(50, 4, 5, None), (50, 4, 5, 7), (23, 3, 4, None), (9, 16, 3, 2),
                                           (2, 4, 1, None)])
def test_every_target_exactly_once_and_rows_continue_across_windows(n, B, k, context):
    ids = np.arange(100, 100 + n)  # distinct ids: positions can be read back
    sb = StreamBatches(ids, B, k, context=context)
    seq = ([context] if context is not None else []) + ids.tolist()
    rows_in = [[] for _ in range(sb.streams)]
    rows_out = [[] for _ in range(sb.streams)]
    windows = list(sb)
    assert len(windows) == len(sb) and [w.index for w in windows] == list(range(len(sb)))
    assert [w.reset for w in windows] == [True] + [False] * (len(sb) - 1)
    for w in windows:
        assert w.inputs.shape == w.targets.shape and w.inputs.shape[1] <= k
        for b in range(sb.streams):
            rows_in[b] += w.inputs[b].tolist()
            rows_out[b] += w.targets[b].tolist()
    flat_in = [t for r in rows_in for t in r]
    flat_out = [t for r in rows_out for t in r]
    valid = [i for i, t in enumerate(flat_out) if t != IGNORE]
    assert valid == list(range(len(seq) - 1))  # no holes: only the tail of the last stream is padding
    assert [flat_out[i] for i in valid] == seq[1:]  # each target once, in order
    assert [flat_in[i] for i in valid] == seq[:-1]  # input at each step is the previous token
    assert sb.num_targets == len(seq) - 1 == sum(w.num_targets for w in windows)


def test_stream_batches_need_a_target():
    with pytest.raises(ValueError, match="at least one target"):
        StreamBatches([5], 4, 3)
    assert StreamBatches([5], 4, 3, context=1).num_targets == 1


@pytest.mark.parametrize("cell,layers,impl", [("lstm", 1, "auto"), ("lstm", 2, "explicit"), ("gru", 2, "auto"),
                                              ("rnn_tanh", 1, "explicit")])
def test_training_forward_over_consecutive_windows_with_carried_state_equals_one_full_forward(cell, layers, impl):
    """The objective's per-window losses (train mode, state carried and detached) equal the per-window means of
    the token losses of one forward over each whole stream."""
    model = _model(cell, layers, impl).train()
    ids = torch.randint(2, 11, (203,), generator=torch.Generator().manual_seed(1)).tolist()
    sb = StreamBatches(ids, 4, 7)
    objective = LMObjective()
    losses = []
    for w in sb:
        loss = objective.loss(model, w)
        loss.backward()  # as the trainer does: the graph of each window is freed before the next
        losses.append(loss.detach())
    logits, _ = model(sb.inputs)  # one forward over the full (B, L) streams
    token_loss = nn.functional.cross_entropy(logits.flatten(0, 1), sb.targets.flatten(), ignore_index=IGNORE,
                                             reduction="none").view_as(sb.targets)  # (B, L)
    valid = sb.targets != IGNORE
    for j, start in enumerate(range(0, sb.length, 7)):
        cols = slice(start, start + 7)
        want = token_loss[:, cols][valid[:, cols]].mean()
        torch.testing.assert_close(losses[j], want, rtol=1e-5, atol=1e-6)


def test_window_gradients_are_truncated_to_k_steps_against_torch_nn():
    """Oracle: torch.nn.LSTM with the same weights runs the prefix without gradient, then the window with it;
    the parameter gradients of window j's loss match those of the objective's carried-state step."""
    model = _model("lstm", 1, "explicit").train()
    ref = nn.LSTM(6, 8, batch_first=True)
    ref.load_state_dict(model.rnn.state_dict())
    ids = torch.randint(2, 11, (120,), generator=torch.Generator().manual_seed(2)).tolist()
    sb = StreamBatches(ids, 3, 10)
    objective = LMObjective()
    windows = list(sb)
    for j, w in enumerate(windows[:3]):
        model.zero_grad()
        objective.loss(model, w).backward()
        if j == 0:
            continue
        ref.zero_grad()
        with torch.no_grad():
            _, state = ref(model.embedding(sb.inputs[:, : j * 10]))  # the prefix: no gradient flows into it
        out, _ = ref(model.embedding(w.inputs), state)
        logits = model.out(out)
        want = nn.functional.cross_entropy(logits.flatten(0, 1), w.targets.flatten(), ignore_index=IGNORE)
        grads = torch.autograd.grad(want, list(ref.parameters()))
        for name, g in zip(dict(ref.named_parameters()), grads, strict=True):
            torch.testing.assert_close(getattr(model.rnn, name).grad, g, rtol=1e-4, atol=1e-6)


def test_state_resets_at_each_epoch_and_after_a_skipped_window():
    model = _model().eval()
    ids = list(range(2, 11)) * 8
    sb = StreamBatches(ids, 2, 6)
    objective = LMObjective()
    first = [objective.loss(model, w).item() for w in sb]
    second = [objective.loss(model, w).item() for w in sb]  # a new pass: window 0 starts from zero again
    assert first == pytest.approx(second, abs=1e-6)
    windows = list(sb)
    fresh = LMObjective().loss(model, windows[3]).item()
    objective.loss(model, windows[1])
    skipped = objective.loss(model, windows[3]).item()  # window 2 never ran (resume mid-epoch): zero state
    assert skipped == pytest.approx(fresh, abs=1e-7)
    _, state = model(windows[3].inputs)
    logits, _ = model(windows[4].inputs, state)  # window 4 continues the zero-started window 3
    want = nn.functional.cross_entropy(logits.flatten(0, 1), windows[4].targets.flatten(), ignore_index=IGNORE)
    assert objective.loss(model, windows[4]).item() == pytest.approx(want.item(), abs=1e-6)


def test_random_windows_are_slices_of_the_text_repeatable_and_leave_global_rngs_alone():
    ids = np.arange(1000)
    rw = RandomWindows(ids, 5, 12, seed=3)
    torch_state, np_state = torch.get_rng_state(), np.random.get_state()[1].copy()
    a = list(rw)
    rw.set_epoch(1)
    b = list(rw)
    rw.set_epoch(0)
    assert all(torch.equal(x.inputs, y.inputs) for x, y in zip(a, list(rw), strict=True))
    assert not all(torch.equal(x.inputs, y.inputs) for x, y in zip(a, b, strict=True))
    assert torch.equal(torch.get_rng_state(), torch_state) and (np.random.get_state()[1] == np_state).all()
    assert len(a) == 999 // 60
    for w in a:
        assert w.reset and w.inputs.shape == (5, 12)
        assert torch.equal(w.inputs[:, 1:] - w.inputs[:, :-1], torch.ones(5, 11, dtype=torch.long))
        assert torch.equal(w.targets, w.inputs + 1)  # target = next token of the text
    with pytest.raises(ValueError, match="at least 13 tokens"):
        RandomWindows(np.arange(12), 2, 12, seed=0)
