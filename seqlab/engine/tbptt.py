"""Truncated BPTT: run a long sequence in windows of k steps, carrying detached state between them."""

from __future__ import annotations

from collections.abc import Iterator

from torch import Tensor, nn

from seqlab.engine.state import State, detach_state

__all__ = ["truncated_bptt"]


def truncated_bptt(rnn: nn.Module, x: Tensor, k: int, state: State | None = None,
                   batch_first: bool | None = None) -> Iterator[tuple[Tensor, State]]:
    """Yield ``(output_window, state)`` for consecutive windows of ``k`` steps of ``x``.

    Each window starts from the previous window's final state, detached: the forward pass equals one
    full call, while gradients flow back at most ``k`` steps. Call ``backward`` on each window's loss
    before asking for the next window.
    """
    if not isinstance(k, int) or k <= 0:
        raise ValueError(f"k (window length) must be a positive int, got {k!r}")
    bf = getattr(rnn, "batch_first", False) if batch_first is None else batch_first
    time_dim = 1 if bf else 0
    T = x.shape[time_dim]
    for start in range(0, T, k):
        window = x.narrow(time_dim, start, min(k, T - start))  # (k, B, I) or (B, k, I)
        out, state = rnn(window, detach_state(state))
        yield out, state
