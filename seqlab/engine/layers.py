"""Drop-in replacements for ``torch.nn.RNN``, ``LSTM`` and ``GRU`` (and their cells), built on the
explicit BPTT of ``seqlab.engine.bptt``.

Same constructor arguments, input/output/state shapes and ``state_dict`` names as torch.nn, so weights
load both ways. Shapes (see ``seqlab.engine.functional``): input (T, B, I) or (B, T, I) with
``batch_first``; output (T, B, D*H); h_n / c_n (L*D, B, H). Unbatched (T, I) input works as in torch.nn.

``forward(input, state=None, lengths=None) -> (output, state)``. Variable lengths come either as a
``PackedSequence`` or as padded input plus ``lengths`` (B,): outputs past a sequence's length are zero and
h_n is the state at its last valid step (the reverse direction starts at the last valid step).

Which path runs (``impl``):
    ``"explicit"``  the engine's own cells and hand-written BPTT backward (no autograd in the time loop).
    ``"fused"``     the same parameters through torch's vendor kernels (oneDNN on CPU, cuDNN on GPU).
                    Eligible when the input dtype is one the device's kernel supports: float32/float64
                    on CPU, float16/bfloat16/float32/float64 on CUDA. A forced ``"fused"`` that is not
                    eligible raises ``ValueError`` saying to pass ``impl="explicit"`` or ``"auto"``.
    ``"auto"``      explicit where it is the faster path, else fused when eligible, else explicit, silently.
                    On CPU that means explicit for training (a call autograd records) when the C++ time loops
                    run (forward+backward 1.0-1.9x torch's kernel, BENCHMARKS.md) and fused for inference
                    (torch's forward is faster); on CUDA fused (cuDNN).
The two paths compute the same function (parity-tested); inter-layer dropout draws differ.
"""

from __future__ import annotations

import math

import torch
from torch import _VF, Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from seqlab.engine import functional as Fn
from seqlab.engine.bptt import GRULayerFn, LSTMLayerFn, RNNLayerFn
from seqlab.engine.ext import loops
from seqlab.engine.state import check_state, lengths_to_mask, zero_state

__all__ = ["RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell", "IMPLS", "CELL_NAMES", "build_rnn"]

IMPLS = ("auto", "explicit", "fused")
_FUSED_DTYPES = {
    "cpu": (torch.float32, torch.float64),
    "cuda": (torch.float16, torch.bfloat16, torch.float32, torch.float64),
}
_VF_NAMES = {"rnn_tanh": "rnn_tanh", "rnn_relu": "rnn_relu", "lstm": "lstm", "gru": "gru"}


def _check_args(hidden_size, num_layers, dropout, impl):
    if not isinstance(hidden_size, int) or hidden_size <= 0:
        raise ValueError(f"hidden_size must be a positive int, got {hidden_size!r}")
    if not isinstance(num_layers, int) or num_layers <= 0:
        raise ValueError(f"num_layers must be a positive int, got {num_layers!r}")
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
        raise ValueError(f"dropout must be a number in [0, 1), got {dropout!r}")
    if impl not in IMPLS:
        raise ValueError(f"impl must be one of {IMPLS}, got {impl!r}")


