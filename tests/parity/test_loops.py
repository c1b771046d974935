"""The C++ time loops (csrc/loops.cpp) against their plain-torch twins, and a spy proving which one ran."""

import pytest
import torch

import seqlab.engine.bptt as bptt
from seqlab.engine import ext
from tests.parity.helpers import CELLS, make, rel_err, states

T, B, H = 7, 4, 21  # H = 21: two full AVX2 float vectors plus a tail (five double vectors plus one)
F64 = torch.float64


@pytest.fixture(scope="module")
def cpp():
    module = ext.build()
    assert module is not None, "the C++ loops failed to build on this machine (see the warning)"
    return module


def _mask(use):
    if not use:
        return None
    lengths = torch.tensor([T, 3, 1, 6])
    return torch.arange(T).unsqueeze(1) < lengths.unsqueeze(0)  # (T, B) bool


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("use_mask", [False, True])
@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn_tanh", "rnn_relu"])
def test_cpp_loops_equal_python_twins(cpp, kind, reverse, use_mask):
    g = torch.Generator().manual_seed(0)

    def r(*shape):
        return torch.randn(*shape, generator=g, dtype=F64)

    mask, py = _mask(use_mask), bptt.PythonLoops
    h0, c0, dout, dh = r(B, H), r(B, H), r(T, B, H), r(B, H)
    if kind == "lstm":
        xw, w_hh = r(T, B, 4 * H), r(4 * H, H)
        a = cpp.lstm_forward(xw, h0, c0, w_hh, mask, reverse)
        b = py.lstm_forward(xw, h0, c0, w_hh, mask, reverse)
        hs, cs, acts, tcs = b
        cprev = bptt._prev_states(cs, c0, reverse)
        ga = cpp.lstm_backward(dout, dh, r(B, H) * 0 + 0.5, acts, tcs, cprev, w_hh, mask, reverse)
        gb = py.lstm_backward(dout, dh, r(B, H) * 0 + 0.5, acts, tcs, cprev, w_hh, mask, reverse)
    elif kind == "gru":
        gx, w_hh, b_hh = r(T, B, 3 * H), r(3 * H, H), r(3 * H)
        a = cpp.gru_forward(gx, h0, w_hh, b_hh, mask, reverse)
        b = py.gru_forward(gx, h0, w_hh, b_hh, mask, reverse)
        hprev = bptt._prev_states(b[0], h0, reverse)
        ga = cpp.gru_backward(dout, dh, b[1], hprev, w_hh, mask, reverse)
        gb = py.gru_backward(dout, dh, b[1], hprev, w_hh, mask, reverse)
    else:
        relu = kind == "rnn_relu"
        xw, w_hh = r(T, B, H), r(H, H) * 0.3
        a = cpp.rnn_forward(xw, h0, w_hh, mask, reverse, relu)
        b = py.rnn_forward(xw, h0, w_hh, mask, reverse, relu)
        ga = cpp.rnn_backward(dout, dh, b[0], w_hh, mask, reverse, relu)
        gb = py.rnn_backward(dout, dh, b[0], w_hh, mask, reverse, relu)
    for x, y in zip([*a, *ga], [*b, *gb], strict=True):
        assert x.shape == y.shape
        assert rel_err(x, y) <= 1e-12


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_engine_with_cpp_loops_matches_torch_nn(cpp, cell, dtype, monkeypatch):
    monkeypatch.setenv("SEQLAB_LOOPS", "cpp")
    torch.manual_seed(0)
    kw = dict(input_size=3, hidden_size=H, num_layers=2, bidirectional=True, dtype=dtype)
    ref, mine = make(cell, torch_nn=True, **kw), make(cell, impl="explicit", **kw)
    mine.load_state_dict(ref.state_dict())
    x = torch.randn(T, B, 3, dtype=dtype, requires_grad=True)
    (o_r, s_r), (o_m, s_m) = ref(x), mine(x)
    tol = 1e-5 if dtype == torch.float32 else 1e-10
    assert rel_err(o_m, o_r) <= tol
    assert all(rel_err(p, q) <= tol for p, q in zip(states(s_m), states(s_r), strict=True))
    g_r = torch.autograd.grad(o_r.pow(2).sum(), [x, *ref.parameters()])
    g_m = torch.autograd.grad(o_m.pow(2).sum(), [x, *mine.parameters()])
    assert all(rel_err(p, q) <= tol for p, q in zip(g_m, g_r, strict=True))


@pytest.mark.parametrize("mode,expect_cpp", [("cpp", True), ("python", False)])
def test_spy_which_loop_runs(cpp, monkeypatch, mode, expect_cpp):
    monkeypatch.setenv("SEQLAB_LOOPS", mode)
    calls = []

    class Spy:
        def __getattr__(self, name):
            calls.append(name)
            return getattr(cpp, name)

    monkeypatch.setattr(bptt, "loops", lambda x: Spy() if ext.loops(x) is not None else None)
    m = make("lstm", impl="explicit", input_size=3, hidden_size=H)
    out, _ = m(torch.randn(T, B, 3))
    out.sum().backward()
    assert (calls == ["lstm_forward", "lstm_backward"]) == expect_cpp
    assert (calls == []) == (not expect_cpp)
