"""Hand-written backpropagation through time, one ``torch.autograd.Function`` per cell type.

Each Function runs ONE layer in ONE direction over a whole sequence. Its forward runs without autograd
and saves what the backward needs; its backward walks time in reverse carrying ``dh_next`` (and
``dc_next`` for the LSTM), forms the gate gradients of every step into one (T, B, G*H) buffer, then gets
the weight and input gradients from single GEMMs over all T*B rows instead of T small ones.

Variable lengths come in as a boolean ``mask`` (T, B, 1): at a padded step the carried state passes
through unchanged and the output is zero. Because the reverse direction walks t = T-1 .. 0 with the same
rule, it starts at each sequence's last valid step with the initial state, exactly as packed sequences do
in torch.nn. Shapes: see ``seqlab.engine.functional``.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from seqlab.engine.functional import gru_pointwise, lstm_pointwise, rnn_pointwise

__all__ = ["RNNLayerFn", "LSTMLayerFn", "GRULayerFn"]


def _steps(T: int, reverse: bool) -> range:
    return range(T - 1, -1, -1) if reverse else range(T)


def _input_projection(x: Tensor, w_ih: Tensor, b_ih: Tensor | None) -> Tensor:
    """W_ih x_t + b_ih for every step at once: one GEMM over T*B rows."""
    T, B, I = x.shape
    x2 = x.reshape(T * B, I)  # (T*B, I)
    xw = torch.addmm(b_ih, x2, w_ih.t()) if b_ih is not None else x2 @ w_ih.t()  # (T*B, G*H)
    return xw.view(T, B, -1)  # (T, B, G*H)


def _prev_states(hs: Tensor, h0: Tensor, reverse: bool) -> Tensor:
    """The state each step read: h_{t-1} in processing order.  (T, B, H)"""
    if reverse:
        return torch.cat([hs[1:], h0.unsqueeze(0)], 0)  # step t read the state left by step t+1
    return torch.cat([h0.unsqueeze(0), hs[:-1]], 0)


def _carry(mask: Tensor | None, t: int, new: Tensor, old: Tensor) -> Tensor:
    """Carried state: the new state at valid steps, the old one passed through at padded steps."""
    return new if mask is None else torch.where(mask[t], new, old)


def _out(hs: Tensor, mask: Tensor | None) -> Tensor:
    """Outputs are the carried states, zeroed past each sequence's length."""
    return hs if mask is None else hs * mask


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


def _dh_total(dh: Tensor, dout: Tensor | None, mask: Tensor | None, t: int) -> Tensor:
    """dL/dh_t at a step: from the step above in time plus from the output; zero at padded steps."""
    d = dh if dout is None else dh + dout[t]
    return d if mask is None else d * mask[t]


def _pass_through(mask: Tensor | None, t: int, d_prev: Tensor, d_carry: Tensor) -> Tensor:
    """At padded steps the carried state skipped the cell: its gradient passes through unchanged."""
    return d_prev if mask is None else torch.where(mask[t], d_prev, d_carry)


class RNNLayerFn(torch.autograd.Function):
    """Elman RNN layer: h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)."""

    @staticmethod
    def forward(ctx, x, h0, w_ih, w_hh, b_ih, b_hh, mask, reverse, nonlinearity):
        T, B, _ = x.shape
        xw = _input_projection(x, w_ih, b_ih)  # (T, B, H)
        if b_hh is not None:
            xw += b_hh
        w_hh_t = w_hh.t().contiguous()  # (H, H), pre-transposed once
        hs = x.new_empty(T, B, w_hh.shape[1])  # carried states (T, B, H)
        h = h0
        for t in _steps(T, reverse):
            # h_t = act(W_ih x_t + b + W_hh h_{t-1})
            h_new = rnn_pointwise(torch.addmm(xw[t], h, w_hh_t), nonlinearity)
            h = hs[t] = _carry(mask, t, h_new, h)
        ctx.save_for_backward(x, h0, w_ih, w_hh, hs, mask)
        ctx.reverse, ctx.nonlinearity, ctx.has_bias = reverse, nonlinearity, b_ih is not None
        return _out(hs, mask), h.clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, dout, dh_n):
        x, h0, w_ih, w_hh, hs, mask = ctx.saved_tensors
        T = x.shape[0]
        dpre = torch.empty_like(hs)  # dL/d(pre-activation) for every step (T, B, H)
        dh = dh_n if dh_n is not None else torch.zeros_like(h0)
        for t in _steps(T, not ctx.reverse):
            dh_t = _dh_total(dh, dout, mask, t)
            h = hs[t]
            # backprop through the nonlinearity: tanh' = 1 - h², relu' = [h > 0]
            dpre[t] = dh_t * (1 - h * h) if ctx.nonlinearity == "tanh" else dh_t * (h > 0)
            dh = _pass_through(mask, t, dpre[t] @ w_hh, dh)  # dh_next for step t-1
        hprev = _prev_states(hs, h0, ctx.reverse)
        dx, dw_ih, dw_hh, db_ih, db_hh = _grads_in(ctx, dpre, dpre, x, hprev, w_ih, 2)
        return dx, dh, dw_ih, dw_hh, db_ih, db_hh, None, None, None


