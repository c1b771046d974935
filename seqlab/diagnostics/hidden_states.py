"""Open up a recurrent module: re-run it one step at a time, keeping every hidden state, cell state and gate.

``recording(model)`` temporarily replaces the ``forward`` of every recurrent module inside ``model`` (the
engine's RNN/LSTM/GRU, or torch.nn's, which share its weight names and layout) by ``unroll``: the same
function computed step by step with the engine's cell equations (``seqlab.engine.functional``), so that
every h_t is its own node of the autograd graph. The model's forward and loss then run unchanged, and:

* ``torch.autograd.grad(loss, trace.h)`` gives dL/dh_t for every step (``seqlab.diagnostics.grad_flow``);
* ``trace.gates`` holds every gate activation (saturation), ``trace.h`` the states (heatmaps).

Variable lengths follow the engine exactly: at a padded step the carried state passes through unchanged
and the output is zero; the reverse direction starts at each sequence's last valid step.

Shapes (the engine's vocabulary): B batch, T time, D directions, L layers, I input features, H hidden size.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from seqlab.engine import functional as Fn
from seqlab.engine.layers import RNNBase as EngineRNN
from seqlab.engine.state import lengths_to_mask, zero_state

__all__ = [
    "SIGMOID_GATES", "TANH_GATE", "LOW", "HIGH", "LayerTrace", "CallTrace", "Recording", "recording",
    "recurrent_modules", "module_mode", "unroll", "gate_saturation",
]

# Which activations are sigmoid gates (saturation is judged on these), named as in Fn.GATE_ORDER.
SIGMOID_GATES = {"rnn_tanh": (), "rnn_relu": (), "lstm": ("i", "f", "o"), "gru": ("r", "z")}
# The tanh nonlinearity of each cell: RNN h_t itself, LSTM candidate g_t, GRU candidate n_t.
TANH_GATE = {"rnn_tanh": "h", "rnn_relu": None, "lstm": "g", "gru": "n"}
LOW, HIGH = 0.05, 0.95  # a sigmoid gate below LOW or above HIGH is saturated (its derivative is < 0.05)


@dataclass
class LayerTrace:
    """One layer in one direction over one call. Lists are indexed by input position t, also in reverse."""

    layer: int  # 0-based layer index
    reverse: bool  # the backward direction of a bidirectional layer
    h: list[Tensor]  # T tensors (B, H): the state carried out of step t, connected to the autograd graph
    c: list[Tensor] | None  # LSTM: T tensors (B, H), the cell state c_t; None for RNN/GRU
    gates: dict[str, Tensor]  # gate name (Fn.GATE_ORDER) -> (T, B, H) activations, detached; {} if not kept
    valid: Tensor  # (T, B) bool: step t lies inside sequence b

    @property
    def name(self) -> str:
        """``l0``, ``l0_reverse``, ... as in the weight names (``weight_hh_l0_reverse``)."""
        return f"l{self.layer}" + ("_reverse" if self.reverse else "")


@dataclass
class CallTrace:
    """One call of one recurrent module."""

    module: str  # the module's name inside the model ("" when the model is the recurrent module)
    mode: str  # rnn_tanh | rnn_relu | lstm | gru
    layers: list[LayerTrace]  # l0, l0_reverse, l1, ... in weight order

    @property
    def steps(self) -> int:
        return len(self.layers[0].h)

    def top(self) -> list[LayerTrace]:
        """The last layer's directions: the features the model's head reads."""
        last = self.layers[-1].layer
        return [tr for tr in self.layers if tr.layer == last]


class Recording:
    """Every call made to a recorded module while the ``recording`` context was open."""

    def __init__(self) -> None:
        self.calls: list[CallTrace] = []

    def main(self, module: str | None = None) -> CallTrace:
        """The longest call (the first among equals), of ``module`` if given."""
        calls = [c for c in self.calls if module is None or c.module == module]
        if not calls:
            seen = sorted({c.module for c in self.calls})
            raise ValueError(f"no call of recurrent module {module!r} was recorded; recorded: {seen}")
        return max(calls, key=lambda c: c.steps)  # max keeps the first of equal keys


def module_mode(module: nn.Module) -> str | None:
    """``rnn_tanh`` | ``rnn_relu`` | ``lstm`` | ``gru`` for a recurrent module we can unroll, else None."""
    if isinstance(module, EngineRNN):
        return module.mode
    if isinstance(module, nn.RNNBase) and getattr(module, "proj_size", 0) == 0:
        return module.mode.lower()  # torch.nn: "LSTM", "GRU", "RNN_TANH", "RNN_RELU"
    return None


def recurrent_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(name, module) of every recurrent module in ``model`` that ``unroll`` can run."""
    return [(name, m) for name, m in model.named_modules() if module_mode(m) is not None]


