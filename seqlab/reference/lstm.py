"""LSTM in NumPy, forward and explicit BPTT — the glass-box twin of ``torch.nn.LSTM``.

One layer, one direction, batched, float64. Shapes: B batch, T time, I input size, H hidden size,
G gates (G = 4 here, PyTorch order i, f, g, o). Parameters (PyTorch layout): ``Wxh`` (4H, I),
``Whh`` (4H, H), ``bxh`` (4H,), ``bhh`` (4H,); the biases are optional.

    [i, f, g, o] = Wxh x_t + bxh + Whh h_{t-1} + bhh    (pre-activations)
    i, f, o = σ(.),  g = tanh(.)
    c_t = f ⊙ c_{t-1} + i ⊙ g
    h_t = o ⊙ tanh(c_t)
"""

from __future__ import annotations

import numpy as np

from seqlab.reference._common import params_from_state_dict, sigmoid, uniform_params, unpack

__all__ = ["GATES", "G", "forward", "backward", "init_params", "params_from_state_dict"]

GATES = ("i", "f", "g", "o")  # PyTorch gate order: input, forget, cell, output
G = len(GATES)


def init_params(I, H, rng, bias=True):
    """Parameters drawn like torch.nn.LSTM: U(-1/sqrt(H), 1/sqrt(H))."""
    return uniform_params(G, I, H, rng, bias=bias)


def forward(x, h0, c0, params):
    """Run the LSTM over x (T, B, I) from (h0, c0), each (B, H).

    Returns ``(hs, cs, cache)``: all hidden states hs (T, B, H) and cell states cs (T, B, H);
    h_n = hs[-1], c_n = cs[-1].
    """
    x, h0, c0, Wxh, Whh, bxh, bhh = unpack(params, x, h0, G, c0=c0)
    T, B, H = x.shape[0], h0.shape[0], h0.shape[1]
    hs, cs = np.empty((T, B, H)), np.empty((T, B, H))
    ifgo = np.empty((T, B, G * H))  # gate activations, kept for backward
    h, c = h0, c0
    for t in range(T):
        # gates = Wxh x_t + bxh + Whh h_{t-1} + bhh
        a = x[t] @ Wxh.T + bxh + h @ Whh.T + bhh  # (B, 4H)
        ai, af, ag, ao = np.split(a, G, axis=1)  # each (B, H), PyTorch order i, f, g, o
        i, f, g, o = sigmoid(ai), sigmoid(af), np.tanh(ag), sigmoid(ao)
        # c_t = f ⊙ c_{t-1} + i ⊙ g
        c = f * c + i * g  # (B, H)
        # h_t = o ⊙ tanh(c_t)
        h = o * np.tanh(c)  # (B, H)
        hs[t], cs[t], ifgo[t] = h, c, np.concatenate([i, f, g, o], axis=1)
    cache = {"x": x, "h0": h0, "c0": c0, "hs": hs, "cs": cs, "ifgo": ifgo, "Wxh": Wxh, "Whh": Whh,
             "biases": [k for k in ("bxh", "bhh") if k in params]}
    return hs, cs, cache


def backward(dhs, cache, dh_n=None, dc_n=None):
    """BPTT. dhs (T, B, H) is dL/dhs from the outputs; dh_n, dc_n (B, H) optional extra dL/dh_n, dL/dc_n.

    Returns ``dx``, ``dh0``, ``dc0``, ``dWxh``, ``dWhh`` and ``dbxh``/``dbhh`` for the biases that were given.
    """
    x, h0, c0, hs, cs = cache["x"], cache["h0"], cache["c0"], cache["hs"], cache["cs"]
    Wxh, Whh, ifgo = cache["Wxh"], cache["Whh"], cache["ifgo"]
    T = x.shape[0]
    dhs = np.zeros_like(hs) if dhs is None else np.asarray(dhs, dtype=np.float64)
    dx, dWxh, dWhh = np.zeros_like(x), np.zeros_like(Wxh), np.zeros_like(Whh)
    db = np.zeros(Whh.shape[0])  # bxh and bhh enter the same sum, so they share one gradient
    dhnext = np.zeros_like(h0) if dh_n is None else np.array(dh_n, dtype=np.float64)  # (B, H)
    dcnext = np.zeros_like(c0) if dc_n is None else np.array(dc_n, dtype=np.float64)  # (B, H)
    for t in reversed(range(T)):
        i, f, g, o = np.split(ifgo[t], G, axis=1)  # each (B, H)
        c = cs[t]
        cprev = cs[t - 1] if t > 0 else c0
        hprev = hs[t - 1] if t > 0 else h0
        dh = dhs[t] + dhnext  # backprop into h: from the output at t and from step t+1
        tc = np.tanh(c)
        # h_t = o ⊙ tanh(c_t)
        do = tc * dh  # backprop into the output gate
        dc = o * dh * (1 - tc * tc) + dcnext  # backprop through tanh(c), plus the carry from step t+1
        # c_t = f ⊙ c_{t-1} + i ⊙ g
        df = cprev * dc  # backprop into the forget gate
        di = g * dc  # backprop into the input gate
        dg = i * dc  # backprop into the candidate
        dcnext = f * dc  # gradient to c_{t-1}
        # i, f, o = σ(a), g = tanh(a)
        dai = i * (1 - i) * di  # backprop through sigmoid
        daf = f * (1 - f) * df  # backprop through sigmoid
        dag = (1 - g * g) * dg  # backprop through tanh
        dao = o * (1 - o) * do  # backprop through sigmoid
        da = np.concatenate([dai, daf, dag, dao], axis=1)  # (B, 4H), PyTorch gate order
        dWxh += da.T @ x[t]  # (4H, I)
        dWhh += da.T @ hprev  # (4H, H)
        db += da.sum(axis=0)  # (4H,) summed over the batch
        dx[t] = da @ Wxh  # (B, I) gradient to the input
        dhnext = da @ Whh  # (B, H) gradient to h_{t-1}
    grads = {"dx": dx, "dh0": dhnext, "dc0": dcnext, "dWxh": dWxh, "dWhh": dWhh}
    grads.update({"d" + k: db.copy() for k in cache["biases"]})
    return grads
