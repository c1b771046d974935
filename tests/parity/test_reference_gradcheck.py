"""The NumPy reference is right: its BPTT matches central differences, and forward + backward match torch.nn.

Tolerances: gradcheck ‖a − n‖₂ / (‖a‖₂ + ‖n‖₂) < 1e-6 per gradient array (see seqlab.reference.gradcheck);
torch parity, float64, |ref − torch| <= 1e-10 · max|torch| element-wise, i.e. 1e-10 relative to each
array's scale.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
import torch

import seqlab.reference as reference
from seqlab.reference import gradcheck, gru, lstm, params_from_state_dict, rnn

T, B, I, H = 5, 3, 4, 6
GRADCHECK_TOL = 1e-6
TORCH_TOL = 1e-10

# (cell, nonlinearity): the four cells the reference implements
CASES = [("rnn", "tanh"), ("rnn", "relu"), ("lstm", None), ("gru", None)]


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize(("cell", "nonlinearity"), CASES, ids=["rnn_tanh", "rnn_relu", "lstm", "gru"])
def test_gradcheck(cell, nonlinearity, bias):
    errors = gradcheck.check(cell, T, B, I, H, seed=0, bias=bias, nonlinearity=nonlinearity or "tanh")
    expected = {"x", "h0", "Wxh", "Whh"} | ({"c0"} if cell == "lstm" else set()) | (
        {"bxh", "bhh"} if bias else set())
    assert set(errors) == expected
    worst = max(errors, key=errors.get)
    assert errors[worst] < GRADCHECK_TOL, f"{cell}: d{worst} rel error {errors[worst]:.2e}; all: {errors}"


def test_numerical_grad_of_a_known_function():
    a = np.array([[0.3, -1.2], [2.0, 0.5]])
    grad = gradcheck.numerical_grad(lambda: np.sum(np.sin(a) * a), a)
    np.testing.assert_allclose(grad, np.cos(a) * a + np.sin(a), rtol=1e-8)
    np.testing.assert_array_equal(a, [[0.3, -1.2], [2.0, 0.5]])  # restored after perturbing


def _torch_module(cell, nonlinearity, bias, **kwargs):
    torch.manual_seed(0)
    if cell == "rnn":
        return torch.nn.RNN(I, H, nonlinearity=nonlinearity, bias=bias, dtype=torch.float64, **kwargs)
    return {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](I, H, bias=bias, dtype=torch.float64, **kwargs)


def _state_dict_numpy(module):
    return {k: v.detach().numpy() for k, v in module.state_dict().items()}


def _assert_close(ref, expected, what):
    expected = expected.detach().numpy() if isinstance(expected, torch.Tensor) else expected
    assert ref.shape == expected.shape, f"{what}: shape {ref.shape} vs torch {expected.shape}"
    scale = max(np.abs(expected).max(), 1e-300)
    err = np.abs(ref - expected).max() / scale
    assert err <= TORCH_TOL, f"{what}: max |ref - torch| / max|torch| = {err:.2e} > {TORCH_TOL}"
    return err


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize(("cell", "nonlinearity"), CASES, ids=["rnn_tanh", "rnn_relu", "lstm", "gru"])
def test_matches_torch_forward_and_backward(cell, nonlinearity, bias):
    module = _torch_module(cell, nonlinearity, bias)
    params = params_from_state_dict(_state_dict_numpy(module))
    assert set(params) == ({"Wxh", "Whh", "bxh", "bhh"} if bias else {"Wxh", "Whh"})
    rng = np.random.default_rng(1)
    x, h0, c0 = rng.standard_normal((T, B, I)), rng.standard_normal((B, H)), rng.standard_normal((B, H))
    R, Rn, Rc = rng.standard_normal((T, B, H)), rng.standard_normal((B, H)), rng.standard_normal((B, H))

    # torch: autograd of L = Σ out ⊙ R + Σ h_n ⊙ Rn (+ Σ c_n ⊙ Rc)
    xt, h0t, c0t = (torch.tensor(a, requires_grad=True) for a in (x, h0, c0))
    if cell == "lstm":
        out, (h_n, c_n) = module(xt, (h0t[None], c0t[None]))  # out (T, B, H); h_n, c_n (1, B, H)
    else:
        out, h_n = module(xt, h0t[None])
    loss = (out * torch.tensor(R)).sum() + (h_n[0] * torch.tensor(Rn)).sum()
    if cell == "lstm":
        loss = loss + (c_n[0] * torch.tensor(Rc)).sum()
    loss.backward()

    # reference: forward, then explicit BPTT with the same upstream gradients
    if cell == "lstm":
        hs, cs, cache = lstm.forward(x, h0, c0, params)
        grads = lstm.backward(R, cache, dh_n=Rn, dc_n=Rc)
        _assert_close(cs[-1], c_n[0], "c_n")
        _assert_close(grads["dc0"], c0t.grad, "dc0")
    elif cell == "rnn":
        hs, cache = rnn.forward(x, h0, params, nonlinearity=nonlinearity)
        grads = rnn.backward(R, cache, dh_n=Rn)
    else:
        hs, cache = gru.forward(x, h0, params)
        grads = gru.backward(R, cache, dh_n=Rn)

    _assert_close(hs, out, "hs")
    _assert_close(hs[-1], h_n[0], "h_n")
    _assert_close(grads["dx"], xt.grad, "dx")
    _assert_close(grads["dh0"], h0t.grad, "dh0")
    torch_params = dict(module.named_parameters())
    for name, stem in reference._common.TORCH_NAMES.items():
        if name in params:
            _assert_close(grads["d" + name], torch_params[stem + "_l0"].grad, "d" + name)
    assert set(grads) == {"dx", "dh0", "dWxh", "dWhh"} | ({"dc0"} if cell == "lstm" else set()) | (
        {"dbxh", "dbhh"} if bias else set())


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_params_from_state_dict_picks_layer_and_direction(cell):
    """Layer 1, reverse direction of a 2-layer bidirectional module == the reference run on reversed time."""
    module = _torch_module(cell, "tanh", True, num_layers=2, bidirectional=True)
    sd = _state_dict_numpy(module)
    params = params_from_state_dict(sd, layer=1, reverse=True)
    np.testing.assert_array_equal(params["Whh"], sd["weight_hh_l1_reverse"])
    np.testing.assert_array_equal(params["bxh"], sd["bias_ih_l1_reverse"])

    # layer 1 sees layer 0's (T, B, 2H) output; its reverse half runs over time backwards from zeros
    x = torch.tensor(np.random.default_rng(2).standard_normal((T, B, I)))
    with torch.no_grad():
        layer0_out, _ = _layer0_only(module)(x)  # (T, B, 2H)
        out, _ = module(x)  # (T, B, 2H)
    xr, h0 = layer0_out.numpy()[::-1], np.zeros((B, H))
    if cell == "lstm":
        hs = lstm.forward(xr, h0, h0, params)[0]
    else:
        hs = {"rnn": rnn, "gru": gru}[cell].forward(xr, h0, params)[0]
    _assert_close(hs[::-1], out[:, :, H:], "reverse direction of layer 1")


def _layer0_only(module):
    """A one-layer bidirectional copy of ``module``'s layer 0."""
    cls = type(module)
    kwargs = {"nonlinearity": module.nonlinearity} if cls is torch.nn.RNN else {}
    one = cls(I, H, bidirectional=True, dtype=torch.float64, **kwargs)
    one.load_state_dict({k: v for k, v in module.state_dict().items() if "_l0" in k})
    return one