@contextlib.contextmanager
def recording(model: nn.Module, *, gates: bool = True) -> Iterator[Recording]:
    """Within the block, every recurrent module of ``model`` runs through ``unroll`` and records its calls."""
    rec = Recording()
    patched = []
    for name, module in recurrent_modules(model):
        saved = module.__dict__.get("forward")  # an instance-level forward already there (nested use)

        def forward(*args, _m=module, _name=name, **kwargs):
            return unroll(_m, *args, **kwargs, sink=rec, name=_name, keep_gates=gates)

        module.forward = forward  # an instance attribute shadows the class's forward for nn.Module.__call__
        patched.append((module, saved))
    try:
        yield rec
    finally:
        for module, saved in patched:
            del module.forward
            if saved is not None:
                module.forward = saved


# ---------------------------------------------------------------- the step-by-step forward


def unroll(module: nn.Module, input, state=None, lengths=None, *, hx=None, sink: Recording | None = None,
           name: str = "", keep_gates: bool = True):
    """``module(input, state, lengths)`` computed one step at a time; same arguments and results as the
    engine's ``forward`` (torch.nn's ``hx`` and PackedSequence input too). The call's ``CallTrace`` is
    appended to ``sink``."""
    mode = module_mode(module)
    if mode is None:
        raise ValueError(f"cannot unroll {type(module).__name__}: expected a seqlab or torch.nn RNN/LSTM/GRU "
                         "without proj_size")
    if hx is not None:
        if state is not None:
            raise ValueError("pass the initial state once: either state= or hx=, not both")
        state = hx
    packed = isinstance(input, PackedSequence)
    if packed:
        if lengths is not None:
            raise ValueError("lengths must be None for a PackedSequence input (it carries its own)")
        x, lengths = pad_packed_sequence(input)  # (T, B, I) in the original batch order
    else:
        x = input.transpose(0, 1) if module.batch_first and input.dim() == 3 else input  # (T, B, I)
    unbatched = x.dim() == 2
    if unbatched:
        x = x.unsqueeze(1)  # (T, 1, I)
        state = _map_state(state, lambda s: s.unsqueeze(1) if s.dim() == 2 else s)
    out, state, trace = _run(module, mode, x, state, lengths, keep_gates)
    if sink is not None:
        sink.calls.append(CallTrace(name, mode, trace))
    if packed:
        order = input.sorted_indices
        lens = lengths if order is None else lengths[order]
        data = pack_padded_sequence(out if order is None else out.index_select(1, order), lens, enforce_sorted=True)
        return PackedSequence(data.data, data.batch_sizes, order, input.unsorted_indices), state
    if unbatched:
        return out.squeeze(1), _map_state(state, lambda s: s.squeeze(1))
    return (out.transpose(0, 1) if module.batch_first else out), state


def _run(module, mode: str, x: Tensor, state, lengths, keep_gates: bool):
    """Time-major (T, B, I) -> output (T, B, D*H), state, one LayerTrace per layer and direction."""
    T, B, _ = x.shape
    D = 2 if module.bidirectional else 1
    is_lstm = mode == "lstm"
    if state is None:
        state = zero_state(is_lstm, module.num_layers * D, B, module.hidden_size, x)
    h0, c0 = state if is_lstm else (state, None)
    if lengths is None:
        valid = torch.ones(T, B, dtype=torch.bool, device=x.device)
    else:
        valid = lengths_to_mask(torch.as_tensor(lengths, device=x.device), T).squeeze(-1)  # (T, B)
    layer_in, traces, h_n, c_n = x, [], [], []
    for layer in range(module.num_layers):
        outs = []
        for d in range(D):
            k = layer * D + d
            tr = _run_direction(mode, layer_in, h0[k], c0[k] if is_lstm else None, _weights(module, layer, d),
                                valid, layer, d == 1, keep_gates)
            traces.append(tr)
            last = 0 if tr.reverse else T - 1  # the carried state after the final processed step
            h_n.append(tr.h[last])
            if is_lstm:
                c_n.append(tr.c[last])
            outs.append(torch.stack(tr.h) * valid.unsqueeze(-1))  # (T, B, H), zero past each length
        layer_in = torch.cat(outs, dim=2) if D > 1 else outs[0]  # (T, B, D*H)
        if module.dropout > 0 and module.training and layer < module.num_layers - 1:
            layer_in = nn.functional.dropout(layer_in, module.dropout, training=True)
    h_n = torch.stack(h_n)  # (L*D, B, H)
    return layer_in, ((h_n, torch.stack(c_n)) if is_lstm else h_n), traces


