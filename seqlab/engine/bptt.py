"""Hand-written backpropagation through time, one ``torch.autograd.Function`` per cell type.

Each Function runs ONE layer in ONE direction over a whole sequence. Its forward runs without autograd
and saves what the backward needs; its backward walks time in reverse carrying ``dh_next`` (and
``dc_next`` for the LSTM), forms the gate gradients of every step into one (T, B, G*H) buffer, then gets
the weight and input gradients from single GEMMs over all T*B rows instead of T small ones.

Variable lengths come in as a boolean ``mask`` (T, B, 1): at a padded step the carried state passes
through unchanged and the output is zero. Because the reverse direction walks t = T-1 .. 0 with the same
rule, it starts at each sequence's last valid step with the initial state, exactly as packed sequences do
in torch.nn. Shapes: see ``seqlab.engine.functional``.

The per-step loops exist twice with one signature: the Python twins below (``PythonLoops``: readable, the
reference for the fast paths), the C++ loops of ``csrc/loops.cpp`` (one vectorised pointwise pass per step, no
Python between steps; CPU float32/float64, chosen by ``seqlab.engine.ext.loops`` when built), and on CUDA the
LSTM loops of ``triton_loops.py`` (one fused Triton kernel per step, float32).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from seqlab.engine.ext import enabled, loops
from seqlab.engine.functional import gru_pointwise, lstm_pointwise, rnn_pointwise

__all__ = ["RNNLayerFn", "LSTMLayerFn", "GRULayerFn", "PythonLoops"]


def _steps(T: int, reverse: bool) -> range:
    return range(T - 1, -1, -1) if reverse else range(T)


def _input_projection(x: Tensor, w_ih: Tensor, b_ih: Tensor | None) -> Tensor:
    """W_ih x_t + b_ih for every step at once: one GEMM over T*B rows."""
    T, B, I = x.shape
    x2 = x.reshape(T * B, I)  # (T*B, I)
    xw = torch.addmm(b_ih, x2, w_ih.t()) if b_ih is not None else x2 @ w_ih.t()  # (T*B, G*H)
    return xw.view(T, B, -1)  # (T, B, G*H)


def _both(b_ih: Tensor | None, b_hh: Tensor | None) -> Tensor | None:
    """Both biases enter every step unchanged (RNN, LSTM): add them once, inside the input GEMM."""
    return b_ih if b_hh is None else b_hh if b_ih is None else b_ih + b_hh


def _prev_states(hs: Tensor, h0: Tensor, reverse: bool) -> Tensor:
    """The state each step read: h_{t-1} in processing order.  (T, B, H)"""
    if reverse:
        return torch.cat([hs[1:], h0.unsqueeze(0)], 0)  # step t read the state left by step t+1
    return torch.cat([h0.unsqueeze(0), hs[:-1]], 0)


def _row(mask: Tensor | None, t: int) -> Tensor | None:
    return None if mask is None else mask[t].unsqueeze(-1)  # (B, 1)


def _carry(m: Tensor | None, new: Tensor, old: Tensor) -> Tensor:
    """Carried state: the new state at valid steps, the old one passed through at padded steps."""
    return new if m is None else torch.where(m, new, old)


def _dh_total(dh: Tensor, dout: Tensor, m: Tensor | None) -> Tensor:
    """dL/dh_t at a step: from the step above in time plus from the output; zero at padded steps."""
    d = dh + dout
    return d if m is None else d * m


def _last(hs: Tensor, reverse: bool) -> Tensor:
    """The carried state after the last processed step."""
    return hs[0] if reverse else hs[-1]


class PythonLoops:
    """The time loops in plain torch; ``csrc/loops.cpp`` implements the same six functions.

    ``mask`` here is (T, B) bool or None; ``xw`` / ``gx`` are the input projections of all steps.
    """

    @staticmethod
    def rnn_forward(xw, h0, w_hh, mask, reverse, relu):
        T, B, H = xw.shape
        w_hh_t = w_hh.t().contiguous()  # (H, H), pre-transposed once
        hs = xw.new_empty(T, B, H)  # carried states
        h, act = h0, "relu" if relu else "tanh"
        for t in _steps(T, reverse):
            # h_t = act(W_ih x_t + b + W_hh h_{t-1})
            h = hs[t] = _carry(_row(mask, t), rnn_pointwise(torch.addmm(xw[t], h, w_hh_t), act), h)
        return (hs,)

    @staticmethod
    def rnn_backward(dout, dh, hs, w_hh, mask, reverse, relu):
        dpre = torch.empty_like(hs)  # dL/d(pre-activation) for every step (T, B, H)
        for t in _steps(hs.shape[0], not reverse):
            m = _row(mask, t)
            dh_t = _dh_total(dh, dout[t], m)
            h = hs[t]
            # backprop through the nonlinearity: tanh' = 1 - h², relu' = [h > 0]
            dpre[t] = dh_t * (h > 0) if relu else dh_t * (1 - h * h)
            dh = _carry(m, dpre[t] @ w_hh, dh)  # dh_next for step t-1; passes through padded steps
        return dpre, dh

    @staticmethod
    def lstm_forward(xw, h0, c0, w_hh, mask, reverse):
        T, B, G = xw.shape
        H = G // 4
        w_hh_t = w_hh.t().contiguous()  # (H, 4H)
        acts = xw.new_empty(T, B, 4 * H)  # activated gates [i, f, g, o]
        tanh_cs = xw.new_empty(T, B, H)  # tanh(c_t)
        hs, cs = xw.new_empty(T, B, H), xw.new_empty(T, B, H)  # carried h_t, c_t
        h, c = h0, c0
        for t in _steps(T, reverse):
            gates = torch.addmm(xw[t], h, w_hh_t, out=acts[t])  # W_ih x_t + b + W_hh h_{t-1}  (B, 4H)
            m = _row(mask, t)
            if m is None:  # write straight into the saved buffers
                c, _, h = lstm_pointwise(gates, c, cs[t], tanh_cs[t], hs[t])
            else:
                c_new, _, h_new = lstm_pointwise(gates, c, None, tanh_cs[t], None)
                h = hs[t] = _carry(m, h_new, h)
                c = cs[t] = _carry(m, c_new, c)
        return hs, cs, acts, tanh_cs

    @staticmethod
    def lstm_backward(dout, dh, dc, acts, tanh_cs, cprev, w_hh, mask, reverse):
        dgates = torch.empty_like(acts)  # dL/d(pre-activation gates) for every step (T, B, 4H)
        H = tanh_cs.shape[2]
        for t in _steps(acts.shape[0], not reverse):
            m = _row(mask, t)
            i, f, g, o = acts[t].chunk(4, dim=1)
            tanh_c = tanh_cs[t]
            dh_t = _dh_total(dh, dout[t], m)
            dc_in = dc if m is None else dc * m
            # h_t = o ⊙ tanh(c_t)
            do = dh_t * tanh_c  # backprop into the output gate
            dc_t = dc_in + dh_t * o * (1 - tanh_c * tanh_c)  # backprop through tanh(c_t), plus dc_next
            # c_t = f ⊙ c_{t-1} + i ⊙ g
            di, df, dg = dc_t * g, dc_t * cprev[t], dc_t * i
            dgt = dgates[t]
            torch.mul(di, i * (1 - i), out=dgt[:, :H])  # backprop through σ
            torch.mul(df, f * (1 - f), out=dgt[:, H : 2 * H])  # backprop through σ
            torch.mul(dg, 1 - g * g, out=dgt[:, 2 * H : 3 * H])  # backprop through tanh
            torch.mul(do, o * (1 - o), out=dgt[:, 3 * H :])  # backprop through σ
            dh = _carry(m, dgt @ w_hh, dh)  # dh_next for step t-1
            dc = _carry(m, dc_t * f, dc)  # dc_next for step t-1
        return dgates, dh, dc

    @staticmethod
    def gru_forward(gx, h0, w_hh, b_hh, mask, reverse):
        T, B, G = gx.shape
        H = G // 3
        w_hh_t = w_hh.t().contiguous()  # (H, 3H)
        acts = gx.new_empty(T, B, 4 * H)  # [r, z, n, W_hn h + b_hn]
        hs = gx.new_empty(T, B, H)
        h = h0
        for t in _steps(T, reverse):
            gh = torch.addmm(b_hh, h, w_hh_t) if b_hh is not None else h @ w_hh_t  # (B, 3H)
            acts[t], h_new = gru_pointwise(gx[t], gh, h)
            h = hs[t] = _carry(_row(mask, t), h_new, h)
        return hs, acts

    @staticmethod
    def gru_backward(dout, dh, acts, hprev, w_hh, mask, reverse):
        T, B, H = hprev.shape
        dgx = acts.new_empty(T, B, 3 * H)  # dL/d(W_ih x + b_ih) per gate
        dgh = acts.new_empty(T, B, 3 * H)  # dL/d(W_hh h + b_hh) per gate
        for t in _steps(T, not reverse):
            m = _row(mask, t)
            r, z, n, hn = acts[t].chunk(4, dim=1)
            dh_t = _dh_total(dh, dout[t], m)
            # h_t = (1 - z) ⊙ n + z ⊙ h_{t-1}
            dn = dh_t * (1 - z)  # backprop into the candidate
            dz = dh_t * (hprev[t] - n)  # backprop into the update gate
            # n = tanh(x_n + r ⊙ hn)
            dn_pre = dn * (1 - n * n)  # backprop through tanh
            dr_pre = dn_pre * hn * r * (1 - r)  # backprop through r ⊙ hn, then σ
            dz_pre = dz * z * (1 - z)  # backprop through σ
            dgx[t, :, :H], dgx[t, :, H : 2 * H], dgx[t, :, 2 * H :] = dr_pre, dz_pre, dn_pre
            dgh[t, :, : 2 * H] = dgx[t, :, : 2 * H]
            torch.mul(dn_pre, r, out=dgh[t, :, 2 * H :])  # hn enters through r ⊙ hn
            dh_prev = torch.addcmul(dgh[t] @ w_hh, dh_t, z)  # via W_hh and via the z ⊙ h_{t-1} path
            dh = _carry(m, dh_prev, dh)
        return dgx, dgh, dh


def _impl(x: Tensor):
    """The C++ loops (CPU) or the Triton LSTM loops (CUDA) when they run for this input, else the Python twins."""
    cpp = loops(x)
    if cpp is not None:
        return cpp
    if x.is_cuda and enabled():
        from seqlab.engine import triton_loops  # it subclasses PythonLoops: imported on first CUDA use

        if triton_loops.available(x):
            return triton_loops.TritonLoops
    return PythonLoops


def _mask2d(mask: Tensor | None) -> Tensor | None:
    return None if mask is None else mask.reshape(mask.shape[0], mask.shape[1]).contiguous()  # (T, B) bool


def _grads_in(ctx, dgx: Tensor, dgh: Tensor, x: Tensor, hprev: Tensor, w_ih: Tensor, w0: int):
    """dx, dW_ih, dW_hh, db_ih, db_hh from the gate gradients of all steps: single GEMMs over T*B rows.

    ``w0`` is the position of ``w_ih`` among the Function's inputs (weights follow it in torch order).
    """
    T, B, I = x.shape
    dgx2 = dgx.reshape(T * B, -1)  # (T*B, G*H)
    dgh2 = dgh.reshape(T * B, -1)
    need = ctx.needs_input_grad
    dx = (dgx2 @ w_ih).view(T, B, I) if need[0] else None
    dw_ih = dgx2.t() @ x.reshape(T * B, I) if need[w0] else None  # (G*H, I)
    dw_hh = dgh2.t() @ hprev.reshape(T * B, -1) if need[w0 + 1] else None  # (G*H, H)
    db_ih = dgx2.sum(0) if ctx.has_bias and need[w0 + 2] else None  # (G*H,)
    db_hh = dgh2.sum(0) if ctx.has_bias and need[w0 + 3] else None
    return dx, dw_ih, dw_hh, db_ih, db_hh


def _out(hs: Tensor, mask: Tensor | None) -> Tensor:
    """Outputs are the carried states, zeroed past each sequence's length."""
    return hs if mask is None else hs * mask