def test_params_from_state_dict_names_missing_layer():
    with pytest.raises(ValueError, match="weight_ih_l3"):
        params_from_state_dict(_state_dict_numpy(_torch_module("gru", None, True)), layer=3)


def test_shape_errors_name_the_argument():
    params = rnn.init_params(I, H, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"h0.shape\[1\] \(hidden\) must be 6"):
        rnn.forward(np.zeros((T, B, I)), np.zeros((B, H + 1)), params)
    with pytest.raises(ValueError, match=r"Wxh.shape must be \(6, 5\)"):
        rnn.forward(np.zeros((T, B, I + 1)), np.zeros((B, H)), params)
    with pytest.raises(ValueError, match="nonlinearity"):
        rnn.forward(np.zeros((T, B, I)), np.zeros((B, H)), params, nonlinearity="sigmoid")


def test_reference_never_imports_torch():
    """Every module under seqlab/reference is NumPy-only: no torch import, not even a dynamic one."""
    files = sorted(Path(reference.__file__).parent.glob("*.py"))
    assert {f.name for f in files} >= {"__init__.py", "rnn.py", "lstm.py", "gru.py", "gradcheck.py"}
    for f in files:
        source = f.read_text()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            assert not any(n.split(".")[0] == "torch" for n in names), f"{f.name}:{node.lineno} imports torch"
        assert "__import__" not in source and "importlib" not in source, f"{f.name}: dynamic import"
