"""GRU in NumPy, forward and explicit BPTT — the glass-box twin of ``torch.nn.GRU``.

One layer, one direction, batched, float64. Shapes: B batch, T time, I input size, H hidden size,
G gates (G = 3 here, PyTorch order r, z, n). Parameters (PyTorch layout): ``Wxh`` (3H, I),
``Whh`` (3H, H), ``bxh`` (3H,), ``bhh`` (3H,); the biases are optional.

    r = σ(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)
    z = σ(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)
    n = tanh(W_in x_t + b_in + r ⊙ (W_hn h_{t-1} + b_hn))
    h_t = (1 - z) ⊙ n + z ⊙ h_{t-1}

Unlike the LSTM, the input and hidden halves cannot be summed up front: r multiplies only the hidden
part of n, so b_hn and b_in get different gradients.
"""

from __future__ import annotations

import numpy as np

from seqlab.reference._common import params_from_state_dict, sigmoid, uniform_params, unpack

__all__ = ["GATES", "G", "forward", "backward", "init_params", "params_from_state_dict"]

GATES = ("r", "z", "n")  # PyTorch gate order: reset, update, new (candidate)
G = len(GATES)


def init_params(I, H, rng, bias=True):
    """Parameters drawn like torch.nn.GRU: U(-1/sqrt(H), 1/sqrt(H))."""
    return uniform_params(G, I, H, rng, bias=bias)


def forward(x, h0, params):
    """Run the GRU over x (T, B, I) from h0 (B, H). Returns ``(hs, cache)``; hs (T, B, H), h_n = hs[-1]."""
    x, h0, _, Wxh, Whh, bxh, bhh = unpack(params, x, h0, G)
    T, B, H = x.shape[0], h0.shape[0], h0.shape[1]
    hs = np.empty((T, B, H))
    rzn = np.empty((T, B, G * H))  # gate activations, kept for backward
    hns = np.empty((T, B, H))  # W_hn h_{t-1} + b_hn, kept for backward
    h = h0
    for t in range(T):
        ax = x[t] @ Wxh.T + bxh  # (B, 3H) input part of every gate
        ah = h @ Whh.T + bhh  # (B, 3H) hidden part of every gate
        axr, axz, axn = np.split(ax, G, axis=1)  # each (B, H), PyTorch order r, z, n
        ahr, ahz, ahn = np.split(ah, G, axis=1)  # each (B, H)
        # r = σ(W_ir x + b_ir + W_hr h + b_hr),  z = σ(W_iz x + b_iz + W_hz h + b_hz)
        r, z = sigmoid(axr + ahr), sigmoid(axz + ahz)
        # n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
        n = np.tanh(axn + r * ahn)  # (B, H)
        # h_t = (1 - z) ⊙ n + z ⊙ h_{t-1}
        h = (1 - z) * n + z * h  # (B, H)
        hs[t], rzn[t], hns[t] = h, np.concatenate([r, z, n], axis=1), ahn
    cache = {"x": x, "h0": h0, "hs": hs, "rzn": rzn, "hns": hns, "Wxh": Wxh, "Whh": Whh,
             "biases": [k for k in ("bxh", "bhh") if k in params]}
    return hs, cache


def backward(dhs, cache, dh_n=None):
    """BPTT. dhs (T, B, H) is dL/dhs from the outputs; dh_n (B, H) an optional extra dL/dh_n.

    Returns ``dx``, ``dh0``, ``dWxh``, ``dWhh`` and ``dbxh``/``dbhh`` for the biases that were given.
    """
    x, h0, hs, rzn, hns = cache["x"], cache["h0"], cache["hs"], cache["rzn"], cache["hns"]
    Wxh, Whh = cache["Wxh"], cache["Whh"]
    T = x.shape[0]
    dhs = np.zeros_like(hs) if dhs is None else np.asarray(dhs, dtype=np.float64)
    dx, dWxh, dWhh = np.zeros_like(x), np.zeros_like(Wxh), np.zeros_like(Whh)
    dbxh, dbhh = np.zeros(Wxh.shape[0]), np.zeros(Whh.shape[0])
    dhnext = np.zeros_like(h0) if dh_n is None else np.array(dh_n, dtype=np.float64)  # (B, H)
    for t in reversed(range(T)):
        r, z, n = np.split(rzn[t], G, axis=1)  # each (B, H)
        ahn = hns[t]
        hprev = hs[t - 1] if t > 0 else h0
        dh = dhs[t] + dhnext  # backprop into h: from the output at t and from step t+1
        # h_t = (1 - z) ⊙ n + z ⊙ h_{t-1}
        dn = (1 - z) * dh  # backprop into the candidate
        dz = (hprev - n) * dh  # backprop into the update gate
        dhprev = z * dh  # direct path to h_{t-1}
        # n = tanh(axn + r ⊙ ahn)
        dnraw = (1 - n * n) * dn  # backprop through tanh
        dr = ahn * dnraw  # backprop into the reset gate
        dahn = r * dnraw  # backprop into W_hn h + b_hn, gated by r
        # r, z = σ(.)
        dar = r * (1 - r) * dr  # backprop through sigmoid
        daz = z * (1 - z) * dz  # backprop through sigmoid
        dax = np.concatenate([dar, daz, dnraw], axis=1)  # (B, 3H) into the input part, order r, z, n
        dah = np.concatenate([dar, daz, dahn], axis=1)  # (B, 3H) into the hidden part, order r, z, n
        dWxh += dax.T @ x[t]  # (3H, I)
        dWhh += dah.T @ hprev  # (3H, H)
        dbxh += dax.sum(axis=0)  # (3H,) summed over the batch
        dbhh += dah.sum(axis=0)  # (3H,) summed over the batch
        dx[t] = dax @ Wxh  # (B, I) gradient to the input
        dhnext = dhprev + dah @ Whh  # (B, H) gradient to h_{t-1}: direct path + through the gates
    grads = {"dx": dx, "dh0": dhnext, "dWxh": dWxh, "dWhh": dWhh}
    grads.update({"d" + k: g for k, g in (("bxh", dbxh), ("bhh", dbhh)) if k in cache["biases"]})
    return grads
