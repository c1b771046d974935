"""Explicit engine vs torch.nn: outputs, final states and every gradient, over the whole argument grid."""

import itertools

import pytest
import torch

from tests.parity.helpers import CELLS, pair, rel_err, run_torch, states

T, B, I, H = 6, 3, 4, 5
GRID = list(itertools.product(CELLS, [1, 2], [False, True], [False, True], [False, True], [False, True]))
TOL = {torch.float32: 1e-5, torch.float64: 1e-10}


def _inputs(cell, layers, bidir, batch_first, use_lengths, use_h0, dtype):
    g = torch.Generator().manual_seed(1)
    shape = (B, T, I) if batch_first else (T, B, I)
    x = torch.randn(shape, generator=g, dtype=dtype, requires_grad=True)
    lengths = torch.tensor([T, 2, 4]) if use_lengths else None
    state = None
    if use_h0:
        n = layers * (2 if bidir else 1)
        hs = [torch.randn(n, B, H, generator=g, dtype=dtype, requires_grad=True)
              for _ in range(2 if cell == "lstm" else 1)]
        state = tuple(hs) if cell == "lstm" else hs[0]
    return x, lengths, state


def _loss(out, st, g):
    # random weights on every output and final state so every gradient path is exercised
    total = (out * torch.randn(out.shape, generator=g, dtype=out.dtype)).sum()
    for s in states(st):
        total = total + (s * torch.randn(s.shape, generator=g, dtype=s.dtype)).sum()
    return total


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("cell,layers,bidir,batch_first,use_lengths,use_h0", GRID)
def test_explicit_matches_torch(cell, layers, bidir, batch_first, use_lengths, use_h0, dtype):
    kw = dict(input_size=I, hidden_size=H, num_layers=layers, bidirectional=bidir, batch_first=batch_first,
              dtype=dtype)
    ref, mine = pair(cell, "explicit", **kw)
    x, lengths, state = _inputs(cell, layers, bidir, batch_first, use_lengths, use_h0, dtype)
    out_r, st_r = run_torch(ref, x, state, lengths, batch_first)
    out_m, st_m = mine(x, state, lengths=lengths)
    assert out_m.shape == out_r.shape
    assert rel_err(out_m, out_r) <= TOL[dtype]
    for a, b in zip(states(st_m), states(st_r), strict=True):
        assert a.shape == b.shape
        assert rel_err(a, b) <= TOL[dtype]
    init = states(state) if use_h0 else []
    wrt_r = [x, *init, *ref.parameters()]
    wrt_m = [x, *init, *mine.parameters()]
    g_r = torch.autograd.grad(_loss(out_r, st_r, torch.Generator().manual_seed(2)), wrt_r)
    g_m = torch.autograd.grad(_loss(out_m, st_m, torch.Generator().manual_seed(2)), wrt_m)
    names = ["x", *(["state"] * len(init)), *(n for n, _ in ref.named_parameters())]
    for name, a, b in zip(names, g_m, g_r, strict=True):
        assert rel_err(a, b) <= TOL[dtype], f"gradient of {name}: rel err {rel_err(a, b):.2e}"


@pytest.mark.parametrize("cell", CELLS)
def test_no_bias_matches_torch(cell):
    ref, mine = pair(cell, "explicit", input_size=I, hidden_size=H, bias=False, dtype=torch.float64)
    assert [n for n, _ in mine.named_parameters()] == [n for n, _ in ref.named_parameters()]
    x = torch.randn(T, B, I, dtype=torch.float64, requires_grad=True)
    (out_r, _), (out_m, _) = ref(x), mine(x)
    assert rel_err(out_m, out_r) <= 1e-12
    g_r = torch.autograd.grad(out_r.sum(), [x, *ref.parameters()])
    g_m = torch.autograd.grad(out_m.sum(), [x, *mine.parameters()])
    assert all(rel_err(a, b) <= 1e-10 for a, b in zip(g_m, g_r, strict=True))


@pytest.mark.parametrize("cell", CELLS)
def test_packed_sequence_input(cell):
    from torch.nn.utils.rnn import pack_padded_sequence

    ref, mine = pair(cell, "explicit", input_size=I, hidden_size=H, bidirectional=True, dtype=torch.float64)
    x = torch.randn(T, B, I, dtype=torch.float64)
    packed = pack_padded_sequence(x, torch.tensor([3, T, 1]), enforce_sorted=False)
    out_r, st_r = ref(packed)
    out_m, st_m = mine(packed)
    assert torch.equal(out_m.batch_sizes, out_r.batch_sizes)
    assert torch.equal(out_m.sorted_indices, out_r.sorted_indices)
    assert rel_err(out_m.data, out_r.data) <= 1e-12
    assert all(rel_err(a, b) <= 1e-12 for a, b in zip(states(st_m), states(st_r), strict=True))


@pytest.mark.parametrize("cell", CELLS)
def test_unbatched_input(cell):
    ref, mine = pair(cell, "explicit", input_size=I, hidden_size=H, num_layers=2, dtype=torch.float64)
    x = torch.randn(T, I, dtype=torch.float64)
    (out_r, st_r), (out_m, st_m) = ref(x), mine(x)
    assert out_m.shape == out_r.shape == (T, H)
    assert rel_err(out_m, out_r) <= 1e-12
    assert all(a.shape == b.shape for a, b in zip(states(st_m), states(st_r), strict=True))


@pytest.mark.parametrize("cell", CELLS)
def test_cells_match_torch(cell):
    import seqlab.engine as E

    kw = {"nonlinearity": cell[4:]} if cell.startswith("rnn") else {}
    name = {"lstm": "LSTMCell", "gru": "GRUCell"}.get(cell, "RNNCell")
    torch.manual_seed(0)
    ref = getattr(torch.nn, name)(I, H, dtype=torch.float64, **kw)
    mine = getattr(E, name)(I, H, dtype=torch.float64, **kw)
    mine.load_state_dict(ref.state_dict())
    x = torch.randn(B, I, dtype=torch.float64, requires_grad=True)
    out_r, out_m = ref(x), mine(x)
    for a, b in zip(states(out_m), states(out_r), strict=True):
        assert rel_err(a, b) <= 1e-12
    g_r = torch.autograd.grad(sum(s.sum() for s in states(out_r)), [x, *ref.parameters()])
    g_m = torch.autograd.grad(sum(s.sum() for s in states(out_m)), [x, *mine.parameters()])
    assert all(rel_err(a, b) <= 1e-12 for a, b in zip(g_m, g_r, strict=True))
