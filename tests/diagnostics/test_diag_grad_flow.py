"""dL/dh_t, spectral radius and gate saturation against independent oracles: torch.nn modules stepped one step
at a time on each unpadded sequence (autograd with retain_grad), a NumPy Jacobian chain, and eigvals."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seqlab.diagnostics.grad_flow import hidden_grad_flow, inspect, scale_recurrent_weights, spectral_radius
from seqlab.diagnostics.hidden_states import gate_saturation, recording, unroll
from seqlab.engine import build_rnn

B, T, I, H = 3, 7, 4, 5
LENGTHS = torch.tensor([7, 3, 5])
CONFIGS = [(1, False), (2, True)]  # (layers, bidirectional)


def _engine(cell, layers, bidir, impl="explicit"):
    torch.manual_seed(0)
    return build_rnn(cell, I, H, layers, batch_first=True, bidirectional=bidir, impl=impl).double()


def _inputs():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(B, T, I, generator=g, dtype=torch.float64)
    w_out = torch.randn(H * 2, generator=g, dtype=torch.float64)
    return x, w_out


def _loss(out, lengths, w_out):
    """Σ_b w · out[b, len_b - 1]: a loss at each sequence's last step."""
    last = out[torch.arange(out.shape[0]), lengths - 1]  # (B, D*H)
    return (last * w_out[: last.shape[1]]).sum()


@pytest.mark.parametrize("cell", ["rnn_tanh", "rnn_relu", "lstm", "gru"])
@pytest.mark.parametrize("layers,bidir", CONFIGS)
def test_unroll_equals_the_engine(cell, layers, bidir):
    m = _engine(cell, layers, bidir)
    x, _ = _inputs()
    for lengths in (None, LENGTHS):
        out, st = m(x, lengths=lengths)
        out2, st2 = unroll(m, x, lengths=lengths)
        assert torch.allclose(out, out2, atol=1e-12, rtol=0)
        for a, b in zip(st if isinstance(st, tuple) else (st,), st2 if isinstance(st2, tuple) else (st2,),
                        strict=True):
            assert torch.allclose(a, b, atol=1e-12, rtol=0)


def _torch_twin(cell, m, layer, d):
    """A one-layer, one-direction torch.nn module holding the engine's weights of (layer, direction)."""
    kind = {"rnn_tanh": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell]
    in_size = getattr(m, f"weight_ih_l{layer}").shape[1]
    twin = kind(in_size, H).double()
    suffix = f"_l{layer}" + ("_reverse" if d else "")
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(twin, name + "_l0").copy_(getattr(m, name + suffix))
    return twin


def _oracle_norms(cell, m, layers, bidir, x, w_out):
    """Each sequence alone, unpadded; every layer/direction stepped one step at a time through torch.nn with
    retain_grad on each state. Returns {layer name: (T,) RMS norms aligned at each sequence's end}."""
    D = 2 if bidir else 1
    sq = {f"l{k}" + ("_reverse" if d else ""): torch.zeros(T, dtype=torch.float64)
          for k in range(layers) for d in range(D)}
    for b in range(B):
        n = int(LENGTHS[b])
        layer_in, states = x[b, :n].unsqueeze(1), {}  # (n, 1, I)
        for k in range(layers):
            outs = []
            for d in range(D):
                twin, hs, st = _torch_twin(cell, m, k, d), [None] * n, None
                for t in (range(n - 1, -1, -1) if d else range(n)):
                    _, st = twin(layer_in[t : t + 1], st)
                    h = st[0] if cell == "lstm" else st
                    h.retain_grad()
                    hs[t] = h
                states[f"l{k}" + ("_reverse" if d else "")] = hs
                outs.append(torch.cat(hs, 0))  # (n, 1, H)
            layer_in = torch.cat(outs, -1)  # (n, 1, D*H)
        full = {"rnn_tanh": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell](I, H, layers, bidirectional=bidir).double()
        full.load_state_dict(m.state_dict())  # the composition must equal torch.nn's own stacked module
        assert torch.allclose(full(x[b, :n].unsqueeze(1))[0], layer_in, atol=1e-12)
        (layer_in[-1, 0] * w_out[: layer_in.shape[-1]]).sum().backward()
        for name, hs in states.items():
            for t, h in enumerate(hs):
                sq[name][T - n + t] += h.grad.square().sum()
    count = torch.tensor([float((LENGTHS >= T - p).sum()) for p in range(T)], dtype=torch.float64)
    return {k: v / count for k, v in sq.items()}  # mean squared norm over the sequences at each position


@pytest.mark.parametrize("cell", ["rnn_tanh", "lstm", "gru"])
@pytest.mark.parametrize("layers,bidir", CONFIGS)
def test_grad_flow_matches_autograd_of_torch_nn_stepped_one_step_at_a_time(cell, layers, bidir):
    m = _engine(cell, layers, bidir)
    x, w_out = _inputs()
    flow = hidden_grad_flow(m, lambda: _loss(m(x, lengths=LENGTHS)[0], LENGTHS, w_out))
    oracle = _oracle_norms(cell, m, layers, bidir, x, w_out)
    assert flow.layers.keys() == oracle.keys()
    for name, ref in oracle.items():
        np.testing.assert_allclose(flow.layers[name], ref.sqrt().numpy(), rtol=1e-9, atol=1e-14)
    top = [k for k in oracle if k.startswith(f"l{layers - 1}")]
    np.testing.assert_allclose(flow.top, sum(oracle[k] for k in top).sqrt().numpy(), rtol=1e-9)
    assert flow.count == [int((LENGTHS >= T - p).sum()) for p in range(T)]
    assert all(p.grad is None for p in m.parameters())  # autograd.grad: parameter gradients untouched