class RNNLayerFn(torch.autograd.Function):
    """Elman RNN layer: h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)."""

    @staticmethod
    def forward(ctx, x, h0, w_ih, w_hh, b_ih, b_hh, mask, reverse, nonlinearity):
        xw = _input_projection(x, w_ih, _both(b_ih, b_hh))  # W_ih x_t + b_ih + b_hh  (T, B, H)
        (hs,) = _impl(x).rnn_forward(xw, h0, w_hh, _mask2d(mask), reverse, nonlinearity == "relu")
        ctx.save_for_backward(x, h0, w_ih, w_hh, hs, mask)
        ctx.reverse, ctx.nonlinearity, ctx.has_bias = reverse, nonlinearity, b_ih is not None
        return _out(hs, mask), _last(hs, reverse).clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, dout, dh_n):
        x, h0, w_ih, w_hh, hs, mask = ctx.saved_tensors
        dpre, dh0 = _impl(x).rnn_backward(dout.contiguous(), dh_n, hs, w_hh, _mask2d(mask), ctx.reverse,
                                          ctx.nonlinearity == "relu")
        hprev = _prev_states(hs, h0, ctx.reverse)
        dx, dw_ih, dw_hh, db_ih, db_hh = _grads_in(ctx, dpre, dpre, x, hprev, w_ih, 2)
        return dx, dh0, dw_ih, dw_hh, db_ih, db_hh, None, None, None


