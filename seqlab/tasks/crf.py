"""Linear-chain conditional random field over per-token emission scores, batched and masked.

Shapes: B batch, T time (padded), K tags. ``emissions`` (B, T, K); ``mask`` (B, T) bool, true on the valid
steps, which must be a prefix of each row with at least one step (right padding, lengths >= 1).

For one sentence of length n with emissions E (n, K), transitions A (K, K) (``A[i, j]``: tag i followed
by tag j), start scores π (K) and end scores ω (K), a tag path y = (y_1, ..., y_n) scores

    s(y) = π[y_1] + Σ_t E[t, y_t] + Σ_{t>1} A[y_{t-1}, y_t] + ω[y_n]

and p(y | x) = exp s(y) / Z, with Z the sum of exp s over all K^n paths. The negative log-likelihood of the
gold path is log Z - s(y*). Z comes from the forward algorithm in O(n K²):

    α_1 = π + E_1,   α_t[j] = logsumexp_i(α_{t-1}[i] + A[i, j]) + E_t[j],   log Z = logsumexp_j(α_n[j] + ω[j])

and the best path from Viterbi: the same recursion with max in place of logsumexp, plus back-pointers.

Transition constraints (BIO / BIOES) are a fixed boolean mask; a forbidden transition scores ``FORBIDDEN``
(-10⁴) instead of its parameter, so the model never assigns it measurable probability and Viterbi never
takes it, while every gradient stays finite.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

__all__ = ["CRF", "FORBIDDEN", "allowed_transitions", "SCHEMES"]

FORBIDDEN = -1e4  # score of a transition the tag scheme forbids
SCHEMES = ("bio", "bioes")


def _split(tag: str) -> tuple[str, str]:
    """``B-PER`` → (``B``, ``PER``); ``O`` and anything without a prefix → (``O``, ``""``)."""
    if len(tag) > 2 and tag[1] == "-" and tag[0] in "BIES":
        return tag[0], tag[2:]
    return "O", ""


def allowed_transitions(tags: Sequence[str], scheme: str) -> tuple[Tensor, Tensor, Tensor]:
    """Which transitions a well-formed ``scheme`` sequence may contain: ``(allowed (K, K), start (K), end (K))``
    as bool tensors, ``allowed[i, j]`` for tag i followed by tag j.

    bio:   I-X only after B-X or I-X (so never first).
    bioes: I-X / E-X only after B-X or I-X; B-X / S-X / O only at the start or after O, E-*, S-*;
           the last tag is O, E-* or S-*.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
    parts = [_split(t) for t in tags]
    K = len(tags)
    allowed = torch.ones(K, K, dtype=torch.bool)
    start = torch.ones(K, dtype=torch.bool)
    end = torch.ones(K, dtype=torch.bool)
    for j, (pj, xj) in enumerate(parts):
        inside = pj in ("I", "E") if scheme == "bioes" else pj == "I"
        if inside:
            start[j] = False
            for i, (pi, xi) in enumerate(parts):
                allowed[i, j] = pi in ("B", "I") and xi == xj  # continue an entity of the same type
        elif scheme == "bioes":
            for i, (pi, _) in enumerate(parts):
                allowed[i, j] = pi in ("O", "E", "S")  # a new entity or O only after the previous one closed
        if scheme == "bioes":
            end[j] = pj in ("O", "E", "S")
    return allowed, start, end


