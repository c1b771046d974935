"""The tagger: batches, padding invariance, metrics against independent counts, and that it learns."""

from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest
import torch

from seqlab.data.conll import TaggedSentence, entity_spans
from seqlab.data.vocab import Vocab
from seqlab.pipelines.tag import Encoder, TagDataConfig, tag_set
from seqlab.tasks.tag import TagBatches, Tagger, TagModelConfig, TagObjective, tag_metrics

PEOPLE = [["Ann", "Lee"], ["Bo"], ["Cy", "De", "Ek"]]
PLACES = [["Paris"], ["New", "York"]]


def _sentences(n: int, seed: int) -> list[TaggedSentence]:
    """'<PER> lives in <LOC> .' with multi-word names."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        per, loc = rng.choice(PEOPLE), rng.choice(PLACES)
        tokens = [*per, "lives", "in", *loc, "."]
        tags = ["B-PER"] + ["I-PER"] * (len(per) - 1) + ["O", "O", "B-LOC"] + ["I-LOC"] * (len(loc) - 1) + ["O"]
        out.append(TaggedSentence(tuple(tokens), tuple(tags), tuple(range(1, len(tokens) + 1))))
    return out


def _encoder(sentences, scheme="bio", **data) -> Encoder:
    cfg = TagDataConfig(**data)
    words = Vocab.build([[t.lower() for t in s.tokens] for s in sentences], specials=("<pad>", "<unk>"))
    chars = Vocab.build([list(t) for s in sentences for t in s.tokens])
    return Encoder(words, chars, tag_set([s.tags for s in sentences], scheme), scheme, cfg)


def test_batches_carry_each_words_characters_once_per_batch():
    sents = _sentences(40, 0)
    enc = _encoder(sents)
    loader = enc.batches(sents, 8, seed=3, shuffle=True, bucket_size=2)
    seen = 0
    for batch in loader:
        assert batch.chars.shape[0] == len({t for i in batch.indices.tolist() for t in sents[i].tokens})
        for row, i in enumerate(batch.indices.tolist()):
            n = int(batch.lengths[row])
            assert n == len(sents[i].tokens) and bool((batch.tags[row, n:] == -100).all())
            for t, token in enumerate(sents[i].tokens):
                u = int(batch.word_index[row, t])
                chars = batch.chars[u, : int(batch.char_lengths[u])].tolist()
                assert enc.chars.tokens(chars) == list(token)  # the distinct-word row is this token's spelling
        seen += len(batch)
    assert seen == 40
    first = [b.indices.tolist() for b in loader]
    loader.set_epoch(1)
    assert [b.indices.tolist() for b in loader] != first
    loader.set_epoch(0)
    assert [b.indices.tolist() for b in loader] == first  # a function of (seed, epoch) only


def test_unk_replace_touches_only_singletons_at_about_the_given_rate():
    words = [[2, 3, 4, 5]] * 500
    loader = TagBatches(words, [[0, 1, 2, 3]] * 500, [[1], [1], [1], [1]], [[0, 0, 0, 0]] * 500, 50, seed=1,
                        unk_replace=0.3, singletons={4})
    words_out = torch.cat([b.words for b in loader])  # (500, 4)
    assert bool((words_out[:, [0, 1, 3]] == torch.tensor([2, 3, 5])).all())  # other words are never replaced
    assert set(words_out[:, 2].tolist()) == {1, 4}
    assert 0.25 < float((words_out[:, 2] == 1).float().mean()) < 0.35
    again = torch.cat([b.words for b in loader])
    assert torch.equal(words_out, again)  # the draws are a function of (seed, epoch)


def test_word_dropout_hides_any_word_but_never_padding_or_characters():
    words = [[2, 3, 4, 5], [6, 7]] * 400  # two lengths: the short rows carry padding
    forms = [[0, 1, 2, 3], [0, 1]] * 400
    loader = TagBatches(words, forms, [[1], [2], [3], [4]], [[0] * len(w) for w in words], 40, seed=3,
                        word_dropout=0.2)
    plain = TagBatches(words, forms, [[1], [2], [3], [4]], [[0] * len(w) for w in words], 40, seed=3)
    n_unk = n_words = 0
    for b, ref in zip(loader, plain, strict=True):
        valid = torch.arange(b.words.shape[1]) < b.lengths[:, None]
        assert bool((b.words[~valid] == 0).all())  # padding stays padding
        kept = b.words[valid] != 1
        assert torch.equal(b.words[valid][kept], ref.words[valid][kept])  # a word is either itself or <unk>
        assert torch.equal(b.chars, ref.chars) and torch.equal(b.word_index, ref.word_index)
        n_unk += int((~kept).sum())
        n_words += int(valid.sum())
    assert 0.17 < n_unk / n_words < 0.23
    first = torch.cat([b.words.flatten() for b in loader])
    assert torch.equal(first, torch.cat([b.words.flatten() for b in loader]))  # a function of (seed, epoch)


@pytest.mark.parametrize("char_encoder,decoder", [("lstm", "crf"), ("cnn", "softmax"), ("none", "crf")])
def test_padding_does_not_change_a_sentences_scores(char_encoder, decoder):
    """A sentence alone and inside a padded batch of longer sentences: the same emissions and tags."""
    sents = _sentences(12, 1)
    enc = _encoder(sents)
    cfg = TagModelConfig(word_dim=8, char_dim=6, char_hidden=5, hidden_size=7, char_encoder=char_encoder,
                         decoder=decoder, dropout=0.0, impl="explicit")
    torch.manual_seed(0)
    model = Tagger(len(enc.words), len(enc.chars), enc.tag_ids, "bio", cfg).double().eval()
    batch = next(iter(enc.batches(sents, 12, 0, shuffle=False, bucket_size=1)))
    short = min(range(12), key=lambda i: len(sents[i].tokens))
    alone = next(iter(enc.batches([sents[short]], 1, 0, shuffle=False)))
    n = len(sents[short].tokens)
    assert batch.words.shape[1] > n
    torch.testing.assert_close(model(batch)[short, :n], model(alone)[0], rtol=0, atol=1e-12)
    assert model.decode(batch)[short] == model.decode(alone)[0]


def test_entity_metrics_agree_with_span_counting():
    """seqeval's entity P/R/F1 equal a direct count of exactly-matching (type, start, end) spans."""
    rng = random.Random(4)
    labels = ["O", "B-A", "I-A", "B-B", "I-B"]
    gold = [[rng.choice(labels) for _ in range(rng.randint(1, 8))] for _ in range(60)]
    pred = [[t if rng.random() < 0.7 else rng.choice(labels) for t in g] for g in gold]
    metrics, report = tag_metrics(gold, pred, entities=True)
    g = {(i, *s) for i, tags in enumerate(gold) for s in entity_spans(tags)}
    p = {(i, *s) for i, tags in enumerate(pred) for s in entity_spans(tags)}
    precision, recall = len(g & p) / len(p), len(g & p) / len(g)
    assert metrics["precision"] == pytest.approx(precision, abs=1e-12)
    assert metrics["recall"] == pytest.approx(recall, abs=1e-12)
    assert metrics["f1"] == pytest.approx(2 * precision * recall / (precision + recall), abs=1e-12)
    assert report["A"]["support"] == sum(1 for s in g if s[1] == "A")
    flat = [(a, b) for gs, ps in zip(gold, pred, strict=True) for a, b in zip(gs, ps, strict=True)]
    assert metrics["accuracy"] == pytest.approx(np.mean([a == b for a, b in flat]))