class LSTMLayerFn(torch.autograd.Function):
    """LSTM layer, PyTorch gate order (i, f, g, o)."""

    @staticmethod
    def forward(ctx, x, h0, c0, w_ih, w_hh, b_ih, b_hh, mask, reverse):
        xw = _input_projection(x, w_ih, _both(b_ih, b_hh))  # W_ih x_t + b_ih + b_hh  (T, B, 4H)
        hs, cs, acts, tanh_cs = _impl(x).lstm_forward(xw, h0, c0, w_hh, _mask2d(mask), reverse)
        ctx.save_for_backward(x, h0, c0, w_ih, w_hh, acts, tanh_cs, hs, cs, mask)
        ctx.reverse, ctx.has_bias = reverse, b_ih is not None
        return _out(hs, mask), _last(hs, reverse).clone(), _last(cs, reverse).clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, dout, dh_n, dc_n):
        x, h0, c0, w_ih, w_hh, acts, tanh_cs, hs, cs, mask = ctx.saved_tensors
        cprev = _prev_states(cs, c0, ctx.reverse)  # c_{t-1} each step read (T, B, H)
        dgates, dh0, dc0 = _impl(x).lstm_backward(dout.contiguous(), dh_n, dc_n, acts, tanh_cs, cprev, w_hh,
                                                  _mask2d(mask), ctx.reverse)
        hprev = _prev_states(hs, h0, ctx.reverse)
        dx, dw_ih, dw_hh, db_ih, db_hh = _grads_in(ctx, dgates, dgates, x, hprev, w_ih, 3)
        return dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh, None, None


