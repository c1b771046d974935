"""Tokenizers with one interface: ``tokenize``, ``encode``, ``decode``, ``vocab_size``, ``to_dict``.

=========  =====================================================================================
kind       unit
=========  =====================================================================================
char       one Unicode character after NFC (a Hangul syllable is one unit; decomposed jamo recombine)
word       whitespace-separated words (optionally lower-cased)
morph      Korean morphemes from kiwipiepy, written ``form/tag`` (``영화/NNG``); decode re-joins them
           with Kiwi's spacing (morph analysis normalises forms, so decode is not byte-exact)
bpe        byte-pair encoding trained with HF ``tokenizers`` (NFC, Metaspace ``▁`` word marks)
unigram    SentencePiece-style unigram LM trained with HF ``tokenizers`` (same pre-processing)
=========  =====================================================================================

Every kind reserves ``<pad>`` = 0 and ``<unk>`` = 1 (then any extra specials). ``to_dict`` is plain JSON
and ``tokenizer_from_dict`` rebuilds an identical tokenizer from it (no retraining).
"""

from __future__ import annotations

import functools
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from typing import Any

from seqlab.data.vocab import PAD, UNK, Vocab

__all__ = [
    "TOKENIZER_KINDS",
    "Tokenizer",
    "CharTokenizer",
    "WordTokenizer",
    "MorphTokenizer",
    "SubwordTokenizer",
    "build_tokenizer",
    "tokenizer_from_dict",
]

TOKENIZER_KINDS = ("char", "word", "morph", "bpe", "unigram")
_FORMAT_VERSION = 1  # bump when to_dict's layout changes


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _truncate(ids: list[int], max_len: int | None) -> list[int]:
    if max_len is None:
        return ids
    if max_len < 1:
        raise ValueError(f"max_len must be >= 1 or None, got {max_len}")
    return ids[:max_len]


class Tokenizer(ABC):
    """Text ↔ token ids: ``tokenize``, ``encode``, ``decode``, ``vocab_size``, ``to_dict`` (+ batch forms)."""

    kind: str  # one of TOKENIZER_KINDS

    @abstractmethod
    def tokenize(self, text: str) -> list[str]: ...

    def tokenize_batch(self, texts: Sequence[str]) -> list[list[str]]:
        return [self.tokenize(t) for t in texts]

    @abstractmethod
    def encode(self, text: str, max_len: int | None = None) -> list[int]: ...

    def encode_batch(self, texts: Sequence[str], max_len: int | None = None) -> list[list[int]]:
        return [self.encode(t, max_len) for t in texts]

    @abstractmethod
    def decode(self, ids: Iterable[int]) -> str:
        """Text from ids; ``<pad>`` and other specials except ``<unk>`` are dropped."""

    @property
    @abstractmethod
    def vocab_size(self) -> int: ...

    @abstractmethod
    def token_to_id(self, token: str) -> int | None: ...

    @property
    def pad_id(self) -> int:
        return 0

    @property
    def unk_id(self) -> int:
        return 1

    @abstractmethod
    def to_dict(self) -> dict[str, Any]: ...


class _VocabTokenizer(Tokenizer):
    """Tokens from ``tokenize`` looked up in a ``Vocab`` (char, word, morph)."""

    def __init__(self, vocab: Vocab):
        self.vocab = vocab
        self._drop = {vocab.stoi[s] for s in vocab.specials if s != UNK}

    @classmethod
    def train(
        cls, texts: Sequence[str], *, vocab_size: int, min_freq: int, specials: Sequence[str], **options: Any
    ) -> _VocabTokenizer:
        probe = cls(Vocab(list(specials), specials), **options)
        counted = probe.tokenize_batch(texts)
        return cls(Vocab.build(counted, min_freq=min_freq, max_size=vocab_size, specials=specials), **options)

    def encode(self, text: str, max_len: int | None = None) -> list[int]:
        return _truncate(self.vocab.lookup(self.tokenize(text)), max_len)

    def encode_batch(self, texts: Sequence[str], max_len: int | None = None) -> list[list[int]]:
        return [_truncate(self.vocab.lookup(t), max_len) for t in self.tokenize_batch(texts)]

    def decode(self, ids: Iterable[int]) -> str:
        return self._join(self.vocab.tokens(i for i in ids if i not in self._drop))

    @abstractmethod
    def _join(self, tokens: list[str]) -> str: ...

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def token_to_id(self, token: str) -> int | None:
        return self.vocab.token_to_id(token)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "version": _FORMAT_VERSION, "vocab": self.vocab.to_dict()}