class RNNBase(nn.Module):
    """Shared machinery: parameters in torch.nn order, argument checks, the explicit and fused paths."""

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, impl="auto", device=None, dtype=None):
        super().__init__()
        _check_args(hidden_size, num_layers, dropout, impl)
        if not isinstance(input_size, int) or input_size <= 0:
            raise ValueError(f"input_size must be a positive int, got {input_size!r}")
        self.mode = mode
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.bidirectional = bias, batch_first, bidirectional
        self.dropout, self.impl = float(dropout), impl
        self.proj_size = 0  # torch.nn compatibility: projections are not supported
        D = 2 if bidirectional else 1
        G = Fn.GATES[mode]
        factory = {"device": device, "dtype": dtype}
        self._flat_weights_names = []
        for layer in range(num_layers):
            for d in range(D):
                suffix = f"_l{layer}" + ("_reverse" if d else "")
                in_size = input_size if layer == 0 else hidden_size * D
                shapes = {"weight_ih": (G * hidden_size, in_size), "weight_hh": (G * hidden_size, hidden_size)}
                if bias:
                    shapes |= {"bias_ih": (G * hidden_size,), "bias_hh": (G * hidden_size,)}
                for name, shape in shapes.items():
                    self.register_parameter(name + suffix, nn.Parameter(torch.empty(shape, **factory)))
                    self._flat_weights_names.append(name + suffix)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """U(-1/√H, 1/√H) for every weight and bias, as torch.nn."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def _flat_weights(self) -> list[Tensor]:
        return [getattr(self, n) for n in self._flat_weights_names]

    def _layer_weights(self, layer: int, d: int) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
        suffix = f"_l{layer}" + ("_reverse" if d else "")
        w_ih, w_hh = getattr(self, "weight_ih" + suffix), getattr(self, "weight_hh" + suffix)
        if not self.bias:
            return w_ih, w_hh, None, None
        return w_ih, w_hh, getattr(self, "bias_ih" + suffix), getattr(self, "bias_hh" + suffix)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.mode == "rnn_relu":
            s += ", nonlinearity='relu'"
        for k, default in (("bias", True), ("batch_first", False), ("dropout", 0.0), ("bidirectional", False)):
            if getattr(self, k) != default:
                s += f", {k}={getattr(self, k)}"
        return s + f", impl={self.impl!r}"

    # ---- input handling --------------------------------------------------------------------------
    def forward(self, input, state=None, lengths=None, *, hx=None):
        """Run the recurrence. ``hx`` is accepted as torch.nn's name for ``state``."""
        if hx is not None:
            if state is not None:
                raise ValueError("pass the initial state once: either state= or hx=, not both")
            state = hx
        packed = isinstance(input, PackedSequence)
        if packed:
            if lengths is not None:
                raise ValueError("lengths must be None for a PackedSequence input (it carries its own)")
            sorted_idx, unsorted_idx = input.sorted_indices, input.unsorted_indices
            x, lengths = pad_packed_sequence(input, batch_first=False)  # (T, B, I), original batch order
        else:
            x = input
            if self.batch_first and x.dim() == 3:
                x = x.transpose(0, 1)  # (T, B, I)
        unbatched = x.dim() == 2
        if x.dim() not in (2, 3):
            raise ValueError(f"input must be 2-D (T, I) or 3-D ({'B, T' if self.batch_first else 'T, B'}, I), "
                             f"got {x.dim()}-D with shape {tuple(x.shape)}")
        if unbatched:
            if lengths is not None:
                raise ValueError("lengths needs batched input; got unbatched 2-D input")
            x = x.unsqueeze(1)
            state = _map_state(state, lambda s: s.unsqueeze(1) if s.dim() == 2 else s)
        out, state = self._run(x, state, lengths)
        if packed:
            order = sorted_idx.to(out.device)  # the PackedSequence's indices live on its device; lengths on CPU
            data = pack_padded_sequence(out.index_select(1, order), lengths.cpu()[sorted_idx.cpu()],
                                        enforce_sorted=True)
            out = PackedSequence(data.data, data.batch_sizes, sorted_idx, unsorted_idx)
        elif unbatched:
            out = out.squeeze(1)
            state = _map_state(state, lambda s: s.squeeze(1))
        elif self.batch_first:
            out = out.transpose(0, 1)  # (B, T, D*H)
        return out, state

    def _run(self, x: Tensor, state, lengths):
        T, B, I = x.shape
        if I != self.input_size:
            raise ValueError(f"input.size(-1) must be equal to input_size. Expected {self.input_size}, got {I}")
        if not x.is_floating_point():
            raise ValueError(f"input must be a floating-point tensor, got dtype {x.dtype}")
        is_lstm = self.mode == "lstm"
        expected = (self.num_layers * self.num_directions, B, self.hidden_size)
        if state is None:
            state = zero_state(is_lstm, expected[0], B, self.hidden_size, x)
        else:
            check_state(state, is_lstm, expected, x)
        lengths = _check_lengths(lengths, T, B, x.device)
        impl = self._choose_impl(x)
        if impl == "fused":
            return self._fused(x, state, lengths)
        return self._explicit(x, state, lengths)

    def _choose_impl(self, x: Tensor) -> str:
        eligible = x.dtype in _FUSED_DTYPES.get(x.device.type, ())
        if self.impl == "fused" and not eligible:
            raise ValueError(
                f"impl='fused' cannot run {x.dtype} input on {x.device.type}: torch's kernel supports "
                f"{[str(d) for d in _FUSED_DTYPES.get(x.device.type, ())]} there; pass impl='explicit' or 'auto'"
            )
        if self.impl == "auto":
            if not eligible:
                return "explicit"
            if x.device.type == "cpu" and self._records_grad(x) and loops(x) is not None:
                return "explicit"  # training on CPU: the C++ loops beat the vendor kernel on fwd+bwd
            return "fused"
        return self.impl

    def _records_grad(self, x: Tensor) -> bool:
        """Whether this call will be differentiated (training), as opposed to inference."""
        return torch.is_grad_enabled() and (x.requires_grad or any(p.requires_grad for p in self.parameters()))

    # ---- explicit path: the engine's own BPTT ------------------------------------------------------
    def _explicit(self, x: Tensor, state, lengths):
        is_lstm = self.mode == "lstm"
        h0, c0 = state if is_lstm else (state, None)
        mask = None
        if lengths is not None and bool((lengths < x.shape[0]).any()):
            mask = lengths_to_mask(lengths, x.shape[0])  # (T, B, 1)
        layer_in, h_n, c_n = x, [], []
        for layer in range(self.num_layers):
            outs = []
            for d in range(self.num_directions):
                k = layer * self.num_directions + d
                w = self._layer_weights(layer, d)
                if is_lstm:
                    out, h, c = LSTMLayerFn.apply(layer_in, h0[k], c0[k], *w, mask, d == 1)
                    c_n.append(c)
                elif self.mode == "gru":
                    out, h = GRULayerFn.apply(layer_in, h0[k], *w, mask, d == 1)
                else:
                    out, h = RNNLayerFn.apply(layer_in, h0[k], *w, mask, d == 1, self.mode[4:])
                outs.append(out)
                h_n.append(h)
            layer_in = torch.cat(outs, dim=2) if len(outs) > 1 else outs[0]  # (T, B, D*H)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                layer_in = nn.functional.dropout(layer_in, self.dropout, training=True)
        h_n = torch.stack(h_n)  # (L*D, B, H)
        return layer_in, ((h_n, torch.stack(c_n)) if is_lstm else h_n)

    # ---- fused path: the same weights through torch's kernels --------------------------------------
    def _fused(self, x: Tensor, state, lengths):
        is_lstm = self.mode == "lstm"
        kernel = getattr(_VF, _VF_NAMES[self.mode])
        hx = state if is_lstm else state
        args = (self._flat_weights, self.bias, self.num_layers, self.dropout, self.training, self.bidirectional)
        if lengths is None:
            res = kernel(x, hx, *args, False)
            return res[0], ((res[1], res[2]) if is_lstm else res[1])
        packed = pack_padded_sequence(x, lengths.cpu(), enforce_sorted=False)
        hx = _map_state(hx, lambda s: s.index_select(1, packed.sorted_indices))
        res = kernel(packed.data, packed.batch_sizes, hx, *args)
        out_packed = PackedSequence(res[0], packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices)
        out, _ = pad_packed_sequence(out_packed, total_length=x.shape[0])  # (T, B, D*H), zeros past lengths
        new_state = (res[1], res[2]) if is_lstm else res[1]
        return out, _map_state(new_state, lambda s: s.index_select(1, packed.unsorted_indices))