class GRULayerFn(torch.autograd.Function):
    """GRU layer, PyTorch gate order (r, z, n); b_hn stays inside the reset product, as in torch.nn."""

    @staticmethod
    def forward(ctx, x, h0, w_ih, w_hh, b_ih, b_hh, mask, reverse):
        gx = _input_projection(x, w_ih, b_ih)  # W_ih x_t + b_ih  (T, B, 3H)
        hs, acts = _impl(x).gru_forward(gx, h0, w_hh, b_hh, _mask2d(mask), reverse)
        ctx.save_for_backward(x, h0, w_ih, w_hh, acts, hs, mask)
        ctx.reverse, ctx.has_bias = reverse, b_ih is not None
        return _out(hs, mask), _last(hs, reverse).clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, dout, dh_n):
        x, h0, w_ih, w_hh, acts, hs, mask = ctx.saved_tensors
        hprev = _prev_states(hs, h0, ctx.reverse)
        dgx, dgh, dh0 = _impl(x).gru_backward(dout.contiguous(), dh_n, acts, hprev, w_hh, _mask2d(mask),
                                              ctx.reverse)
        dx, dw_ih, dw_hh, db_ih, db_hh = _grads_in(ctx, dgx, dgh, x, hprev, w_ih, 2)
        return dx, dh0, dw_ih, dw_hh, db_ih, db_hh, None, None