class CharTokenizer(_VocabTokenizer):
    kind = "char"

    def tokenize(self, text: str) -> list[str]:
        return list(_nfc(text))

    def _join(self, tokens: list[str]) -> str:
        return "".join(tokens)


class WordTokenizer(_VocabTokenizer):
    kind = "word"

    def __init__(self, vocab: Vocab, lowercase: bool = False):
        super().__init__(vocab)
        self.lowercase = lowercase

    def tokenize(self, text: str) -> list[str]:
        text = _nfc(text)
        return (text.lower() if self.lowercase else text).split()

    def _join(self, tokens: list[str]) -> str:
        return " ".join(tokens)

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "lowercase": self.lowercase}


@functools.cache
def _kiwi() -> Any:
    """One Kiwi per process: construction and the first analysis load the model (seconds)."""
    from kiwipiepy import Kiwi

    return Kiwi()  # num_workers=None: Kiwi picks the thread count; needed for its batch (async) API


class MorphTokenizer(_VocabTokenizer):
    """Korean morphemes as ``form/tag`` (``영화/NNG``, ``재미있/VA``): the tag separates homographs such as
    ``이/JKS`` (subject particle) and ``이/MM`` (determiner), and lets ``decode`` re-join forms with Kiwi."""

    kind = "morph"

    def tokenize(self, text: str) -> list[str]:
        return [f"{t.form}/{t.tag}" for t in _kiwi().tokenize(_nfc(text))]

    def tokenize_batch(self, texts: Sequence[str]) -> list[list[str]]:
        analysed = _kiwi().tokenize([_nfc(t) for t in texts])  # Kiwi's batch API: a list in, an iterator out
        return [[f"{t.form}/{t.tag}" for t in tokens] for tokens in analysed]

    def _join(self, tokens: list[str]) -> str:
        morphs = []
        for token in tokens:
            form, _, tag = token.rpartition("/")  # rpartition: forms may contain "/" ("1/2/W_SERIAL")
            morphs.append((form, tag) if form else (token, "SW"))  # "<unk>" has no tag: join it as a symbol
        try:
            return _kiwi().join(morphs)
        except ValueError:  # an unknown tag (e.g. a hand-edited vocab): fall back to plain forms
            return " ".join(form for form, _ in morphs)


class SubwordTokenizer(Tokenizer):
    """BPE or unigram model from HF ``tokenizers``: NFC normaliser, Metaspace pre-tokenizer and decoder."""

    def __init__(self, kind: str, hf: Any, specials: Sequence[str] = (PAD, UNK)):
        if kind not in ("bpe", "unigram"):
            raise ValueError(f"SubwordTokenizer kind must be 'bpe' or 'unigram', got {kind!r}")
        self.kind = kind  # per instance: one class serves both kinds
        self.hf = hf
        self.specials = tuple(specials)
        ids = [hf.token_to_id(s) for s in self.specials]
        if ids != list(range(len(self.specials))):
            raise ValueError(
                f"special tokens {list(self.specials)} must have ids 0..{len(ids) - 1}, got {ids}"
            )
        self._drop = {i for i, s in enumerate(self.specials) if s != UNK}

    @classmethod
    def train(
        cls, kind: str, texts: Sequence[str], *, vocab_size: int, min_freq: int, specials: Sequence[str]
    ) -> SubwordTokenizer:
        from tokenizers import Tokenizer as HFTokenizer
        from tokenizers import decoders, models, normalizers, pre_tokenizers, trainers

        specials = list(specials)
        if kind == "bpe":
            hf = HFTokenizer(models.BPE(unk_token=UNK))
            trainer = trainers.BpeTrainer(
                vocab_size=vocab_size, min_frequency=min_freq, special_tokens=specials, show_progress=False
            )
        else:  # unigram prunes by likelihood; min_freq does not apply
            hf = HFTokenizer(models.Unigram())
            trainer = trainers.UnigramTrainer(
                vocab_size=vocab_size, special_tokens=specials, unk_token=UNK, show_progress=False
            )
        hf.normalizer = normalizers.NFC()
        hf.pre_tokenizer = pre_tokenizers.Metaspace()
        hf.decoder = decoders.Metaspace()
        hf.train_from_iterator(texts, trainer, length=len(texts))
        return cls(kind, hf, specials)

    def tokenize(self, text: str) -> list[str]:
        return self.hf.encode(text, add_special_tokens=False).tokens

    def tokenize_batch(self, texts: Sequence[str]) -> list[list[str]]:
        return [e.tokens for e in self.hf.encode_batch(list(texts), add_special_tokens=False)]

    def encode(self, text: str, max_len: int | None = None) -> list[int]:
        return _truncate(self.hf.encode(text, add_special_tokens=False).ids, max_len)

    def encode_batch(self, texts: Sequence[str], max_len: int | None = None) -> list[list[int]]:
        return [
            _truncate(e.ids, max_len) for e in self.hf.encode_batch(list(texts), add_special_tokens=False)
        ]

    def decode(self, ids: Iterable[int]) -> str:
        return self.hf.decode([i for i in ids if i not in self._drop], skip_special_tokens=False)

    @property
    def vocab_size(self) -> int:
        return self.hf.get_vocab_size()

    def token_to_id(self, token: str) -> int | None:
        return self.hf.token_to_id(token)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "version": _FORMAT_VERSION,
            "specials": list(self.specials),
            "hf": self.hf.to_str(),
        }


