"""Tokenizers: Hangul chars, Kiwi morphemes, BPE / unigram on NSMC lines, and to_dict → from_dict."""

from __future__ import annotations

import gzip
import json
import unicodedata

import pytest

from seqlab.data.tokenizers import TOKENIZER_KINDS, build_tokenizer, tokenizer_from_dict
from seqlab.data.vocab import BOS, EOS, PAD, UNK

SENTENCE = "이 영화 정말 재미있었어요! 배우들의 연기가 최고였다."


@pytest.fixture(scope="module")
def nsmc_lines(shared_data) -> list[str]:
    with gzip.open(shared_data / "nsmc" / "ratings_train.txt.gz", "rt", encoding="utf-8") as f:
        next(f)
        rows = [next(f).rstrip("\n").split("\t") for _ in range(400)]
    return [document for _, document, _ in rows if document]


def _round_trip(tok, texts):
    again = tokenizer_from_dict(json.loads(json.dumps(tok.to_dict(), ensure_ascii=False)))
    assert type(again) is type(tok) and again.vocab_size == tok.vocab_size
    assert again.encode_batch(texts) == tok.encode_batch(texts)
    assert [again.decode(tok.encode(t)) for t in texts] == [tok.decode(tok.encode(t)) for t in texts]


def test_char_one_unit_per_hangul_syllable_after_nfc():
    decomposed = unicodedata.normalize("NFD", "한국어 영화")
    assert len(decomposed) == 14  # 5 syllables as 13 jamo + a space
    tok = build_tokenizer("char", [decomposed, "영화관"], vocab_size=100)
    assert tok.tokenize(decomposed) == ["한", "국", "어", " ", "영", "화"]
    assert tok.decode(tok.encode(decomposed)) == "한국어 영화"
    assert tok.decode(tok.encode("한국 드라마")) == "한국 <unk><unk><unk>"
    _round_trip(tok, ["한국어 영화관", "새 단어"])


def test_word_tokenizer_lowercase_and_limits():
    texts = ["The movie was GREAT", "the movie was bad", "great acting"]
    tok = build_tokenizer("word", texts, vocab_size=6, min_freq=2, lowercase=True)
    assert tok.vocab.itos == [PAD, UNK, "great", "movie", "the", "was"]
    assert tok.encode("The Movie was awful") == [4, 3, 5, 1]
    assert tok.encode("The Movie was awful", max_len=2) == [4, 3]
    assert tok.decode([4, 3, 0, 0]) == "the movie"  # padding dropped
    _round_trip(tok, texts)


def test_morph_form_tag_tokens_and_decode():
    tok = build_tokenizer("morph", [SENTENCE, "영화가 지루했다."], vocab_size=1000)
    tokens = tok.tokenize(SENTENCE)
    assert {"영화/NNG", "재미있/VA", "배우/NNG", "!/SF"} <= set(tokens)
    assert tok.tokenize_batch([SENTENCE, "영화가 지루했다."])[0] == tokens  # batch API == one at a time
    assert tok.decode(tok.encode(SENTENCE)) == SENTENCE
    assert "<unk>" in tok.decode(tok.encode("우주선이 착륙했다"))
    _round_trip(tok, [SENTENCE, "처음 보는 문장입니다."])


@pytest.mark.parametrize("kind", ["bpe", "unigram"])
def test_subword_trained_on_nsmc_round_trips(nsmc_lines, kind):
    assert len(nsmc_lines) >= 390
    tok = build_tokenizer(kind, nsmc_lines, vocab_size=1500, min_freq=2)
    assert tok.vocab_size <= 1500
    assert (tok.token_to_id(PAD), tok.token_to_id(UNK)) == (0, 1)
    assert [tok.decode(tok.encode(t)) for t in nsmc_lines] == nsmc_lines  # lossless on its own training text
    assert tok.tokenize("영화")[0].startswith("▁")  # Metaspace word marks
    assert len(tok.encode(nsmc_lines[0], max_len=3)) == 3
    _round_trip(tok, nsmc_lines[:50] + ["처음 보는 문장입니다."])


@pytest.mark.parametrize("kind", ["char", "word", "bpe", "unigram"])
def test_extra_specials_take_the_next_ids(kind):
    texts = ["hello world", "hello there world"] * 5
    tok = build_tokenizer(kind, texts, vocab_size=60, specials=(PAD, UNK, BOS, EOS))
    assert [tok.token_to_id(s) for s in (PAD, UNK, BOS, EOS)] == [0, 1, 2, 3]
    assert tok.decode([2, *tok.encode("hello"), 3, 0]) == "hello"  # specials other than <unk> dropped


def test_kinds_and_arguments_are_checked():
    assert TOKENIZER_KINDS == ("char", "word", "morph", "bpe", "unigram")
    with pytest.raises(
        ValueError, match="tokenizer kind must be one of char, word, morph, bpe, unigram, got 'sp'"
    ):
        build_tokenizer("sp", ["a"], vocab_size=10)
    with pytest.raises(ValueError, match="max_len must be >= 1 or None, got 0"):
        build_tokenizer("char", ["a"], vocab_size=10).encode("a", max_len=0)