def _map_state(state, fn):
    if state is None:
        return None
    if isinstance(state, (tuple, list)):
        return tuple(fn(s) for s in state)
    return fn(state)


def _check_lengths(lengths, T: int, B: int, device) -> Tensor | None:
    if lengths is None:
        return None
    lengths = torch.as_tensor(lengths, device=device)
    if lengths.dtype.is_floating_point or lengths.dtype == torch.bool:
        raise ValueError(f"lengths must hold integers, got dtype {lengths.dtype}")
    if lengths.shape != (B,):
        raise ValueError(f"lengths must have shape (batch,) = ({B},), got {tuple(lengths.shape)}")
    lo, hi = int(lengths.min()), int(lengths.max())
    if lo <= 0 or hi > T:
        raise ValueError(f"lengths must be in [1, T={T}] (the padded sequence length); got min {lo}, max {hi}")
    return lengths.to(torch.int64)


class RNN(RNNBase):
    """Elman RNN, ``h_t = tanh|relu(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)``; drop-in for torch.nn.RNN."""

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, impl="auto", device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__("rnn_" + nonlinearity, input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, impl, device, dtype)


class LSTM(RNNBase):
    """Long short-term memory; state is ``(h, c)``. Drop-in for torch.nn.LSTM (without proj_size)."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, impl="auto", device=None, dtype=None):
        super().__init__("lstm", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, impl, device, dtype)


class GRU(RNNBase):
    """Gated recurrent unit. Drop-in for torch.nn.GRU."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, impl="auto", device=None, dtype=None):
        super().__init__("gru", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, impl, device, dtype)


