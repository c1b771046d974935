"""Shared builders for the engine parity tests."""

from __future__ import annotations

import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import seqlab.engine as E

CELLS = ["rnn_tanh", "rnn_relu", "lstm", "gru"]


def make(cell: str, impl: str = "explicit", torch_nn: bool = False, **kw):
    """Build a seqlab (or torch.nn) module for ``cell`` with keyword arguments ``kw``."""
    if cell.startswith("rnn"):
        kw["nonlinearity"] = cell[4:]
        cls = torch.nn.RNN if torch_nn else E.RNN
    else:
        cls = {"lstm": (E.LSTM, torch.nn.LSTM), "gru": (E.GRU, torch.nn.GRU)}[cell][int(torch_nn)]
    return cls(**kw) if torch_nn else cls(impl=impl, **kw)


def pair(cell: str, impl: str = "explicit", seed: int = 0, **kw):
    """A torch.nn module and a seqlab module holding the same weights."""
    torch.manual_seed(seed)
    ref = make(cell, torch_nn=True, **kw)
    mine = make(cell, impl=impl, **kw)
    mine.load_state_dict(ref.state_dict())
    return ref, mine


def run_torch(ref, x, state, lengths, batch_first):
    """torch.nn with lengths goes through a PackedSequence, the way its users do it."""
    if lengths is None:
        return ref(x, state)
    packed = pack_padded_sequence(x, lengths, batch_first=batch_first, enforce_sorted=False)
    out, st = ref(packed, state)
    out, _ = pad_packed_sequence(out, batch_first=batch_first, total_length=x.shape[1 if batch_first else 0])
    return out, st


def states(st):
    return list(st) if isinstance(st, tuple) else [st]


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a - b| / max |b| (absolute when b is all zeros)."""
    scale = b.abs().max().item()
    return (a - b).abs().max().item() / (scale if scale > 0 else 1.0)