class CRF(nn.Module):
    """Transition, start and end scores over ``num_tags`` tags; optional fixed transition constraints."""

    def __init__(self, num_tags: int, constraints: tuple[Tensor, Tensor, Tensor] | None = None):
        super().__init__()
        if num_tags < 1:
            raise ValueError(f"num_tags must be >= 1, got {num_tags}")
        self.num_tags = num_tags
        self.transitions = nn.Parameter(torch.empty(num_tags, num_tags))  # A[i, j]: tag i -> tag j
        self.start = nn.Parameter(torch.empty(num_tags))  # π
        self.end = nn.Parameter(torch.empty(num_tags))  # ω
        for p in self.parameters():
            nn.init.uniform_(p, -0.1, 0.1)
        K = num_tags
        allowed, start, end = constraints if constraints is not None else (
            torch.ones(K, K, dtype=torch.bool), torch.ones(K, dtype=torch.bool), torch.ones(K, dtype=torch.bool))
        for name, m, shape in (("allowed", allowed, (K, K)), ("allowed_start", start, (K,)),
                               ("allowed_end", end, (K,))):
            if tuple(m.shape) != shape:
                raise ValueError(f"constraint {name} must have shape {shape}, got {tuple(m.shape)}")
            self.register_buffer(name, m.to(torch.bool), persistent=False)

    def extra_repr(self) -> str:
        return f"num_tags={self.num_tags}, constrained={not bool(self.allowed.all())}"

    def scores(self) -> tuple[Tensor, Tensor, Tensor]:
        """(A (K, K), π (K), ω (K)) with forbidden entries replaced by ``FORBIDDEN``."""
        A = self.transitions.masked_fill(~self.allowed, FORBIDDEN)
        return A, self.start.masked_fill(~self.allowed_start, FORBIDDEN), self.end.masked_fill(~self.allowed_end,
                                                                                                 FORBIDDEN)

    def _check(self, emissions: Tensor, mask: Tensor) -> None:
        if emissions.dim() != 3 or emissions.shape[2] != self.num_tags:
            raise ValueError(f"emissions must have shape (B, T, K={self.num_tags}), got {tuple(emissions.shape)}")
        if mask.shape != emissions.shape[:2] or mask.dtype != torch.bool:
            raise ValueError(f"mask must be a bool tensor of shape (B, T) = {tuple(emissions.shape[:2])}, "
                             f"got {mask.dtype} {tuple(mask.shape)}")
        assert bool(mask[:, 0].all()), "every sequence needs at least one step (mask[:, 0] all true)"

    def log_partition(self, emissions: Tensor, mask: Tensor) -> Tensor:
        """log Z for each sequence (B,) by the forward algorithm."""
        self._check(emissions, mask)
        A, pi, omega = self.scores()
        alpha = pi + emissions[:, 0]  # (B, K)
        for t in range(1, emissions.shape[1]):
            # α_t[j] = logsumexp_i(α_{t-1}[i] + A[i, j]) + E_t[j]
            nxt = torch.logsumexp(alpha.unsqueeze(2) + A, dim=1) + emissions[:, t]  # (B, K)
            alpha = torch.where(mask[:, t].unsqueeze(1), nxt, alpha)  # padded steps carry α unchanged
        # log Z = logsumexp_j(α_n[j] + ω[j])
        return torch.logsumexp(alpha + omega, dim=1)

    def path_score(self, emissions: Tensor, tags: Tensor, mask: Tensor) -> Tensor:
        """s(y) of the given tag paths (B,); ``tags`` (B, T), any value on padded steps."""
        self._check(emissions, mask)
        A, pi, omega = self.scores()
        tags = tags.masked_fill(~mask, 0)  # padding (e.g. -100) -> a valid index, masked out below
        m = mask.to(emissions.dtype)
        emit = emissions.gather(2, tags.unsqueeze(2)).squeeze(2)  # (B, T): E[t, y_t]
        trans = A[tags[:, :-1], tags[:, 1:]]  # (B, T-1): A[y_{t-1}, y_t]
        last = tags.gather(1, (mask.sum(1) - 1).unsqueeze(1)).squeeze(1)  # (B,) y_n
        # s(y) = π[y_1] + Σ_t E[t, y_t] + Σ_{t>1} A[y_{t-1}, y_t] + ω[y_n]
        return pi[tags[:, 0]] + (emit * m).sum(1) + (trans * m[:, 1:]).sum(1) + omega[last]

    def nll(self, emissions: Tensor, tags: Tensor, mask: Tensor) -> Tensor:
        """Negative log-likelihood of each gold path (B,): log Z - s(y*)."""
        return self.log_partition(emissions, mask) - self.path_score(emissions, tags, mask)

    @torch.no_grad()
    def decode(self, emissions: Tensor, mask: Tensor) -> tuple[list[list[int]], Tensor]:
        """Viterbi: the best tag path of each sequence (its valid steps only) and its score s(y) (B,)."""
        self._check(emissions, mask)
        A, pi, omega = self.scores()
        score = pi + emissions[:, 0]  # (B, K): best score of a path ending in each tag
        pointers = []
        for t in range(1, emissions.shape[1]):
            # δ_t[j] = max_i(δ_{t-1}[i] + A[i, j]) + E_t[j], ψ_t[j] = argmax_i
            best, arg = (score.unsqueeze(2) + A).max(dim=1)  # (B, K)
            score = torch.where(mask[:, t].unsqueeze(1), best + emissions[:, t], score)
            pointers.append(arg)
        best_score, last = (score + omega).max(dim=1)  # (B,)
        lengths = mask.sum(1).tolist()
        back = torch.stack(pointers).cpu().tolist() if pointers else []  # (T-1, B, K)
        paths = []
        for b, n in enumerate(lengths):
            path = [int(last[b])]
            for t in range(n - 1, 0, -1):  # ψ_t maps the tag at step t to the best tag at t - 1
                path.append(back[t - 1][b][path[-1]])
            paths.append(path[::-1])
        return paths, best_score
