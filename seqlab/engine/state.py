"""Recurrent state is explicit: modules never keep it. Helpers to build, check, detach and reorder it.

A state is ``h`` (L*D, B, H) for RNN/GRU and ``(h, c)`` for LSTM, in torch.nn's layout.
"""

from __future__ import annotations

import torch
from torch import Tensor

State = Tensor | tuple[Tensor, Tensor]

__all__ = ["State", "zero_state", "check_state", "detach_state", "select_state", "lengths_to_mask"]


def zero_state(is_lstm: bool, layers_dirs: int, batch: int, hidden: int, like: Tensor) -> State:
    h = like.new_zeros(layers_dirs, batch, hidden)  # (L*D, B, H)
    return (h, like.new_zeros(layers_dirs, batch, hidden)) if is_lstm else h


def _check_one(t: Tensor, name: str, expected: tuple[int, ...], like: Tensor) -> None:
    if not isinstance(t, Tensor):
        raise ValueError(f"{name} must be a Tensor, got {type(t).__name__}")
    if t.dim() != len(expected):
        raise ValueError(
            f"{name} must have {len(expected)} dimensions {expected}, got {t.dim()} dimensions {tuple(t.shape)}"
        )
    what = ("num_layers*num_directions", "batch", "hidden_size")[-len(expected) :]
    for d, (exp, got, label) in enumerate(zip(expected, t.shape, what, strict=True)):
        if exp != got:
            raise ValueError(f"{name}.size({d}) must be {label} = {exp}, got {got} (full shape {tuple(t.shape)})")
    if t.dtype != like.dtype or t.device != like.device:
        raise ValueError(f"{name} must match input dtype/device {like.dtype}/{like.device}, got {t.dtype}/{t.device}")


def check_state(state, is_lstm: bool, expected: tuple[int, ...], like: Tensor) -> None:
    """Validate a user-given state dimension by dimension; the message names the argument and the fix."""
    if is_lstm:
        if not (isinstance(state, (tuple, list)) and len(state) == 2):
            raise ValueError("LSTM state must be a tuple (h0, c0), got " + type(state).__name__)
        _check_one(state[0], "h0", expected, like)
        _check_one(state[1], "c0", expected, like)
    else:
        _check_one(state, "h0", expected, like)


def detach_state(state: State | None) -> State | None:
    """Cut the graph between truncated-BPTT windows; values carry over, gradients stop."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()


def select_state(state: State, index: Tensor) -> State:
    """Reorder/select batch entries of a state (beam search, sorting): index (B',) over dim 1."""
    if isinstance(state, tuple):
        return tuple(s.index_select(1, index) for s in state)
    return state.index_select(1, index)


def lengths_to_mask(lengths: Tensor, T: int) -> Tensor:
    """(B,) lengths -> (T, B, 1) bool mask, True at valid steps."""
    steps = torch.arange(T, device=lengths.device).unsqueeze(1)  # (T, 1)
    return (steps < lengths.unsqueeze(0)).unsqueeze(-1)  # (T, B, 1)
