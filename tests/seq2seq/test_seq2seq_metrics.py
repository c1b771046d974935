"""BLEU / chrF through sacrebleu, checked against a hand-written BLEU (Papineni et al. 2002)."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from seqlab.tasks.seq2seq import corpus_scores


def _bleu(hyps: list[str], refs: list[str]) -> float:
    """Corpus BLEU-4, one reference, whitespace tokens, no smoothing."""
    match, total = [0] * 4, [0] * 4
    hyp_len = ref_len = 0
    for h, r in zip(hyps, refs, strict=True):
        h, r = h.split(), r.split()
        hyp_len, ref_len = hyp_len + len(h), ref_len + len(r)
        for n in range(1, 5):
            hn = Counter(tuple(h[i : i + n]) for i in range(len(h) - n + 1))
            rn = Counter(tuple(r[i : i + n]) for i in range(len(r) - n + 1))
            match[n - 1] += sum(min(c, rn[g]) for g, c in hn.items())
            total[n - 1] += max(0, len(h) - n + 1)
    # BP = min(1, e^{1 - r/c}); BLEU = BP · exp(¼ Σ_n log p_n)
    bp = min(1.0, math.exp(1 - ref_len / hyp_len))
    return 100 * bp * math.exp(sum(math.log(m / t) for m, t in zip(match, total, strict=True)) / 4)


def test_bleu_matches_a_hand_written_corpus_bleu():
    refs = ["the cat sat on the mat today", "나는 오늘 학교에 갔다 그리고 집에 왔다", "a b c d e f"]
    hyps = ["the cat sat on a mat today", "나는 오늘 학교에 갔다 그리고 왔다", "a b c d e f"]
    s = corpus_scores(hyps, refs, bleu_tokenize="none")
    assert s["bleu"] == pytest.approx(_bleu(hyps, refs), abs=1e-9)
    assert "tok:none" in s["signatures"]["bleu"]


def test_chrf_is_100_for_exact_outputs_and_references_stay_aligned():
    refs = ["오늘 날씨가 맑아요.", "비가 와요.", "좋은 하루 보내세요."]
    assert corpus_scores(refs, refs)["chrf"] == pytest.approx(100.0)
    assert corpus_scores(refs, refs)["bleu"] == pytest.approx(100.0)
    assert corpus_scores(refs[1:] + refs[:1], refs)["chrf"] < 30  # hypotheses are paired with their own refs
    with pytest.raises(ValueError, match="one reference per hypothesis"):
        corpus_scores(refs, refs[:2])
