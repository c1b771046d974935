"""What the three reference cells share: PyTorch weight names, initialisation, shape checks, sigmoid.

Shapes: B batch, T time, I input size, H hidden size, G gates (1 RNN, 4 LSTM, 3 GRU).
Parameters: ``Wxh`` (G*H, I), ``Whh`` (G*H, H), ``bxh`` (G*H,), ``bhh`` (G*H,) — PyTorch's
``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh``, same layout and gate order. Biases may be absent.
"""

from __future__ import annotations

import numpy as np

__all__ = ["TORCH_NAMES", "params_from_state_dict", "uniform_params", "unpack", "sigmoid"]

# min-char-rnn name -> PyTorch name stem; the one place the two vocabularies meet
TORCH_NAMES = {"Wxh": "weight_ih", "Whh": "weight_hh", "bxh": "bias_ih", "bhh": "bias_hh"}


def params_from_state_dict(sd, layer=0, reverse=False):
    """Pick one layer/direction out of a torch.nn.RNN/LSTM/GRU state dict of NumPy arrays.

    ``sd`` maps torch names (``weight_ih_l0``, ``bias_hh_l1_reverse``, ...) to arrays, e.g.
    ``{k: v.numpy() for k, v in module.state_dict().items()}``. Returns ``{"Wxh", "Whh"[, "bxh", "bhh"]}``
    as float64 copies; the biases are left out when the module was built with ``bias=False``.
    """
    suffix = f"_l{layer}" + ("_reverse" if reverse else "")
    params = {}
    for name, stem in TORCH_NAMES.items():
        key = stem + suffix
        if key in sd:
            params[name] = np.array(sd[key], dtype=np.float64)
        elif name in ("Wxh", "Whh"):
            raise ValueError(
                f"state dict has no {key!r} (layer={layer}, reverse={reverse}); "
                f"available keys: {sorted(sd)}. Pass a layer/reverse that the module has."
            )
    return params


def uniform_params(G, I, H, rng, bias=True):
    """PyTorch's default init: every parameter ~ U(-1/sqrt(H), 1/sqrt(H)), float64."""
    k = 1.0 / np.sqrt(H)
    params = {"Wxh": rng.uniform(-k, k, (G * H, I)), "Whh": rng.uniform(-k, k, (G * H, H))}
    if bias:
        params["bxh"] = rng.uniform(-k, k, G * H)
        params["bhh"] = rng.uniform(-k, k, G * H)
    return params


def _expect(what, got, expected, hint):
    if got != expected:
        raise ValueError(f"{what} must be {expected}{hint}, got {got}")


def unpack(params, x, h0, G, c0=None):
    """Validate shapes dimension by dimension; return float64 ``x, h0, c0, Wxh, Whh, bxh, bhh``.

    A missing bias comes back as a zero vector (G*H,) so the forward pass needs no special case.
    """
    Wxh = np.asarray(params["Wxh"], dtype=np.float64)  # (G*H, I)
    Whh = np.asarray(params["Whh"], dtype=np.float64)  # (G*H, H)
    x = np.asarray(x, dtype=np.float64)  # (T, B, I)
    h0 = np.asarray(h0, dtype=np.float64)  # (B, H)
    c0 = None if c0 is None else np.asarray(c0, dtype=np.float64)  # (B, H)
    _expect("Whh.ndim", Whh.ndim, 2, "")
    H = Whh.shape[1]
    _expect("Whh.shape[0]", Whh.shape[0], G * H, f" (= {G} gates * hidden size {H} from Whh.shape[1])")
    _expect("x.ndim", x.ndim, 3, " (x is (T, B, I): time-major, batched)")
    T, B, I = x.shape
    _expect("Wxh.shape", Wxh.shape, (G * H, I), f" (= ({G} gates * H, input size of x.shape[2]))")
    for name, state in (("h0", h0), ("c0", c0)):
        if state is not None:
            _expect(f"{name}.ndim", state.ndim, 2, f" ({name} is (B, H))")
            _expect(f"{name}.shape[0] (batch)", state.shape[0], B, " to match x.shape[1]")
            _expect(f"{name}.shape[1] (hidden)", state.shape[1], H, " to match Whh.shape[1]")
    zero = np.zeros(G * H)
    bxh = np.asarray(params.get("bxh", zero), dtype=np.float64)  # (G*H,)
    bhh = np.asarray(params.get("bhh", zero), dtype=np.float64)  # (G*H,)
    _expect("bxh.shape", bxh.shape, (G * H,), "")
    _expect("bhh.shape", bhh.shape, (G * H,), "")
    return x, h0, c0, Wxh, Whh, bxh, bhh


def sigmoid(a):
    """σ(a) = 1 / (1 + e^-a), written as (1 + tanh(a/2)) / 2 so it never overflows."""
    return 0.5 * (1.0 + np.tanh(0.5 * a))
