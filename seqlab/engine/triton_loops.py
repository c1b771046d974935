"""CUDA time loops for the LSTM with each step's pointwise math fused into one Triton kernel.

On a GPU the Python twins of ``bptt.py`` launch about 8 small kernels per step forward and about 16
backward, so a short sequence is dominated by launch overhead, not arithmetic. Here every step is one
cuBLAS GEMM plus ONE Triton kernel (forward: gate activations, cell update, tanh(c), output; backward: all
four gate gradients and dc_next), with the same equations, buffers and mask rule as
``PythonLoops.lstm_forward`` / ``lstm_backward``. GRU and RNN keep the plain-torch loops.

Used (``bptt._impl``) for CUDA float32 input when Triton is importable and ``SEQLAB_LOOPS`` is not
``python``; CPU runs never import this module. Parity: ``tests/parity/test_gpu.py`` (skipped without
a GPU) against the Python twins and torch.nn/cuDNN.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor

from seqlab.engine.bptt import PythonLoops, _steps

__all__ = ["available", "TritonLoops"]

BLOCK = 512  # elements of (B, H) per program


@functools.cache
def _kernels():
    import triton
    import triton.language as tl

    @triton.jit
    def _sigmoid(x):
        return 1.0 / (1.0 + tl.exp(-x))

    @triton.jit
    def _tanh(x):  # tanh(x) = 2σ(2x) - 1, in float32
        return 2.0 / (1.0 + tl.exp(-2.0 * x)) - 1.0

    @triton.jit
    def lstm_fwd(g_ptr, cp_ptr, hp_ptr, c_ptr, tc_ptr, h_ptr, m_ptr, N, H, HAS_MASK: tl.constexpr,
                 BLOCK: tl.constexpr):
        k = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)  # index into (B, H)
        ok = k < N
        b = k // H
        gb = k + b * 3 * H  # index of gate i in (B, 4H): b*4H + j
        # i, f, o = σ(·); g = tanh(·)   (gates hold W_ih x_t + b + W_hh h_{t-1})
        i = _sigmoid(tl.load(g_ptr + gb, mask=ok, other=0.0))
        f = _sigmoid(tl.load(g_ptr + gb + H, mask=ok, other=0.0))
        g = _tanh(tl.load(g_ptr + gb + 2 * H, mask=ok, other=0.0))
        o = _sigmoid(tl.load(g_ptr + gb + 3 * H, mask=ok, other=0.0))
        tl.store(g_ptr + gb, i, mask=ok)
        tl.store(g_ptr + gb + H, f, mask=ok)
        tl.store(g_ptr + gb + 2 * H, g, mask=ok)
        tl.store(g_ptr + gb + 3 * H, o, mask=ok)
        # c_t = f ⊙ c_{t-1} + i ⊙ g;  h_t = o ⊙ tanh(c_t)
        cp = tl.load(cp_ptr + k, mask=ok, other=0.0)
        c = f * cp + i * g
        tc = _tanh(c)
        h = o * tc
        tl.store(tc_ptr + k, tc, mask=ok)
        if HAS_MASK:  # padded step: the carried state passes through
            valid = tl.load(m_ptr + b, mask=ok, other=0) != 0
            c = tl.where(valid, c, cp)
            h = tl.where(valid, h, tl.load(hp_ptr + k, mask=ok, other=0.0))
        tl.store(c_ptr + k, c, mask=ok)
        tl.store(h_ptr + k, h, mask=ok)

    @triton.jit
    def lstm_bwd(a_ptr, tc_ptr, cp_ptr, dh_ptr, dout_ptr, dc_ptr, dg_ptr, m_ptr, N, H, HAS_MASK: tl.constexpr,
                 BLOCK: tl.constexpr):
        k = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        ok = k < N
        b = k // H
        gb = k + b * 3 * H
        i = tl.load(a_ptr + gb, mask=ok, other=0.0)
        f = tl.load(a_ptr + gb + H, mask=ok, other=0.0)
        g = tl.load(a_ptr + gb + 2 * H, mask=ok, other=0.0)
        o = tl.load(a_ptr + gb + 3 * H, mask=ok, other=0.0)
        t = tl.load(tc_ptr + k, mask=ok, other=0.0)
        dht = tl.load(dh_ptr + k, mask=ok, other=0.0) + tl.load(dout_ptr + k, mask=ok, other=0.0)
        dc_carry = tl.load(dc_ptr + k, mask=ok, other=0.0)
        dc_in = dc_carry
        if HAS_MASK:  # padded step: nothing flows into the cell
            valid = tl.load(m_ptr + b, mask=ok, other=0) != 0
            dht = tl.where(valid, dht, 0.0)
            dc_in = tl.where(valid, dc_carry, 0.0)
        dct = dc_in + dht * o * (1.0 - t * t)  # through tanh(c_t), plus dc_next
        tl.store(dg_ptr + gb, dct * g * i * (1.0 - i), mask=ok)  # input gate, through σ
        tl.store(dg_ptr + gb + H, dct * tl.load(cp_ptr + k, mask=ok, other=0.0) * f * (1.0 - f), mask=ok)
        tl.store(dg_ptr + gb + 2 * H, dct * i * (1.0 - g * g), mask=ok)  # candidate, through tanh
        tl.store(dg_ptr + gb + 3 * H, dht * t * o * (1.0 - o), mask=ok)  # output gate, through σ
        dc_next = dct * f
        if HAS_MASK:
            dc_next = tl.where(valid, dc_next, dc_carry)
        tl.store(dc_ptr + k, dc_next, mask=ok)

    return triton.cdiv, lstm_fwd, lstm_bwd


@functools.cache
def _triton_importable() -> bool:
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True


def available(x: Tensor) -> bool:
    """True when the Triton loops run for this input: CUDA float32 with Triton installed."""
    return x.is_cuda and x.dtype == torch.float32 and _triton_importable()


class TritonLoops(PythonLoops):
    """``bptt.PythonLoops`` with the LSTM loops replaced by one fused Triton kernel per step (same signatures);
    the GRU and RNN loops are inherited unchanged."""

    @staticmethod
    def lstm_forward(xw, h0, c0, w_hh, mask, reverse):
        cdiv, fwd, _ = _kernels()
        T, B, G = xw.shape
        H = G // 4
        w_hh_t = w_hh.t().contiguous()  # (H, 4H)
        acts = torch.empty_like(xw)  # activated gates [i, f, g, o]
        hs, cs, tcs = (xw.new_empty(T, B, H) for _ in range(3))
        m8 = mask.to(torch.uint8) if mask is not None else None  # (T, B)
        h, c = h0.contiguous(), c0.contiguous()
        N = B * H
        grid = (cdiv(N, BLOCK),)
        for t in _steps(T, reverse):
            torch.addmm(xw[t], h, w_hh_t, out=acts[t])  # W_ih x_t + b + W_hh h_{t-1}
            fwd[grid](acts[t], c, h, cs[t], tcs[t], hs[t], m8[t] if m8 is not None else acts[t], N, H,
                      HAS_MASK=m8 is not None, BLOCK=BLOCK)
            h, c = hs[t], cs[t]
        return hs, cs, acts, tcs

    @staticmethod
    def lstm_backward(dout, dh, dc, acts, tanh_cs, cprev, w_hh, mask, reverse):
        cdiv, _, bwd = _kernels()
        T, B, H = tanh_cs.shape
        dgates = torch.empty_like(acts)
        dh, dc = dh.contiguous().clone(), dc.contiguous().clone()
        dout, cprev, w_hh = dout.contiguous(), cprev.contiguous(), w_hh.contiguous()
        m8 = mask.to(torch.uint8) if mask is not None else None
        N = B * H
        grid = (cdiv(N, BLOCK),)
        for t in _steps(T, not reverse):
            bwd[grid](acts[t], tanh_cs[t], cprev[t], dh, dout[t], dc, dgates[t],
                      m8[t] if m8 is not None else acts[t], N, H, HAS_MASK=m8 is not None, BLOCK=BLOCK)
            if mask is None:
                torch.mm(dgates[t], w_hh, out=dh)  # dh_next for step t-1, via W_hh
            else:
                dh = torch.where(mask[t].unsqueeze(1), dgates[t] @ w_hh, dh)  # passes through padded steps
        return dgates, dh, dc
