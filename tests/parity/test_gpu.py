"""On a CUDA GPU: the Triton LSTM loops against their plain-torch twins, and the engine against torch.nn (cuDNN).

Skipped where there is no GPU (CI has none); run on a GPU machine with ``pytest tests/parity/test_gpu.py``.
"""

import pytest
import torch

import seqlab.engine.bptt as bptt
from seqlab.engine import triton_loops
from tests.parity.helpers import CELLS, make, rel_err, states

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
CUDA = "cuda"
T, B = 9, 6


@pytest.fixture(autouse=True)
def _plain_fp32():
    """Compare float32 to float32: no TF32 in cuBLAS or cuDNN while these tests run."""
    old = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old


def _mask(use: bool):
    if not use:
        return None
    lengths = torch.tensor([T, 3, 1, 6, 8, 2], device=CUDA)
    return torch.arange(T, device=CUDA).unsqueeze(1) < lengths.unsqueeze(0)  # (T, B) bool


@pytest.mark.skipif(not triton_loops._triton_importable(), reason="needs Triton")
@pytest.mark.parametrize("H", [21, 300])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("use_mask", [False, True])
def test_triton_lstm_loops_equal_python_twins(H, reverse, use_mask):
    g = torch.Generator(device=CUDA).manual_seed(0)

    def r(*shape):
        return torch.randn(*shape, generator=g, device=CUDA)

    mask, py, tr = _mask(use_mask), bptt.PythonLoops, triton_loops.TritonLoops
    xw, h0, c0, w_hh = r(T, B, 4 * H), r(B, H), r(B, H), r(4 * H, H) * 0.1
    a, b = tr.lstm_forward(xw, h0, c0, w_hh, mask, reverse), py.lstm_forward(xw, h0, c0, w_hh, mask, reverse)
    for x, y in zip(a, b, strict=True):
        assert rel_err(x, y) <= 1e-5
    hs, cs, acts, tcs = b
    cprev = bptt._prev_states(cs, c0, reverse)
    dout, dh, dc = r(T, B, H), r(B, H), r(B, H)
    ga = tr.lstm_backward(dout, dh, dc, acts, tcs, cprev, w_hh, mask, reverse)
    gb = py.lstm_backward(dout, dh, dc, acts, tcs, cprev, w_hh, mask, reverse)
    for x, y in zip(ga, gb, strict=True):
        assert rel_err(x, y) <= 1e-5


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("lengths", [False, True])
def test_engine_on_cuda_matches_cudnn(cell, lengths):
    torch.manual_seed(0)
    kw = dict(input_size=5, hidden_size=33, num_layers=2, bidirectional=True, device=CUDA)
    ref, mine = make(cell, torch_nn=True, **kw), make(cell, impl="explicit", **kw)
    mine.load_state_dict(ref.state_dict())
    x = torch.randn(T, B, 5, device=CUDA, requires_grad=True)
    if lengths:
        lens = torch.tensor([T, 3, 1, 6, 8, 2])
        def pack():  # one packing per model: each backward frees its own graph
            return torch.nn.utils.rnn.pack_padded_sequence(x, lens, enforce_sorted=False)

        (o_r, s_r), (o_m, s_m) = ref(pack()), mine(pack())
        o_r, o_m = (torch.nn.utils.rnn.pad_packed_sequence(o, total_length=T)[0] for o in (o_r, o_m))
    else:
        (o_r, s_r), (o_m, s_m) = ref(x), mine(x)
    assert rel_err(o_m, o_r) <= 1e-5
    assert all(rel_err(p, q) <= 1e-5 for p, q in zip(states(s_m), states(s_r), strict=True))
    g_r = torch.autograd.grad(o_r.pow(2).sum(), [x, *ref.parameters()])
    g_m = torch.autograd.grad(o_m.pow(2).sum(), [x, *mine.parameters()])
    assert all(rel_err(p, q) <= 1e-5 for p, q in zip(g_m, g_r, strict=True))


@pytest.mark.skipif(not triton_loops._triton_importable(), reason="needs Triton")
@pytest.mark.parametrize("mode,expect", [("auto", True), ("python", False)])
def test_cuda_lstm_runs_the_triton_loops(monkeypatch, mode, expect):
    monkeypatch.setenv("SEQLAB_LOOPS", mode)
    calls = []
    real = triton_loops._kernels

    def spy():
        calls.append(1)
        return real()

    monkeypatch.setattr(triton_loops, "_kernels", spy)
    m = make("lstm", impl="explicit", input_size=3, hidden_size=8, device=CUDA)
    m(torch.randn(T, B, 3, device=CUDA))[0].sum().backward()
    assert bool(calls) == expect
