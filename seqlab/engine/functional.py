"""Cell equations, written out once and shared by the cells, the explicit layer forward and diagnostics.

Shape vocabulary (used across ``seqlab.engine``):
    B batch, T time, D directions (1 or 2), L layers, I input features (H_in), H hidden size (H_out),
    G gates per cell (RNN 1, LSTM 4, GRU 3).

Parameter layouts and gate orders are PyTorch's, so weights move between ``torch.nn`` and seqlab
untouched: ``weight_ih`` (G*H, I), ``weight_hh`` (G*H, H), ``bias_ih`` / ``bias_hh`` (G*H,).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "GATES",
    "GATE_ORDER",
    "rnn_pointwise",
    "lstm_pointwise",
    "gru_pointwise",
    "rnn_cell",
    "lstm_cell",
    "gru_cell",
]

# The one place gate orders live. PyTorch's: LSTM (input, forget, cell, output), GRU (reset, update, new).
GATE_ORDER = {"rnn_tanh": ("h",), "rnn_relu": ("h",), "lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n")}
GATES = {mode: len(order) for mode, order in GATE_ORDER.items()}


def rnn_pointwise(pre: Tensor, nonlinearity: str) -> Tensor:
    """pre = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh  (B, H)  ->  h_t."""
    # h_t = tanh(pre)  or  relu(pre)
    return torch.tanh(pre) if nonlinearity == "tanh" else torch.relu(pre)


def lstm_pointwise(gates: Tensor, c_prev: Tensor, c_out: Tensor | None = None,
                   tanh_c_out: Tensor | None = None, h_out: Tensor | None = None):
    """gates = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh  (B, 4H)  ->  (c_t, tanh(c_t), h_t).

    ``gates`` is activated IN PLACE into [i, f, g, o] (kept by the caller for the backward pass);
    results go into the optional ``*_out`` buffers so the time loop allocates nothing.
    """
    H = c_prev.shape[-1]
    # i_t, f_t = σ(·);  g_t = tanh(·);  o_t = σ(·)
    gates[:, : 2 * H].sigmoid_()
    gates[:, 2 * H : 3 * H].tanh_()
    gates[:, 3 * H :].sigmoid_()
    i, f, g, o = gates.chunk(4, dim=1)  # each (B, H)
    # c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
    c = torch.mul(f, c_prev, out=c_out) if c_out is not None else f * c_prev
    c.addcmul_(i, g)
    tanh_c = torch.tanh(c, out=tanh_c_out) if tanh_c_out is not None else torch.tanh(c)
    # h_t = o_t ⊙ tanh(c_t)
    h = torch.mul(o, tanh_c, out=h_out) if h_out is not None else o * tanh_c
    return c, tanh_c, h


def gru_pointwise(gx: Tensor, gh: Tensor, h_prev: Tensor) -> tuple[Tensor, Tensor]:
    """gx = W_ih x_t + b_ih, gh = W_hh h_{t-1} + b_hh  (B, 3H)  ->  (act, h_t).

    ``act`` is [r, z, n, W_hn h_{t-1} + b_hn] (B, 4H), kept for the backward pass.
    """
    H = h_prev.shape[-1]
    act = torch.empty(gx.shape[0], 4 * H, dtype=gx.dtype, device=gx.device)
    # r_t = σ(W_ir x + b_ir + W_hr h + b_hr);  z_t = σ(W_iz x + b_iz + W_hz h + b_hz)
    torch.sigmoid(gx[:, : 2 * H] + gh[:, : 2 * H], out=act[:, : 2 * H])
    r = act[:, :H]
    z = act[:, H : 2 * H]
    hn = gh[:, 2 * H :]
    act[:, 3 * H :] = hn
    # n_t = tanh(W_in x + b_in + r_t ⊙ (W_hn h + b_hn))
    n = torch.tanh(torch.addcmul(gx[:, 2 * H :], r, hn), out=act[:, 2 * H : 3 * H])
    # h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1}  =  n_t + z_t ⊙ (h_{t-1} - n_t)
    h = torch.addcmul(n, z, h_prev - n)
    return act, h


def _affine(x: Tensor, w: Tensor, b: Tensor | None) -> Tensor:
    return torch.nn.functional.linear(x, w, b)


def rnn_cell(x, h, w_ih, w_hh, b_ih=None, b_hh=None, nonlinearity="tanh") -> Tensor:
    """One Elman step, differentiable by autograd (cells are a single step: no BPTT to hand-write)."""
    # h' = act(W_ih x + b_ih + W_hh h + b_hh)
    return rnn_pointwise(_affine(x, w_ih, b_ih) + _affine(h, w_hh, b_hh), nonlinearity)


def lstm_cell(x, h, c, w_ih, w_hh, b_ih=None, b_hh=None) -> tuple[Tensor, Tensor]:
    """One LSTM step with autograd-friendly ops (no in-place writes)."""
    gates = _affine(x, w_ih, b_ih) + _affine(h, w_hh, b_hh)  # (B, 4H)
    i, f, g, o = gates.chunk(4, dim=1)  # PyTorch gate order: input, forget, cell, output
    # c' = σ(f) ⊙ c + σ(i) ⊙ tanh(g)
    c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    # h' = σ(o) ⊙ tanh(c')
    h_new = torch.sigmoid(o) * torch.tanh(c_new)
    return h_new, c_new


def gru_cell(x, h, w_ih, w_hh, b_ih=None, b_hh=None) -> Tensor:
    """One GRU step with autograd-friendly ops."""
    xr, xz, xn = _affine(x, w_ih, b_ih).chunk(3, dim=1)  # gate order: reset, update, new
    hr, hz, hn = _affine(h, w_hh, b_hh).chunk(3, dim=1)
    r = torch.sigmoid(xr + hr)
    z = torch.sigmoid(xz + hz)
    # n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
    n = torch.tanh(xn + r * hn)
    # h' = (1 - z) ⊙ n + z ⊙ h
    return (1 - z) * n + z * h
