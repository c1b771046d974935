"""Greedy and beam search: beam 1 is greedy, a wide beam finds the brute-force best sequence, every returned
score matches a teacher-forced oracle (so back-pointers and carried state are right)."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from seqlab.tasks.seq2seq import ATTENTIONS, DecodeConfig, beam_search, decode, greedy_decode
from tests.seq2seq.helpers import EOS, sources, teacher_forced_logprob, tiny_model


@pytest.mark.parametrize("alpha", [0.0, 0.7, 1.0])
@pytest.mark.parametrize("attention", ATTENTIONS)
def test_beam_of_one_is_greedy(attention, alpha):
    model = tiny_model(attention, "gru" if attention == "dot" else "lstm", layers=2, scale=2.0)
    src, src_len = sources(B=4, S=5)
    greedy = greedy_decode(model, src, src_len, max_len=7, length_penalty=alpha)
    beam = beam_search(model, src, src_len, beam=1, max_len=7, length_penalty=alpha)
    for g, (b,) in zip(greedy, beam, strict=True):
        assert (b.tokens, b.finished) == (g.tokens, g.finished)
        assert b.logprob == pytest.approx(g.logprob, abs=1e-12)
        assert b.score == pytest.approx(g.score, abs=1e-12)


def _all_outputs(model, src, src_len, allowed, max_len):
    """Every output: y_1..y_n <eos> with n + 1 <= max_len, or max_len tokens without <eos>, as
    (log P by the teacher-forced oracle, tokens, finished, length)."""
    words = [t for t in allowed if t != EOS]
    out = []
    for n in range(max_len + 1):
        for seq in itertools.product(words, repeat=n):
            finished = n < max_len
            lp = teacher_forced_logprob(model, src, src_len, list(seq), finished)
            out.append((lp, seq, finished, n + 1 if finished else n))
    return out


@pytest.mark.parametrize("attention", ["bahdanau", "general"])
def test_wide_beam_finds_the_brute_force_best_sequence(attention):
    # target vocabulary <pad> <unk> <bos> <eos> a b: generation may emit <unk> <eos> a b (4 tokens)
    model = tiny_model(attention, tgt_vocab=6, scale=2.5, seed=3)
    src, src_len = sources(B=1, S=4, seed=5)
    max_len = 4
    outputs = _all_outputs(model, src, src_len, allowed=[1, 3, 4, 5], max_len=max_len)
    K = 3 ** (max_len - 1) * 4  # wide enough that nothing is ever pruned
    winners = set()
    for alpha in (0.0, 1.0, 2.0):
        # score = log P / len^α
        ranked = sorted(((lp / length**alpha, seq, fin) for lp, seq, fin, length in outputs), key=lambda r: -r[0])
        hyps = beam_search(model, src, src_len, beam=K, max_len=max_len, length_penalty=alpha, nbest=3)[0]
        assert ranked[0][0] > ranked[1][0] + 1e-9  # a unique optimum
        assert (hyps[0].tokens, hyps[0].finished) == ranked[0][1:]
        assert hyps[0].score == pytest.approx(ranked[0][0], abs=1e-9)
        assert [h.tokens for h in hyps] == [r[1] for r in ranked[:3]]
        winners.add(ranked[0][1])
    assert len(winners) > 1  # the length penalty changes the answer: the test sees it act


def test_beam_search_beats_greedy_where_greedy_is_myopic():
    # on a few random models a beam of 8 must find strictly more probable outputs than greedy somewhere, and
    # never a less probable one on these inputs
    better = worse = 0
    for seed in range(6):
        model = tiny_model("general", tgt_vocab=6, scale=2.0, seed=seed)
        src, src_len = sources(B=4, S=4, seed=seed)
        g = greedy_decode(model, src, src_len, max_len=5, length_penalty=0.0)
        b = beam_search(model, src, src_len, beam=8, max_len=5, length_penalty=0.0)
        for gh, (bh,) in zip(g, b, strict=True):
            better += bh.score > gh.score + 1e-9
            worse += bh.score < gh.score - 1e-9
    assert better > 0 and worse == 0


@pytest.mark.parametrize("attention", ["bahdanau", "dot"])
def test_every_nbest_score_and_attention_matches_the_teacher_forced_oracle(attention):
    model = tiny_model(attention, "lstm", layers=2, scale=2.0, seed=2)
    src, src_len = sources(B=3, S=5)
    alpha = 0.8
    results = beam_search(model, src, src_len, beam=4, max_len=6, length_penalty=alpha, nbest=4, attention=True)
    for b, hyps in enumerate(results):
        assert [h.score for h in hyps] == sorted((h.score for h in hyps), reverse=True)
        for h in hyps:
            oracle = teacher_forced_logprob(model, src[b : b + 1], src_len[b : b + 1], list(h.tokens), h.finished)
            assert h.logprob == pytest.approx(oracle, abs=1e-9)
            steps = len(h.tokens) + h.finished
            assert h.score == pytest.approx(h.logprob / steps**alpha, abs=1e-12)
            # the attention history followed the back-pointers: recompute it by stepping the final sequence
            memory, state = model.encode(src[b : b + 1], src_len[b : b + 1])
            y, rows = torch.tensor([2]), []
            for tok in list(h.tokens) + ([EOS] if h.finished else []):
                _, state, a = model.step(y, state, memory)
                rows.append(a[0])
                y = torch.tensor([tok])
            torch.testing.assert_close(h.attention, torch.stack(rows))


def test_max_len_caps_the_output_and_bad_arguments_are_rejected():
    model = tiny_model("none", scale=0.1)
    src, src_len = sources(B=2, S=3)
    for hyps in beam_search(model, src, src_len, beam=3, max_len=2, nbest=3):
        assert all(len(h.tokens) + h.finished <= 2 for h in hyps)
    with pytest.raises(ValueError, match="beam size must be >= 1"):
        beam_search(model, src, src_len, beam=0, max_len=3)
    with pytest.raises(ValueError, match="nbest must be between 1 and the beam size 2"):
        beam_search(model, src, src_len, beam=2, max_len=3, nbest=3)
    with pytest.raises(ValueError, match="greedy decoding gives one hypothesis"):
        decode(model, src, src_len, DecodeConfig(beam_size=1), nbest=2)
    assert math.isfinite(decode(model, src, src_len, DecodeConfig(beam_size=2, max_len=3))[0][0].score)