def test_per_tag_report_matches_a_confusion_matrix():
    rng = random.Random(5)
    tags = ["NOUN", "VERB", "DET", "ADJ"]
    gold = [[rng.choice(tags) for _ in range(rng.randint(1, 6))] for _ in range(50)]
    pred = [[t if rng.random() < 0.6 else rng.choice(tags) for t in g] for g in gold]
    metrics, report = tag_metrics(gold, pred, entities=False)
    idx = {t: i for i, t in enumerate(tags)}
    cm = np.zeros((4, 4))
    for gs, ps in zip(gold, pred, strict=True):
        for a, b in zip(gs, ps, strict=True):
            cm[idx[a], idx[b]] += 1
    for t, i in idx.items():
        assert report[t]["precision"] == pytest.approx(cm[i, i] / cm[:, i].sum())
        assert report[t]["recall"] == pytest.approx(cm[i, i] / cm[i].sum())
        assert report[t]["support"] == cm[i].sum()
    assert metrics["accuracy"] == pytest.approx(np.trace(cm) / cm.sum())
    assert metrics["macro_f1"] == pytest.approx(np.mean([r["f1"] for r in report.values()]))


@pytest.mark.parametrize("decoder,scheme", [("crf", "bio"), ("crf", "bioes"), ("softmax", "bio")])
def test_the_tagger_learns_a_toy_language(decoder, scheme):
    train, test = _sentences(40, 2), _sentences(20, 3)
    enc = _encoder(train, scheme)
    cfg = TagModelConfig(word_dim=16, char_dim=8, char_hidden=8, hidden_size=16, dropout=0.0, decoder=decoder)
    torch.manual_seed(0)
    model = Tagger(len(enc.words), len(enc.chars), enc.tag_ids, scheme, cfg)
    objective = TagObjective(list(enc.tag_ids), scheme)
    loader = enc.batches(train, 20, 0, shuffle=True)
    opt = torch.optim.Adam(model.parameters(), lr=0.03)
    losses = []
    for epoch in range(10):
        loader.set_epoch(epoch)
        for batch in loader:
            loss = objective.loss(model, batch)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
    model.eval()
    metrics = objective.evaluate(model, enc.batches(test, 16, 0, shuffle=False))
    assert losses[-1] < 0.1 * losses[0]
    assert metrics["f1"] == 1.0 and objective.metric == "f1"
    assert dataclasses.replace(cfg, decoder="auto").decoder == "auto"