_VOCAB_KINDS: dict[str, type[_VocabTokenizer]] = {
    "char": CharTokenizer,
    "word": WordTokenizer,
    "morph": MorphTokenizer,
}


def _check_kind(kind: str) -> None:
    if kind not in TOKENIZER_KINDS:
        raise ValueError(f"tokenizer kind must be one of {', '.join(TOKENIZER_KINDS)}, got {kind!r}")


def build_tokenizer(
    kind: str,
    texts: Sequence[str],
    vocab_size: int = 30000,
    min_freq: int = 1,
    *,
    lowercase: bool = False,
    specials: Sequence[str] = (PAD, UNK),
) -> Tokenizer:
    """Train a tokenizer of ``kind`` on the training ``texts``.

    ``vocab_size`` caps the vocabulary, specials included; ``min_freq`` drops rarer tokens (char/word/morph
    vocabularies, BPE merges; ignored by unigram). ``lowercase`` applies to ``word`` only.
    """
    _check_kind(kind)
    if vocab_size < len(specials) + 1:
        raise ValueError(f"vocab_size must leave room beyond the {len(specials)} specials, got {vocab_size}")
    texts = list(texts)
    if kind in ("bpe", "unigram"):
        return SubwordTokenizer.train(
            kind, texts, vocab_size=vocab_size, min_freq=min_freq, specials=specials
        )
    options = {"lowercase": lowercase} if kind == "word" else {}
    return _VOCAB_KINDS[kind].train(
        texts, vocab_size=vocab_size, min_freq=min_freq, specials=specials, **options
    )


def tokenizer_from_dict(d: dict[str, Any]) -> Tokenizer:
    """Rebuild a tokenizer from ``Tokenizer.to_dict()``."""
    kind = d.get("kind")
    _check_kind(kind)
    if d.get("version", _FORMAT_VERSION) > _FORMAT_VERSION:
        raise ValueError(
            f"tokenizer format version {d['version']} is newer than this seqlab reads ({_FORMAT_VERSION})"
        )
    if kind in ("bpe", "unigram"):
        from tokenizers import Tokenizer as HFTokenizer

        return SubwordTokenizer(kind, HFTokenizer.from_str(d["hf"]), d["specials"])
    vocab = Vocab.from_dict(d["vocab"])
    if kind == "word":
        return WordTokenizer(vocab, lowercase=d.get("lowercase", False))
    return _VOCAB_KINDS[kind](vocab)


def train_and_encode(
    kind: str,
    texts: Sequence[str],
    vocab_size: int = 30000,
    min_freq: int = 1,
    max_len: int | None = None,
) -> tuple[Tokenizer, list[list[int]]]:
    """Train a tokenizer on ``texts`` and encode the same texts, tokenizing them only once.

    Equivalent to ``build_tokenizer(...)`` then ``encode_batch(texts, max_len)``, but the morpheme analyser
    (the slow part: about 75 s for NSMC's 150k reviews on 2 cores) runs once instead of twice.
    """
    _check_kind(kind)
    if kind in ("bpe", "unigram"):
        tok = build_tokenizer(kind, texts, vocab_size, min_freq)
        return tok, tok.encode_batch(texts, max_len)
    cls = _VOCAB_KINDS[kind]
    probe = cls(Vocab([PAD, UNK], (PAD, UNK)))
    tokens = probe.tokenize_batch(list(texts))
    tok = cls(Vocab.build(tokens, min_freq=min_freq, max_size=vocab_size, specials=(PAD, UNK)))
    return tok, [_truncate(tok.vocab.lookup(t), max_len) for t in tokens]