def _run_direction(mode, x, h, c, w, valid, layer, reverse, keep_gates) -> LayerTrace:
    T = x.shape[0]
    hs, cs, acts = [None] * T, ([None] * T if c is not None else None), [None] * T
    for t in (range(T - 1, -1, -1) if reverse else range(T)):
        m = valid[t].unsqueeze(-1)  # (B, 1)
        if keep_gates:
            acts[t] = gate_activations(mode, x[t], h, w)
        if mode == "lstm":
            h_new, c_new = Fn.lstm_cell(x[t], h, c, *w)
            c = cs[t] = torch.where(m, c_new, c)  # padded step: the carried state passes through
        elif mode == "gru":
            h_new = Fn.gru_cell(x[t], h, *w)
        else:
            h_new = Fn.rnn_cell(x[t], h, *w, nonlinearity=mode[4:])
        h = hs[t] = torch.where(m, h_new, h)
    gates = {g: torch.stack([a[g] for a in acts]) for g in acts[0]} if keep_gates else {}  # each (T, B, H)
    return LayerTrace(layer, reverse, hs, cs, gates, valid)


@torch.no_grad()
def gate_activations(mode: str, x: Tensor, h: Tensor, w) -> dict[str, Tensor]:
    """Activated gates of one step (B, H) each, named by ``Fn.GATE_ORDER``: the values the cell uses."""
    w_ih, w_hh, b_ih, b_hh = w
    gx = nn.functional.linear(x, w_ih, b_ih)  # W_ih x_t + b_ih  (B, G*H)
    gh = nn.functional.linear(h, w_hh, b_hh)  # W_hh h_{t-1} + b_hh  (B, G*H)
    if mode == "lstm":
        i, f, g, o = (gx + gh).chunk(4, dim=1)  # PyTorch gate order: input, forget, cell, output
        return {"i": torch.sigmoid(i), "f": torch.sigmoid(f), "g": torch.tanh(g), "o": torch.sigmoid(o)}
    if mode == "gru":
        (xr, xz, xn), (hr, hz, hn) = gx.chunk(3, dim=1), gh.chunk(3, dim=1)  # reset, update, new
        r = torch.sigmoid(xr + hr)
        # n_t = tanh(W_in x + b_in + r_t ⊙ (W_hn h + b_hn))
        return {"r": r, "z": torch.sigmoid(xz + hz), "n": torch.tanh(xn + r * hn)}
    return {"h": Fn.rnn_pointwise(gx + gh, mode[4:])}


def _weights(module, layer: int, d: int) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
    """(W_ih, W_hh, b_ih, b_hh) of one layer and direction; names shared by seqlab and torch.nn."""
    suffix = f"_l{layer}" + ("_reverse" if d else "")
    names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    return tuple(getattr(module, n + suffix) if module.bias or n.startswith("weight") else None for n in names)


def _map_state(state, fn):
    if state is None:
        return None
    if isinstance(state, (tuple, list)):
        return tuple(fn(s) for s in state)
    return fn(state)


# ---------------------------------------------------------------- gate saturation


def gate_saturation(call: CallTrace) -> dict[str, dict[str, dict[str, float]]]:
    """Per layer/direction and gate, over the valid steps of the call:

    sigmoid gates: ``low`` = share < LOW, ``high`` = share > HIGH, ``saturated`` = their sum;
    the cell's tanh (RNN h_t, LSTM g_t, GRU n_t): ``saturated`` = share with |a| > HIGH.
    """
    out = {}
    tanh = TANH_GATE[call.mode]
    for tr in call.layers:
        if not tr.gates:
            raise ValueError("this recording kept no gates: record with recording(model, gates=True)")
        keep = tr.valid.unsqueeze(-1).expand_as(next(iter(tr.gates.values())))  # (T, B, H)
        per_gate = {}
        for g in SIGMOID_GATES[call.mode]:
            a = tr.gates[g][keep]
            low, high = float((a < LOW).double().mean()), float((a > HIGH).double().mean())
            per_gate[g] = {"low": low, "high": high, "saturated": low + high}
        if tanh is not None:
            per_gate[tanh] = {"saturated": float((tr.gates[tanh][keep].abs() > HIGH).double().mean())}
        out[tr.name] = per_gate
    return out
