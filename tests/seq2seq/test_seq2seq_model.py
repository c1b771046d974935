"""The encoder-decoder: step-by-step decoding (engine cell equations, state carried) against the one-call
engine path, padding, attention masks, the bidirectional state hand-over, scheduled sampling."""

from __future__ import annotations

import pytest
import torch

from seqlab.tasks.seq2seq import ATTENTIONS, ForcingConfig, Seq2Seq, Seq2SeqModelConfig, Seq2SeqObjective, greedy_decode
from tests.seq2seq.helpers import BOS, EOS, sources, teacher_forced_logprob, tiny_model


def _step_logits(model, src, src_len, tgt_in):
    """Logits from the decoder's step function, carrying DecoderState by hand."""
    memory, state = model.encode(src, src_len)
    out = []
    for t in range(tgt_in.shape[1]):
        h, state, _ = model.step(tgt_in[:, t], state, memory)
        out.append(model.logits(h))
    return torch.stack(out, dim=1)  # (B, T, V)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("attention", ["none", "dot", "general"])
def test_step_by_step_equals_one_engine_call_forward_and_backward(cell, attention):
    # without input feeding, forward() runs the decoder as one engine call (fused/explicit BPTT); step() uses
    # the engine's autograd cell equations one step at a time: two independent paths over the same weights
    model = tiny_model(attention, cell, layers=2, feed=False)
    src, src_len = sources()
    tgt_in = torch.randint(4, 9, (3, 6))
    tgt_in[:, 0] = BOS
    whole = model(src, src_len, tgt_in)
    steps = _step_logits(model, src, src_len, tgt_in)
    torch.testing.assert_close(steps, whole, rtol=1e-9, atol=1e-10)
    w = torch.randn_like(whole)
    g1 = torch.autograd.grad((whole * w).sum(), list(model.parameters()), allow_unused=True)
    g2 = torch.autograd.grad((steps * w).sum(), list(model.parameters()), allow_unused=True)
    for (name, _), a, b in zip(model.named_parameters(), g1, g2, strict=True):
        if a is None or b is None:
            assert a is None and b is None, name
            continue
        torch.testing.assert_close(a, b, rtol=1e-7, atol=1e-9, msg=name)


@pytest.mark.parametrize("attention", ATTENTIONS)
def test_padding_does_not_change_the_output(attention):
    model = tiny_model(attention, "gru", layers=2)
    src, src_len = sources(B=3, S=6)
    tgt_in = torch.tensor([[BOS, 4, 5, 6]] * 3)
    batched = model(src, src_len, tgt_in)
    for b in range(3):
        n = int(src_len[b])
        alone = model(src[b : b + 1, :n], src_len[b : b + 1], tgt_in[b : b + 1])
        torch.testing.assert_close(batched[b : b + 1], alone, rtol=1e-9, atol=1e-10)


def test_bidirectional_encoder_hands_forward_last_and_backward_first_step_to_the_decoder():
    model = tiny_model("general", "lstm", layers=1, hidden=12)
    src, src_len = sources(B=3, S=5)
    memory, state = model.encode(src, src_len)
    h0 = state.rnn[0][-1]  # (B, H)
    for b in range(3):
        n = int(src_len[b])
        # forward direction ends at the last valid step, the backward direction at step 0
        torch.testing.assert_close(h0[b, :6], memory.values[b, n - 1, :6])
        torch.testing.assert_close(h0[b, 6:], memory.values[b, 0, 6:])


@pytest.mark.parametrize("attention", ["bahdanau", "dot", "general"])
def test_attention_weights_are_a_distribution_over_real_source_steps(attention):
    model = tiny_model(attention)
    src, src_len = sources(B=3, S=5)
    memory, state = model.encode(src, src_len)
    _, _, a = model.step(torch.full((3,), BOS), state, memory)
    assert a.shape == (3, 5)
    torch.testing.assert_close(a.sum(-1), torch.ones(3, dtype=a.dtype))
    assert bool((a[~memory.mask] == 0).all())


@pytest.mark.parametrize("attention", ATTENTIONS)
def test_greedy_logprob_matches_teacher_forced_scoring(attention):
    model = tiny_model(attention, "lstm", layers=2, scale=3.0)
    src, src_len = sources()
    for b, hyp in enumerate(greedy_decode(model, src, src_len, max_len=6)):
        oracle = teacher_forced_logprob(model, src[b : b + 1], src_len[b : b + 1], list(hyp.tokens), hyp.finished)
        assert hyp.logprob == pytest.approx(oracle, abs=1e-9)


def test_scheduled_sampling_at_ratio_zero_feeds_the_models_own_argmax():
    model = tiny_model("bahdanau", scale=3.0)
    src, src_len = sources(B=1, S=4)
    hyp = greedy_decode(model, src, src_len, max_len=5)[0]
    seq = list(hyp.tokens) + ([EOS] if hyp.finished else [])
    gold = torch.tensor([[BOS] + [4] * (len(seq) - 1)])  # wrong gold tokens: ratio 0 must ignore them
    logits = model(src, src_len, gold, forcing=0.0)[0]
    assert logits.masked_fill(model.banned, float("-inf")).argmax(-1).tolist() == seq
    tf = model(src, src_len, gold, forcing=1.0)[0]
    assert not torch.allclose(tf, logits)  # ratio 1 does feed the gold tokens


def test_forcing_schedule_decays_linearly_and_counts_training_steps():
    obj = Seq2SeqObjective(bos_id=BOS, forcing=ForcingConfig(start=1.0, end=0.5, decay_steps=10), total_steps=99)
    assert [obj.forcing_ratio(s) for s in (0, 5, 10, 50)] == [1.0, 0.75, 0.5, 0.5]
    assert Seq2SeqObjective(bos_id=BOS, forcing=ForcingConfig(end=0.0), total_steps=4).forcing_ratio(2) == 0.5
    model = tiny_model("general").train()

    class Batch:
        tokens, lengths = sources(B=2, S=4)
        targets = torch.tensor([[4, 5, EOS], [6, EOS, -100]])

    obj.loss(model, Batch)
    obj.loss(model, Batch)
    assert int(model.forcing_steps) == 2
    model.eval()
    obj.loss(model, Batch)  # evaluation does not advance the schedule
    assert int(model.forcing_steps) == 2


def test_bad_model_configs_say_what_to_pass():
    with pytest.raises(ValueError, match="hidden_size must be even"):
        Seq2Seq(5, 5, Seq2SeqModelConfig(hidden_size=7), bos_id=BOS, eos_id=EOS)
    with pytest.raises(ValueError, match="model.attention must be one of"):
        Seq2Seq(5, 5, Seq2SeqModelConfig(attention="luong"), bos_id=BOS, eos_id=EOS)
    with pytest.raises(ValueError, match="model.cell must be one of"):
        Seq2Seq(5, 5, Seq2SeqModelConfig(cell="rnn_tanh"), bos_id=BOS, eos_id=EOS)
