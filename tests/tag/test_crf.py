"""The CRF against brute force: every one of the K^n tag paths enumerated on tiny inputs."""

from __future__ import annotations

import itertools

import pytest
import torch

from seqlab.data.conll import bio_to_bioes, bioes_to_bio, iob1_to_bio
from seqlab.tasks.crf import CRF, FORBIDDEN, allowed_transitions

BIO_TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
BIOES_TAGS = ["O", "B-PER", "I-PER", "E-PER", "S-PER", "B-LOC", "I-LOC", "E-LOC", "S-LOC"]


def _crf(K: int, seed: int, constraints=None) -> CRF:
    torch.manual_seed(seed)
    crf = CRF(K, constraints).double()
    with torch.no_grad():
        for p in crf.parameters():
            p.normal_()  # larger than the default init: paths differ clearly
    return crf


@torch.no_grad()
def _brute(crf: CRF, E: torch.Tensor) -> tuple[torch.Tensor, list[int], dict[tuple, torch.Tensor]]:
    """log Z, the best path and every path's score s(y) for one unpadded sequence E (n, K)."""
    A, pi, omega = crf.scores()
    n, K = E.shape
    scores = {}
    for y in itertools.product(range(K), repeat=n):
        # s(y) = π[y_1] + Σ_t E[t, y_t] + Σ_{t>1} A[y_{t-1}, y_t] + ω[y_n]
        s = pi[y[0]] + sum(E[t, y[t]] for t in range(n)) + sum(A[y[t - 1], y[t]] for t in range(1, n)) + omega[y[-1]]
        scores[y] = s
    values = torch.stack(list(scores.values()))
    best = max(scores, key=lambda y: float(scores[y]))
    return torch.logsumexp(values, 0), list(best), scores


def _batch(lengths: list[int], K: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    T = max(lengths)
    E = torch.randn(len(lengths), T, K, generator=g, dtype=torch.float64) * 2
    mask = torch.arange(T).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)
    return E, mask


@pytest.mark.parametrize("K,lengths,seed", [(3, [4, 1, 3, 2], 0), (4, [3, 3], 1), (2, [5, 2, 1], 2), (5, [1], 3)])
def test_log_partition_and_viterbi_match_enumeration(K, lengths, seed):
    crf = _crf(K, seed)
    E, mask = _batch(lengths, K, seed)
    log_z = crf.log_partition(E, mask)
    paths, best_scores = crf.decode(E, mask)
    for b, n in enumerate(lengths):
        want_z, want_path, scores = _brute(crf, E[b, :n])
        torch.testing.assert_close(log_z[b], want_z, rtol=0, atol=1e-12)
        assert paths[b] == want_path
        torch.testing.assert_close(best_scores[b], scores[tuple(want_path)], rtol=0, atol=1e-12)


def test_path_score_and_nll_match_enumeration():
    K, lengths = 3, [4, 2, 3]
    crf = _crf(K, 5)
    E, mask = _batch(lengths, K, 5)
    g = torch.Generator().manual_seed(9)
    tags = torch.randint(0, K, (len(lengths), max(lengths)), generator=g).masked_fill(~mask, -100)
    nll = crf.nll(E, tags, mask)
    for b, n in enumerate(lengths):
        want_z, _, scores = _brute(crf, E[b, :n])
        y = tuple(tags[b, :n].tolist())
        torch.testing.assert_close(crf.path_score(E, tags, mask)[b], scores[y], rtol=0, atol=1e-12)
        # -log p(y | x) = log Z - s(y)
        torch.testing.assert_close(nll[b], want_z - scores[y], rtol=0, atol=1e-12)


