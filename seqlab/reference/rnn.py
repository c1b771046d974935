"""Vanilla (Elman) RNN in NumPy, forward and explicit BPTT — the glass-box twin of ``torch.nn.RNN``.

One layer, one direction, batched, float64. Shapes: B batch, T time, I input size, H hidden size,
G gates (G = 1 here). Parameters (PyTorch layout): ``Wxh`` (H, I), ``Whh`` (H, H), ``bxh`` (H,),
``bhh`` (H,); the biases are optional.

    h_t = act(Wxh x_t + bxh + Whh h_{t-1} + bhh),   act = tanh or relu
"""

from __future__ import annotations

import numpy as np

from seqlab.reference._common import params_from_state_dict, uniform_params, unpack

__all__ = ["G", "NONLINEARITIES", "forward", "backward", "init_params", "params_from_state_dict"]

G = 1  # one pre-activation block: the hidden state itself
NONLINEARITIES = ("tanh", "relu")


def init_params(I, H, rng, bias=True):
    """Parameters drawn like torch.nn.RNN: U(-1/sqrt(H), 1/sqrt(H))."""
    return uniform_params(G, I, H, rng, bias=bias)


def forward(x, h0, params, nonlinearity="tanh"):
    """Run the RNN over x (T, B, I) from h0 (B, H). Returns ``(hs, cache)``; hs (T, B, H), h_n = hs[-1]."""
    if nonlinearity not in NONLINEARITIES:
        raise ValueError(f"nonlinearity must be one of {NONLINEARITIES}, got {nonlinearity!r}")
    x, h0, _, Wxh, Whh, bxh, bhh = unpack(params, x, h0, G)
    T, B, H = x.shape[0], h0.shape[0], h0.shape[1]
    hs = np.empty((T, B, H))
    h = h0
    for t in range(T):
        # h_t = act(Wxh x_t + bxh + Whh h_{t-1} + bhh)
        hraw = x[t] @ Wxh.T + bxh + h @ Whh.T + bhh  # (B, H)
        h = np.tanh(hraw) if nonlinearity == "tanh" else np.maximum(hraw, 0.0)  # (B, H)
        hs[t] = h
    cache = {"x": x, "h0": h0, "hs": hs, "Wxh": Wxh, "Whh": Whh, "nonlinearity": nonlinearity,
             "biases": [k for k in ("bxh", "bhh") if k in params]}
    return hs, cache


def backward(dhs, cache, dh_n=None):
    """BPTT. dhs (T, B, H) is dL/dhs from the outputs; dh_n (B, H) an optional extra dL/dh_n.

    Returns ``dx``, ``dh0``, ``dWxh``, ``dWhh`` and ``dbxh``/``dbhh`` for the biases that were given.
    """
    x, h0, hs, Wxh, Whh = cache["x"], cache["h0"], cache["hs"], cache["Wxh"], cache["Whh"]
    T = x.shape[0]
    dhs = np.zeros_like(hs) if dhs is None else np.asarray(dhs, dtype=np.float64)
    dx, dWxh, dWhh = np.zeros_like(x), np.zeros_like(Wxh), np.zeros_like(Whh)
    db = np.zeros(Whh.shape[0])  # bxh and bhh enter the same sum, so they share one gradient
    dhnext = np.zeros_like(h0) if dh_n is None else np.array(dh_n, dtype=np.float64)  # (B, H)
    for t in reversed(range(T)):
        h = hs[t]
        hprev = hs[t - 1] if t > 0 else h0
        dh = dhs[t] + dhnext  # backprop into h: from the output at t and from step t+1
        if cache["nonlinearity"] == "tanh":
            dhraw = (1 - h * h) * dh  # backprop through tanh
        else:
            dhraw = (h > 0) * dh  # backprop through relu
        dWxh += dhraw.T @ x[t]  # (H, I)
        dWhh += dhraw.T @ hprev  # (H, H)
        db += dhraw.sum(axis=0)  # (H,) summed over the batch
        dx[t] = dhraw @ Wxh  # (B, I) gradient to the input
        dhnext = dhraw @ Whh  # (B, H) gradient to h_{t-1}
    grads = {"dx": dx, "dh0": dhnext, "dWxh": dWxh, "dWhh": dWhh}
    grads.update({"d" + k: db.copy() for k in cache["biases"]})
    return grads