class _CellBase(nn.Module):
    def __init__(self, mode, input_size, hidden_size, bias, device, dtype):
        super().__init__()
        if not isinstance(hidden_size, int) or hidden_size <= 0:
            raise ValueError(f"hidden_size must be a positive int, got {hidden_size!r}")
        self.input_size, self.hidden_size, self.bias, self.mode = input_size, hidden_size, bias, mode
        G, factory = Fn.GATES[mode], {"device": device, "dtype": dtype}
        self.weight_ih = nn.Parameter(torch.empty(G * hidden_size, input_size, **factory))
        self.weight_hh = nn.Parameter(torch.empty(G * hidden_size, hidden_size, **factory))
        self.bias_ih = nn.Parameter(torch.empty(G * hidden_size, **factory)) if bias else None
        self.bias_hh = nn.Parameter(torch.empty(G * hidden_size, **factory)) if bias else None
        bound = 1.0 / math.sqrt(hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def _prepare(self, x: Tensor, hx, n_states: int):
        if x.dim() not in (1, 2):
            raise ValueError(f"input must be 1-D (I,) or 2-D (B, I), got shape {tuple(x.shape)}")
        if x.shape[-1] != self.input_size:
            raise ValueError(f"input.size(-1) must be equal to input_size. Expected {self.input_size}, "
                             f"got {x.shape[-1]}")
        unbatched = x.dim() == 1
        x = x.unsqueeze(0) if unbatched else x
        if hx is None:
            zeros = x.new_zeros(x.shape[0], self.hidden_size)
            hx = (zeros, zeros.clone()) if n_states == 2 else zeros
        states = hx if n_states == 2 else (hx,)
        states = tuple(s.unsqueeze(0) if unbatched else s for s in states)
        for name, s in zip(("h", "c"), states, strict=False):
            if tuple(s.shape) != (x.shape[0], self.hidden_size):
                raise ValueError(f"{name} must have shape (batch, hidden_size) = ({x.shape[0]}, "
                                 f"{self.hidden_size}), got {tuple(s.shape)}")
        return x, states, unbatched

    def _w(self):
        return self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh


class RNNCell(_CellBase):
    """One Elman step: ``h' = tanh|relu(W_ih x + b_ih + W_hh h + b_hh)``; drop-in for torch.nn.RNNCell."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__("rnn_" + nonlinearity, input_size, hidden_size, bias, device, dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        x, (h,), unbatched = self._prepare(input, hx, 1)
        h = Fn.rnn_cell(x, h, *self._w(), nonlinearity=self.nonlinearity)
        return h.squeeze(0) if unbatched else h


class LSTMCell(_CellBase):
    """One LSTM step; returns ``(h', c')``. Drop-in for torch.nn.LSTMCell."""

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__("lstm", input_size, hidden_size, bias, device, dtype)

    def forward(self, input: Tensor, hx=None) -> tuple[Tensor, Tensor]:
        x, (h, c), unbatched = self._prepare(input, hx, 2)
        h, c = Fn.lstm_cell(x, h, c, *self._w())
        return (h.squeeze(0), c.squeeze(0)) if unbatched else (h, c)


class GRUCell(_CellBase):
    """One GRU step. Drop-in for torch.nn.GRUCell."""

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__("gru", input_size, hidden_size, bias, device, dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        x, (h,), unbatched = self._prepare(input, hx, 1)
        h = Fn.gru_cell(x, h, *self._w())
        return h.squeeze(0) if unbatched else h


CELL_NAMES = ("rnn_tanh", "rnn_relu", "lstm", "gru")


def build_rnn(cell: str, input_size: int, hidden_size: int, num_layers: int = 1, *, bias: bool = True,
              batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
              impl: str = "auto") -> RNNBase:
    """Construct the recurrent module named by a config string (``rnn_tanh``, ``rnn_relu``, ``lstm``, ``gru``;
    ``rnn`` means ``rnn_tanh``)."""
    cell = "rnn_tanh" if cell == "rnn" else cell
    common = dict(num_layers=num_layers, bias=bias, batch_first=batch_first, dropout=dropout,
                  bidirectional=bidirectional, impl=impl)
    if cell in ("rnn_tanh", "rnn_relu"):
        return RNN(input_size, hidden_size, nonlinearity=cell[4:], **common)
    if cell == "lstm":
        return LSTM(input_size, hidden_size, **common)
    if cell == "gru":
        return GRU(input_size, hidden_size, **common)
    raise ValueError(f"cell must be one of {CELL_NAMES} (or 'rnn'), got {cell!r}")