def test_gradient_of_log_partition_is_the_brute_force_marginals():
    """∂ log Z / ∂ E[t, k] = p(y_t = k | x): the forward algorithm's gradient gives the tag marginals; padded
    steps get exactly zero gradient."""
    K, lengths = 3, [4, 2]
    crf = _crf(K, 11)
    E, mask = _batch(lengths, K, 11)
    E.requires_grad_(True)
    crf.log_partition(E, mask).sum().backward()
    for b, n in enumerate(lengths):
        log_z, _, scores = _brute(crf, E.detach()[b, :n])
        marginals = torch.zeros(n, K, dtype=torch.float64)
        for y, s in scores.items():
            for t, k in enumerate(y):
                marginals[t, k] += torch.exp(s - log_z)
        torch.testing.assert_close(E.grad[b, :n], marginals, rtol=0, atol=1e-12)
        assert bool((E.grad[b, n:] == 0).all())


def test_padding_does_not_change_a_sequence():
    """A sequence alone and inside a padded batch: same log Z and the same best path."""
    K = 4
    crf = _crf(K, 2)
    E, mask = _batch([6, 3], K, 2)
    alone = E[1:2, :3]
    ones = torch.ones(1, 3, dtype=torch.bool)
    torch.testing.assert_close(crf.log_partition(E, mask)[1], crf.log_partition(alone, ones)[0], rtol=0, atol=1e-12)
    assert crf.decode(E, mask)[0][1] == crf.decode(alone, ones)[0][0]


def _well_formed(path: list[str], scheme: str) -> bool:
    """Independent rule: a sequence is well formed iff converting it is the identity."""
    if scheme == "bio":
        return iob1_to_bio(path) == path
    return bio_to_bioes(bioes_to_bio(path)) == path


@pytest.mark.parametrize("tags,scheme", [(BIO_TAGS, "bio"), (BIOES_TAGS, "bioes")])
def test_constraints_forbid_exactly_the_ill_formed_paths(tags, scheme):
    crf = _crf(len(tags), 4, allowed_transitions(tags, scheme))
    A, pi, omega = crf.scores()
    for n in (1, 2, 3):
        for y in itertools.product(range(len(tags)), repeat=n):
            forbidden = bool(pi[y[0]] == FORBIDDEN) or bool(omega[y[-1]] == FORBIDDEN) or any(
                bool(A[y[t - 1], y[t]] == FORBIDDEN) for t in range(1, n))
            assert forbidden == (not _well_formed([tags[i] for i in y], scheme)), [tags[i] for i in y]


@pytest.mark.parametrize("tags,scheme", [(BIO_TAGS, "bio"), (BIOES_TAGS, "bioes")])
def test_constrained_viterbi_and_partition_over_allowed_paths(tags, scheme):
    K = len(tags)
    crf = _crf(K, 6, allowed_transitions(tags, scheme))
    lengths = [3, 2, 1]
    E, mask = _batch(lengths, K, 6)
    log_z = crf.log_partition(E, mask)
    paths, _ = crf.decode(E, mask)
    for b, n in enumerate(lengths):
        _, _, scores = _brute(crf, E[b, :n])
        allowed = {y: s for y, s in scores.items() if _well_formed([tags[i] for i in y], scheme)}
        # forbidden paths carry exp(-10⁴) ≈ 0 mass: log Z equals the log-sum over the well-formed paths
        torch.testing.assert_close(log_z[b], torch.logsumexp(torch.stack(list(allowed.values())), 0),
                                   rtol=0, atol=1e-9)
        assert tuple(paths[b]) == max(allowed, key=lambda y: float(allowed[y]))
        assert _well_formed([tags[i] for i in paths[b]], scheme)


def test_bad_shapes_are_named():
    crf = CRF(3)
    with pytest.raises(ValueError, match=r"emissions must have shape \(B, T, K=3\), got \(2, 4, 5\)"):
        crf.log_partition(torch.zeros(2, 4, 5), torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="mask must be a bool tensor"):
        crf.decode(torch.zeros(2, 4, 3), torch.ones(2, 4))
    with pytest.raises(ValueError, match="scheme must be one of"):
        allowed_transitions(["O"], "iob3")
