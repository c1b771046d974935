"""Invariants of the engine: stepwise == one call, chunked TBPTT == full forward, padded+lengths ==
each sequence alone, dropout p=0 train == eval, fused == explicit, and state_dict round trips."""

import pytest
import torch

import seqlab.engine as E
from tests.parity.helpers import CELLS, make, pair, rel_err, states

T, B, I, H = 9, 3, 4, 5
F64 = torch.float64


def _mod(cell, impl="explicit", **kw):
    torch.manual_seed(0)
    base = dict(input_size=I, hidden_size=H, num_layers=2, dtype=F64)
    return make(cell, impl=impl, **(base | kw))


@pytest.mark.parametrize("cell", CELLS)
def test_step_by_step_with_carried_state_equals_one_call(cell):
    m = _mod(cell)
    x = torch.randn(T, B, I, dtype=F64)
    full, st_full = m(x)
    st, outs = None, []
    for t in range(T):
        o, st = m(x[t : t + 1], st)
        outs.append(o)
    assert rel_err(torch.cat(outs), full) <= 1e-12
    assert all(rel_err(a, b) <= 1e-12 for a, b in zip(states(st), states(st_full), strict=True))


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("k", [1, 4, 9, 20])
def test_chunked_tbptt_forward_equals_full_forward(cell, k):
    m = _mod(cell, batch_first=True)
    x = torch.randn(B, T, I, dtype=F64)
    full, st_full = m(x)
    chunks = list(E.truncated_bptt(m, x, k))
    assert len(chunks) == -(-T // k)
    assert rel_err(torch.cat([o for o, _ in chunks], dim=1), full) <= 1e-12
    assert all(rel_err(a, b) <= 1e-12 for a, b in zip(states(chunks[-1][1]), states(st_full), strict=True))


def test_tbptt_detaches_between_windows():
    m = _mod("lstm")
    x = torch.randn(T, B, I, dtype=F64, requires_grad=True)
    (o1, _), (o2, _) = list(E.truncated_bptt(m, x, 5))
    (gx,) = torch.autograd.grad(o2.sum(), x)
    assert gx[:5].abs().max() == 0  # the second window's loss does not reach the first window
    assert gx[5:].abs().max() > 0


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("bidir", [False, True])
def test_padded_with_lengths_equals_each_sequence_alone(cell, bidir):
    m = _mod(cell, bidirectional=bidir)
    lengths = [T, 3, 6]
    x = torch.randn(T, B, I, dtype=F64)
    x_padded = x.clone()
    for b, n in enumerate(lengths):
        x_padded[n:, b] = 123.0  # garbage in the padding must not matter
    out, st = m(x_padded, lengths=torch.tensor(lengths))
    for b, n in enumerate(lengths):
        o_b, st_b = m(x[:n, b : b + 1])
        assert rel_err(out[:n, b : b + 1], o_b) <= 1e-12
        assert out[n:, b].abs().max().item() == 0 if n < T else True
        for a, s in zip(states(st), states(st_b), strict=True):
            assert rel_err(a[:, b : b + 1], s) <= 1e-12


@pytest.mark.parametrize("cell", CELLS)
def test_dropout_zero_in_train_mode_equals_eval(cell):
    m = _mod(cell, num_layers=3, dropout=0.0)
    x = torch.randn(T, B, I, dtype=F64)
    m.train()
    a, _ = m(x)
    m.eval()
    b, _ = m(x)
    assert torch.equal(a, b)


def test_dropout_applies_between_layers_only_in_training():
    m = _mod("lstm", num_layers=2, dropout=0.5)
    x = torch.randn(T, B, I, dtype=F64)
    m.eval()
    a, _ = m(x)
    b, _ = m(x)
    assert torch.equal(a, b)
    m.train()
    c, _ = m(x)
    assert not torch.allclose(a, c)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("lengths", [None, [T, 2, 5]])
@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_fused_matches_explicit(cell, lengths, dtype):
    torch.manual_seed(0)
    kw = dict(input_size=I, hidden_size=H, num_layers=2, bidirectional=True, dtype=dtype)
    ex = make(cell, impl="explicit", **kw)
    fu = make(cell, impl="fused", **kw)
    fu.load_state_dict(ex.state_dict())
    x = torch.randn(T, B, I, dtype=dtype, requires_grad=True)
    ln = torch.tensor(lengths) if lengths else None
    (oe, se), (of, sf) = ex(x, lengths=ln), fu(x, lengths=ln)
    tol = 1e-5 if dtype == torch.float32 else 1e-10
    assert rel_err(oe, of) <= tol
    assert all(rel_err(a, b) <= tol for a, b in zip(states(se), states(sf), strict=True))
    ge = torch.autograd.grad(oe.pow(2).sum(), [x, *ex.parameters()])
    gf = torch.autograd.grad(of.pow(2).sum(), [x, *fu.parameters()])
    assert all(rel_err(a, b) <= tol for a, b in zip(ge, gf, strict=True))


@pytest.mark.parametrize("cell", CELLS)
def test_spy_fused_calls_torch_kernel_and_explicit_does_not(cell, monkeypatch):
    from torch import _VF

    kernel = {"lstm": "lstm", "gru": "gru"}.get(cell, cell)
    real = getattr(_VF, kernel)
    calls = []

    def spy(*args, **kwargs):
        calls.append(kernel)
        return real(*args, **kwargs)

    monkeypatch.setattr(_VF, kernel, spy, raising=False)
    x = torch.randn(T, B, I)
    _mod(cell, impl="explicit", dtype=torch.float32)(x)
    assert calls == []
    _mod(cell, impl="fused", dtype=torch.float32)(x)
    assert calls == [kernel]
    with torch.no_grad():  # inference on CPU: auto picks torch's kernel (the faster forward)
        _mod(cell, impl="auto", dtype=torch.float32)(x)
    assert calls == [kernel, kernel]
    monkeypatch.setenv("SEQLAB_LOOPS", "python")  # training without the C++ loops: fused too
    _mod(cell, impl="auto", dtype=torch.float32)(x)
    assert calls == [kernel, kernel, kernel]


@pytest.mark.parametrize("cell", CELLS)
def test_auto_trains_on_the_cpp_loops_and_infers_on_the_fused_kernel(cell, monkeypatch):
    monkeypatch.setenv("SEQLAB_LOOPS", "auto")
    m, x = _mod(cell, impl="auto", dtype=torch.float32), torch.randn(T, B, I)
    assert m._choose_impl(x) == "explicit"  # grad recorded, C++ loops built (make install builds them)
    with torch.no_grad():
        assert m._choose_impl(x) == "fused"
    for p in m.parameters():
        p.requires_grad_(False)
    assert m._choose_impl(x) == "fused"  # nothing to differentiate: inference


def test_auto_falls_back_and_forced_fused_raises_for_ineligible_dtype():
    x = torch.randn(T, B, I, dtype=torch.float16)
    auto = E.LSTM(I, H, impl="auto", dtype=torch.float16)
    with pytest.raises(ValueError, match="pass impl='explicit' or 'auto'"):
        E.LSTM(I, H, impl="fused", dtype=torch.float16)(x)
    assert auto._choose_impl(x) == "explicit"


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("bidir", [False, True])
def test_state_dict_round_trips_with_torch_nn(cell, bidir):
    kw = dict(input_size=I, hidden_size=H, num_layers=2, bidirectional=bidir, dtype=F64)
    ref, mine = pair(cell, **kw)  # torch.nn -> seqlab
    assert list(mine.state_dict()) == list(ref.state_dict())
    back = make(cell, torch_nn=True, **kw)
    back.load_state_dict(mine.state_dict())  # seqlab -> torch.nn
    x = torch.randn(T, B, I, dtype=F64)
    (o1, _), (o2, _), (o3, _) = ref(x), mine(x), back(x)
    assert torch.equal(o1, o3)
    assert rel_err(o2, o1) <= 1e-12


BAD = [
    (lambda: E.LSTM(I, H)(torch.randn(T, B, I + 1)), r"input_size\. Expected 4, got 5"),
    (lambda: E.GRU(I, H)(torch.randn(T, B, I), torch.zeros(2, B, H)), r"h0\.size\(0\) must be .* = 1, got 2"),
    (lambda: E.RNN(I, H)(torch.randn(T, B, I), torch.zeros(1, B + 1, H)), r"h0\.size\(1\) must be batch = 3"),
    (lambda: E.LSTM(I, H)(torch.randn(T, B, I), (torch.zeros(1, B, H), torch.zeros(1, B, H + 1))),
     r"c0\.size\(2\) must be hidden_size = 5, got 6"),
    (lambda: E.LSTM(I, H)(torch.randn(T, B, I), lengths=torch.tensor([T + 1, 2, 3])), r"lengths must be in \[1"),
    (lambda: E.LSTM(I, H)(torch.randn(T, B, I), lengths=torch.tensor([0, 2, 3])), r"lengths must be in \[1"),
    (lambda: E.LSTM(I, H)(torch.randn(T, B, I), lengths=torch.tensor([1, 2])), r"lengths must have shape"),
    (lambda: E.RNN(I, H, nonlinearity="sigmoid"), r"nonlinearity must be 'tanh' or 'relu', got 'sigmoid'"),
    (lambda: E.GRU(I, H, dropout=1.0), r"dropout must be a number in \[0, 1\), got 1\.0"),
    (lambda: E.GRU(I, H, dropout=-0.1), r"dropout must be a number in \[0, 1\), got -0\.1"),
    (lambda: E.LSTM(I, H, impl="cudnn"), r"impl must be one of"),
]


@pytest.mark.parametrize("call,pattern", BAD)
def test_bad_arguments_raise_value_error_naming_argument(call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call()