def test_vanilla_rnn_matches_a_numpy_jacobian_chain():
    """dL/dh_{t-1} = W_hhᵀ ((1 - h_t²) ⊙ dL/dh_t), from dL/dh_{T-1} = w for L = w · h_{T-1}."""
    m = _engine("rnn_tanh", 1, False)
    x, w_out = _inputs()
    w = w_out[:H]
    flow = hidden_grad_flow(m, lambda: (m(x)[0][:, -1] * w).sum(), align="start")
    hs = m(x)[0].detach().numpy()  # (B, T, H)
    Whh = m.weight_hh_l0.detach().numpy()
    dh = np.tile(w.numpy(), (B, 1))  # (B, H)
    expected = [0.0] * T
    for t in range(T - 1, -1, -1):
        expected[t] = np.linalg.norm(dh) / np.sqrt(B)  # RMS over the batch of per-sequence norms
        dh = ((1 - hs[:, t] ** 2) * dh) @ Whh  # backprop through tanh, then W_hh
    np.testing.assert_allclose(flow.top, expected, rtol=1e-10)
    assert expected[0] < expected[-1]  # it does vanish here


def test_recording_restores_the_forward_and_changes_no_result():
    m = _engine("lstm", 2, True, impl="auto")
    x, _ = _inputs()
    before = m(x, lengths=LENGTHS)[0]
    with recording(m) as rec:
        during = m(x, lengths=LENGTHS)[0]
    assert "forward" not in m.__dict__ and len(rec.calls) == 1
    assert torch.allclose(before, during, atol=1e-12) and torch.equal(before, m(x, lengths=LENGTHS)[0])
    assert rec.main().steps == T and [tr.name for tr in rec.main().layers] == ["l0", "l0_reverse", "l1",
                                                                             "l1_reverse"]


def test_torch_nn_modules_with_packed_sequences_are_recorded_too():
    torch.manual_seed(0)
    m = nn.GRU(I, H, batch_first=True).double()
    x, _ = _inputs()
    packed = pack_padded_sequence(x, LENGTHS, batch_first=True, enforce_sorted=False)
    ref, h_ref = m(packed)
    with recording(m) as rec:
        got, h_got = m(packed)
    a, _ = pad_packed_sequence(ref, batch_first=True)
    b, _ = pad_packed_sequence(got, batch_first=True)
    assert torch.allclose(a, b, atol=1e-12) and torch.allclose(h_ref, h_got, atol=1e-12)
    assert rec.main().mode == "gru" and rec.main().layers[0].valid.sum(0).tolist() == LENGTHS.tolist()


def test_spectral_radius_and_scaling_agree_with_numpy():
    m = _engine("gru", 1, False)
    blocks = np.split(m.weight_hh_l0.detach().numpy(), 3)
    r = spectral_radius(m)["l0"]
    for g, block in zip("rzn", blocks, strict=True):
        assert r[g]["radius"] == pytest.approx(np.abs(np.linalg.eigvals(block)).max(), rel=1e-10)
        assert r[g]["norm"] == pytest.approx(np.linalg.norm(block, 2), rel=1e-10)
    scale_recurrent_weights(m, 1.7)
    assert all(v["radius"] == pytest.approx(1.7, rel=1e-9) for v in spectral_radius(m)["l0"].values())


def test_gate_saturation_counts_valid_steps_only():
    """W = 0 and fixed biases make every gate a known constant: i = σ(10) (high), f = σ(-10) (low), g = 0,
    o = 0.5. Padded steps are not counted (they would count the same here, so check the count too)."""
    m = _engine("lstm", 1, False)
    with torch.no_grad():
        m.weight_ih_l0.zero_()
        m.weight_hh_l0.zero_()
        m.bias_hh_l0.zero_()
        m.bias_ih_l0.copy_(torch.cat([torch.full((H,), v) for v in (10.0, -10.0, 0.0, 0.0)]))
    x, _ = _inputs()
    with recording(m) as rec:
        m(x, lengths=LENGTHS)
    sat = gate_saturation(rec.main())["l0"]
    assert sat["i"] == {"low": 0.0, "high": 1.0, "saturated": 1.0}
    assert sat["f"] == {"low": 1.0, "high": 0.0, "saturated": 1.0}
    assert sat["o"]["saturated"] == 0.0 and sat["g"]["saturated"] == 0.0
    assert int(rec.main().layers[0].valid.sum()) == int(LENGTHS.sum())


def test_inspect_gives_flow_radius_and_saturation_per_module():
    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc, self.dec = build_rnn("gru", I, H, batch_first=True), nn.LSTM(H, H, batch_first=True)

        def forward(self, x):
            return self.dec(self.enc(x)[0])[0]

    torch.manual_seed(0)
    model = Two().double()
    x, _ = _inputs()
    found = inspect(model, lambda: model(x)[:, -1].sum())
    assert set(found) == {"enc", "dec"}
    assert found["dec"]["flow"].mode == "lstm" and set(found["dec"]["saturation"]["l0"]) == {"i", "f", "o", "g"}
    assert len(found["enc"]["flow"].top) == T and found["enc"]["spectral_radius"]["l0"].keys() == {"r", "z", "n"}
