"""The LM head's metrics and its sampler, each against an independent computation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from seqlab.data.streams import IGNORE, StreamBatches
from seqlab.tasks.lm import LanguageModel, LMModelConfig, LMObjective, filter_probs, lm_metrics, sample

V = 13


def _model(seed=0, **kw) -> LanguageModel:
    torch.manual_seed(seed)
    cfg = LMModelConfig(embedding_dim=8, hidden_size=12, dropout=0.0, **kw)
    return LanguageModel(V, cfg).eval()


def _numpy_nll(model: LanguageModel, seq: list[int]) -> float:
    """Oracle: one forward over the whole sequence, then -Σ log softmax in float64 NumPy."""
    with torch.no_grad():
        logits, _ = model(torch.tensor([seq[:-1]]))
    z = logits[0].double().numpy()
    logp = z - z.max(1, keepdims=True) - np.log(np.exp(z - z.max(1, keepdims=True)).sum(1, keepdims=True))
    return float(-logp[np.arange(len(seq) - 1), seq[1:]].sum())


def test_metrics_definitions():
    m = lm_metrics(nll_sum=690.0, tokens=500, chars=1000)
    assert m["loss"] == pytest.approx(690 / 500) and m["perplexity"] == pytest.approx(math.exp(690 / 500))
    assert m["nats_per_char"] == pytest.approx(0.69) and m["bpc"] == pytest.approx(0.69 / math.log(2))
    char = lm_metrics(nll_sum=700.0, tokens=1000, chars=1000)  # char model: bpc = loss / ln 2
    assert char["bpc"] == pytest.approx(char["loss"] / math.log(2))


@pytest.mark.parametrize("streams,window", [(1, 5), (1, 1000), (3, 7)])
def test_held_out_nll_matches_a_full_forward_per_stream(streams, window):
    model = _model()
    ids = torch.randint(2, V, (97,), generator=torch.Generator().manual_seed(4)).tolist()
    sb = StreamBatches(ids, streams, window, context=1, chars=300)
    total, n = LMObjective().nll(model, sb)
    seq = [1] + ids
    L = sb.length
    want = sum(_numpy_nll(model, seq[b * L: (b + 1) * L + 1]) for b in range(streams))
    assert n == 97 and total == pytest.approx(want, rel=1e-5)
    m = LMObjective().evaluate(model, sb)
    assert m["chars"] == 300 and m["bpc"] == pytest.approx(want / 300 / math.log(2), rel=1e-5)


def _brute_force(logits: np.ndarray, temperature: float, top_k: int, top_p: float, banned: list[int]) -> np.ndarray:
    z = logits.astype(np.float64).copy()
    z[banned] = -np.inf
    if temperature == 0:
        p = np.zeros_like(z)
        p[np.argmax(z)] = 1
        return p
    p = np.exp(z / temperature - np.max(z / temperature))
    p /= p.sum()
    ranked = sorted(range(len(p)), key=lambda i: (-p[i], i))
    kept = ranked[:top_k] if top_k else ranked
    if top_p < 1:
        nucleus, mass = [], 0.0
        for i in ranked:  # the smallest most-likely set with mass >= top_p
            nucleus.append(i)
            mass += p[i]
            if mass >= top_p:
                break
        kept = [i for i in kept if i in nucleus]
    q = np.zeros_like(p)
    q[kept] = p[kept]
    return q / q.sum()


@pytest.mark.parametrize("temperature,top_k,top_p", [(1.0, 0, 1.0), (0.5, 0, 1.0), (2.0, 3, 1.0), (1.0, 0, 0.6),
                                                     (0.8, 4, 0.9), (0, 0, 1.0), (1.0, 0, 1e-9), (1.0, 1, 1.0)])
def test_filter_probs_matches_brute_force(temperature, top_k, top_p):
    rng = np.random.default_rng(7)
    for _ in range(20):
        logits = rng.normal(size=V) * 2
        got = filter_probs(torch.from_numpy(logits).float(), temperature, top_k, top_p, banned=[0, 1]).numpy()
        want = _brute_force(logits.astype(np.float32), temperature, top_k, top_p, [0, 1])
        np.testing.assert_allclose(got, want, atol=1e-6)
        assert got[0] == 0 and got[1] == 0


def _rerun_prefix_sampler(model, prompt, length, temperature, top_k, top_p, generator):
    """Oracle: re-run the whole prefix for every token (what `sample` must not do), same draws."""
    seq = list(prompt)
    for _ in range(length):
        with torch.no_grad():
            logits, _ = model(torch.tensor([seq]))
        probs = filter_probs(logits[0, -1], temperature, top_k, top_p, (0, 1))
        seq.append(int(torch.multinomial(probs.float(), 1, generator=generator)) if temperature > 0
                   else int(probs.argmax()))
    return seq[len(prompt):]


@pytest.mark.parametrize("temperature,top_k,top_p", [(0, 0, 1.0), (1.0, 0, 1.0), (0.8, 5, 0.9)])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_sampling_with_carried_state_equals_rerunning_the_prefix(cell, temperature, top_k, top_p):
    model = _model(cell=cell, num_layers=2)
    prompt = [3, 4, 5, 6]
    got = list(sample(model, prompt, 40, temperature=temperature, top_k=top_k, top_p=top_p,
                      generator=torch.Generator().manual_seed(9)))
    want = _rerun_prefix_sampler(model, prompt, 40, temperature, top_k, top_p, torch.Generator().manual_seed(9))
    assert got == want
    assert all(t not in (0, 1) for t in got)  # <pad> and <unk> are never sampled


def test_sampler_runs_the_prompt_once_then_one_step_per_token_lazily():
    model = _model()
    lengths = []
    model.register_forward_pre_hook(lambda m, args: lengths.append(args[0].shape[1]))
    it = sample(model, [2, 3, 4, 5, 6], 30, temperature=1.0, generator=torch.Generator().manual_seed(0))
    next(it)
    assert lengths == [5]  # the first token needs only the prompt: nothing is computed ahead
    rest = list(it)
    assert len(rest) == 29 and lengths == [5] + [1] * 29  # never the prefix again


class _ConstantLM(nn.Module):
    """Same next-token logits after any prefix: the samples are i.i.d. draws from one distribution."""

    def __init__(self, logits: torch.Tensor):
        super().__init__()
        self.logits = nn.Parameter(logits)

    def forward(self, tokens, state=None):
        return self.logits.expand(*tokens.shape, V), state


@pytest.mark.parametrize("temperature,top_k,top_p", [(1.0, 0, 1.0), (0.7, 4, 0.95)])
def test_seeded_samples_repeat_and_follow_the_filtered_distribution(temperature, top_k, top_p):
    model = _ConstantLM(torch.randn(V, generator=torch.Generator().manual_seed(1)))
    draws = list(sample(model, [2], 2000, temperature=temperature, top_k=top_k, top_p=top_p,
                        generator=torch.Generator().manual_seed(3)))
    p = filter_probs(model.logits, temperature, top_k, top_p, banned=(0, 1)).numpy()
    freq = np.bincount(draws, minlength=V) / len(draws)
    assert np.abs(freq - p).max() < 0.04  # 2000 draws: standard error <= 0.012
    assert draws[:200] == list(sample(model, [2], 200, temperature=temperature, top_k=top_k, top_p=top_p,
                                      generator=torch.Generator().manual_seed(3)))


def test_tied_weights_share_one_matrix_and_need_equal_sizes():
    tied = LanguageModel(V, LMModelConfig(embedding_dim=12, hidden_size=12, tie_weights=True))
    assert tied.out.weight is tied.embedding.weight
    with pytest.raises(ValueError, match="embedding_dim == model.hidden_size"):
        LanguageModel(V, LMModelConfig(embedding_dim=8, hidden_size=12, tie_weights=True))
    assert isinstance(tied.rnn, nn.Module) and not isinstance(tied.rnn, nn.LSTM)  # seqlab's engine


def test_adaptive_softmax_is_a_normalised_distribution_and_scores_only_the_targets():
    """log-probs sum to one over the vocabulary; target_nll equals the full log-prob at each target (the
    cheap cluster path against the full distribution), padded targets skipped; the objective trains on it."""
    torch.manual_seed(0)
    vocab = 12000  # cutoffs 2000 and 10000: a head and two tail clusters
    model = LanguageModel(vocab, LMModelConfig(embedding_dim=8, hidden_size=12, dropout=0.0, softmax="adaptive"))
    assert isinstance(model.out, nn.AdaptiveLogSoftmaxWithLoss) and model.out.cutoffs == [2000, 10000, vocab]
    x = torch.randint(2, vocab, (3, 9))
    y = torch.cat([torch.randint(2, 2000, (3, 3)), torch.randint(2000, 10000, (3, 3)),
                   torch.randint(10000, vocab, (3, 3))], 1)  # every cluster
    y[1, 4] = IGNORE
    logp, _ = model(x)  # (B, T, V)
    assert torch.allclose(logp.exp().sum(-1), torch.ones(3, 9), atol=1e-5)
    nll, _ = model.target_nll(x, y)
    keep = y.flatten() != IGNORE
    full = -logp.flatten(0, 1)[keep].gather(1, y.flatten()[keep][:, None]).squeeze(1)
    assert nll.shape == (26,) and torch.allclose(nll, full, atol=1e-5)
    loader = StreamBatches(torch.randint(2, vocab, (400,)).tolist(), 4, 10)
    before = LMObjective().evaluate(model, loader)["loss"]
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(3):
        for w in loader:
            opt.zero_grad()
            LMObjective().loss(model, w).backward()
            opt.step()
    assert LMObjective().evaluate(model, loader)["loss"] < before  # gradients reach every part
    with pytest.raises(ValueError, match="adaptive"):
        LanguageModel(1500, LMModelConfig(softmax="adaptive"))  # no tail to split off


def test_full_softmax_target_nll_equals_cross_entropy():
    torch.manual_seed(1)
    model = LanguageModel(V, LMModelConfig(embedding_dim=8, hidden_size=12, dropout=0.0)).eval()
    x, y = torch.randint(2, V, (2, 6)), torch.randint(2, V, (2, 6))
    y[0, 0] = IGNORE
    logits, _ = model(x)
    nll, _ = model.target_nll(x, y)
    ref = nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten(), ignore_index=IGNORE, reduction="sum")
    assert torch.allclose(nll.sum(), ref, atol=1e-5)
