"""Vocab: specials fixed at 0/1, min-freq and max-size, deterministic order, JSON round trip."""

from __future__ import annotations

import json

import pytest

from seqlab.data.vocab import BOS, EOS, PAD, UNK, Vocab

CORPUS = [["b", "a", "c"], ["a", "b", "d"], ["a", "c", "e"], ["b"]]  # a:3 b:3 c:2 d:1 e:1


def test_order_is_frequency_then_token():
    vocab = Vocab.build(CORPUS)
    assert vocab.itos == [PAD, UNK, "a", "b", "c", "d", "e"]
    assert (vocab.pad_id, vocab.unk_id) == (0, 1)
    assert Vocab.build(reversed(CORPUS)).itos == vocab.itos  # input order does not matter


def test_min_freq_and_max_size():
    assert Vocab.build(CORPUS, min_freq=2).itos == [PAD, UNK, "a", "b", "c"]
    assert Vocab.build(CORPUS, min_freq=3).itos == [PAD, UNK, "a", "b"]
    assert Vocab.build(CORPUS, max_size=4).itos == [PAD, UNK, "a", "b"]  # max_size counts the specials
    assert len(Vocab.build(CORPUS, max_size=2)) == 2
    with pytest.raises(ValueError, match="min_freq must be >= 1, got 0"):
        Vocab.build(CORPUS, min_freq=0)
    with pytest.raises(ValueError, match=r"max_size must be >= 4 \(the specials"):
        Vocab.build(CORPUS, max_size=3, specials=(PAD, UNK, BOS, EOS))


def test_lookup_maps_unknown_tokens_to_unk():
    vocab = Vocab.build(CORPUS, min_freq=2)
    assert vocab.lookup(["a", "zzz", "c"]) == [2, 1, 4]
    assert vocab["d"] == vocab.unk_id and "d" not in vocab and vocab.token_to_id("d") is None
    assert vocab.tokens([2, 1]) == ["a", UNK]


def test_extra_specials_follow_pad_and_unk():
    vocab = Vocab.build(CORPUS + [[BOS, "a"]], specials=(PAD, UNK, BOS, EOS))
    assert vocab.itos[:5] == [PAD, UNK, BOS, EOS, "a"]  # a special seen in the data is not counted again
    with pytest.raises(ValueError, match="specials must start with '<pad>', '<unk>'"):
        Vocab.build(CORPUS, specials=(UNK, PAD))


def test_json_round_trip():
    vocab = Vocab.build(CORPUS, specials=(PAD, UNK, EOS))
    again = Vocab.from_dict(json.loads(json.dumps(vocab.to_dict())))
    assert again == vocab and again.lookup(["e", "x"]) == vocab.lookup(["e", "x"])
    with pytest.raises(ValueError, match="duplicate token 'a'"):
        Vocab([PAD, UNK, "a", "a"])
