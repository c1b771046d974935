"""Finite-difference check of the reference BPTT, float64.

Shapes: B batch, T time, I input size, H hidden size, G gates. The loss
``L = Σ hs ⊙ R + Σ h_n ⊙ Rn (+ Σ c_n ⊙ Rc for the LSTM)`` uses random R's so every path — every output,
the final state, and the cell state — carries gradient.

Error measure, per gradient array (a analytic, n numerical, norms over the whole array):
``‖a − n‖₂ / max(‖a‖₂ + ‖n‖₂, 1e-12)``. A whole-array ratio, not an element-wise max: central differences
carry ~1e-10 absolute round-off, which an element-wise ratio would blow up on entries that are near zero.
"""

from __future__ import annotations

import numpy as np

from seqlab.reference import gru, lstm, rnn

__all__ = ["CELLS", "numerical_grad", "rel_error", "check"]

CELLS = {"rnn": rnn, "lstm": lstm, "gru": gru}


def numerical_grad(f, array, eps=1e-6):
    """dL/d(array) by central differences: (f(a + eps) - f(a - eps)) / 2eps, one entry at a time.

    ``f()`` takes no arguments and reads ``array``, which is perturbed in place and restored.
    """
    grad = np.zeros_like(array)
    for idx in np.ndindex(array.shape):
        old = array[idx]
        array[idx] = old + eps
        fplus = f()
        array[idx] = old - eps
        fminus = f()
        array[idx] = old  # restore
        grad[idx] = (fplus - fminus) / (2 * eps)
    return grad


def rel_error(a, n):
    """‖a − n‖₂ / max(‖a‖₂ + ‖n‖₂, 1e-12); 0 when both are zero."""
    return float(np.linalg.norm(a - n) / max(np.linalg.norm(a) + np.linalg.norm(n), 1e-12))


def _run(cell, inputs, params, nonlinearity):
    """Forward with a uniform signature: returns (hs, cs or None, cache)."""
    if cell == "lstm":
        return lstm.forward(inputs["x"], inputs["h0"], inputs["c0"], params)
    if cell == "rnn":
        hs, cache = rnn.forward(inputs["x"], inputs["h0"], params, nonlinearity=nonlinearity)
    else:
        hs, cache = gru.forward(inputs["x"], inputs["h0"], params)
    return hs, None, cache


def check(cell, T, B, I, H, seed=0, bias=True, nonlinearity="tanh", eps=1e-6):
    """Compare backward with central differences; returns {name: rel_error} for x, h0, (c0), each param."""
    if cell not in CELLS:
        raise ValueError(f"cell must be one of {sorted(CELLS)}, got {cell!r}")
    rng = np.random.default_rng(seed)
    params = CELLS[cell].init_params(I, H, rng, bias=bias)
    inputs = {"x": rng.standard_normal((T, B, I)), "h0": 0.5 * rng.standard_normal((B, H))}
    if cell == "lstm":
        inputs["c0"] = 0.5 * rng.standard_normal((B, H))
    R, Rn, Rc = rng.standard_normal((T, B, H)), rng.standard_normal((B, H)), rng.standard_normal((B, H))

    def loss():
        hs, cs, _ = _run(cell, inputs, params, nonlinearity)
        # L = Σ hs ⊙ R + Σ h_n ⊙ Rn (+ Σ c_n ⊙ Rc)
        return np.sum(hs * R) + np.sum(hs[-1] * Rn) + (0.0 if cs is None else np.sum(cs[-1] * Rc))

    _, _, cache = _run(cell, inputs, params, nonlinearity)
    if cell == "lstm":
        grads = lstm.backward(R, cache, dh_n=Rn, dc_n=Rc)
    else:
        grads = CELLS[cell].backward(R, cache, dh_n=Rn)
    return {name: rel_error(grads["d" + name], numerical_grad(loss, array, eps))
            for name, array in {**inputs, **params}.items()}