class LSTMLayerFn(torch.autograd.Function):
    """LSTM layer, PyTorch gate order (i, f, g, o)."""

    @staticmethod
    def forward(ctx, x, h0, c0, w_ih, w_hh, b_ih, b_hh, mask, reverse):
        T, B, _ = x.shape
        H = w_hh.shape[1]
        xw = _input_projection(x, w_ih, b_ih)  # (T, B, 4H)
        if b_hh is not None:
            xw += b_hh  # both biases enter every step unchanged: fold them in once
        w_hh_t = w_hh.t().contiguous()  # (H, 4H)
        acts = x.new_empty(T, B, 4 * H)  # activated gates [i, f, g, o]
        tanh_cs = x.new_empty(T, B, H)  # tanh(c_t)
        hs, cs = x.new_empty(T, B, H), x.new_empty(T, B, H)  # carried h_t, c_t
        h, c = h0, c0
        for t in _steps(T, reverse):
            gates = torch.addmm(xw[t], h, w_hh_t, out=acts[t])  # W_ih x_t + b + W_hh h_{t-1}  (B, 4H)
            if mask is None:  # write straight into the saved buffers
                c, _, h = lstm_pointwise(gates, c, cs[t], tanh_cs[t], hs[t])
            else:
                c_new, _, h_new = lstm_pointwise(gates, c, None, tanh_cs[t], None)
                h = hs[t] = _carry(mask, t, h_new, h)
                c = cs[t] = _carry(mask, t, c_new, c)
        ctx.save_for_backward(x, h0, c0, w_ih, w_hh, acts, tanh_cs, hs, cs, mask)
        ctx.reverse, ctx.has_bias = reverse, b_ih is not None
        return _out(hs, mask), h.clone(), c.clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, dout, dh_n, dc_n):
        x, h0, c0, w_ih, w_hh, acts, tanh_cs, hs, cs, mask = ctx.saved_tensors
        T = x.shape[0]
        dgates = torch.empty_like(acts)  # dL/d(pre-activation gates) for every step (T, B, 4H)
        dh = dh_n if dh_n is not None else torch.zeros_like(h0)
        dc = dc_n if dc_n is not None else torch.zeros_like(c0)
        cprev = _prev_states(cs, c0, ctx.reverse)  # c_{t-1} each step read (T, B, H)
        for t in _steps(T, not ctx.reverse):
            i, f, g, o = acts[t].chunk(4, dim=1)
            tanh_c = tanh_cs[t]
            dh_t = _dh_total(dh, dout, mask, t)
            dc_in = dc if mask is None else dc * mask[t]
            # h_t = o ⊙ tanh(c_t)
            do = dh_t * tanh_c  # backprop into the output gate
            dc_t = dc_in + dh_t * o * (1 - tanh_c * tanh_c)  # backprop through tanh(c_t), plus dc_next
            # c_t = f ⊙ c_{t-1} + i ⊙ g
            di, df, dg = dc_t * g, dc_t * cprev[t], dc_t * i
            dgt = dgates[t]
            torch.mul(di, i * (1 - i), out=dgt[:, : i.shape[1]])  # backprop through σ
            torch.mul(df, f * (1 - f), out=dgt[:, i.shape[1] : 2 * i.shape[1]])  # backprop through σ
            torch.mul(dg, 1 - g * g, out=dgt[:, 2 * i.shape[1] : 3 * i.shape[1]])  # backprop through tanh
            torch.mul(do, o * (1 - o), out=dgt[:, 3 * i.shape[1] :])  # backprop through σ
            dh = _pass_through(mask, t, dgt @ w_hh, dh)  # dh_next for step t-1
            dc = _pass_through(mask, t, dc_t * f, dc)  # dc_next for step t-1
        hprev = _prev_states(hs, h0, ctx.reverse)
        dx, dw_ih, dw_hh, db_ih, db_hh = _grads_in(ctx, dgates, dgates, x, hprev, w_ih, 3)
        return dx, dh, dc, dw_ih, dw_hh, db_ih, db_hh, None, None


class GRULayerFn(torch.autograd.Function):
    """GRU layer, PyTorch gate order (r, z, n); b_hn stays inside the reset product, as in torch.nn."""

    @staticmethod
    def forward(ctx, x, h0, w_ih, w_hh, b_ih, b_hh, mask, reverse):
        T, B, _ = x.shape
        H = w_hh.shape[1]
        gx = _input_projection(x, w_ih, b_ih)  # W_ih x_t + b_ih  (T, B, 3H)
        w_hh_t = w_hh.t().contiguous()  # (H, 3H)
        acts = x.new_empty(T, B, 4 * H)  # [r, z, n, W_hn h + b_hn]
        hs = x.new_empty(T, B, H)
        h = h0
        for t in _steps(T, reverse):
            gh = torch.addmm(b_hh, h, w_hh_t) if b_hh is not None else h @ w_hh_t  # (B, 3H)
            acts[t], h_new = gru_pointwise(gx[t], gh, h)
            h = hs[t] = _carry(mask, t, h_new, h)
        ctx.save_for_backward(x, h0, w_ih, w_hh, acts, hs, mask)
        ctx.reverse, ctx.has_bias = reverse, b_ih is not None
        return _out(hs, mask), h.clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, dout, dh_n):
        x, h0, w_ih, w_hh, acts, hs, mask = ctx.saved_tensors
        T, B, H = hs.shape
        dgx = x.new_empty(T, B, 3 * H)  # dL/d(W_ih x + b_ih) per gate
        dgh = x.new_empty(T, B, 3 * H)  # dL/d(W_hh h + b_hh) per gate
        dh = dh_n if dh_n is not None else torch.zeros_like(h0)
        hprev = _prev_states(hs, h0, ctx.reverse)
        for t in _steps(T, not ctx.reverse):
            r, z, n, hn = acts[t].chunk(4, dim=1)
            dh_t = _dh_total(dh, dout, mask, t)
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
            dh = _pass_through(mask, t, dh_prev, dh)
        dx, dw_ih, dw_hh, db_ih, db_hh = _grads_in(ctx, dgx, dgh, x, hprev, w_ih, 2)
        return dx, dh, dw_ih, dw_hh, db_ih, db_hh, None, None
