"""Tagging readers: a file → ``TagCorpus`` (sentences of tokens, one tag per token), and pretrained vectors.

=========  ===================================================================================================
format     layout
=========  ===================================================================================================
conll      CoNLL-2003 columns ``word POS chunk NER`` separated by spaces, a blank line between sentences,
           ``-DOCSTART-`` lines skipped. ``column`` picks the tags: ner (default), chunk, pos, or a 0-based
           index. NER and chunk tags are IOB1 in the original files and are converted to BIO (IOB2).
conllu     CoNLL-U (Universal Dependencies): 10 tab-separated fields, ``#`` comments. ``column``: upos
           (default) or xpos. Tokens are the syntactic words: a multiword token's range line (``1-2``
           ``don't``) is skipped and its words (``do`` ``n't``) kept; empty nodes (``8.1``) are skipped.
tsv        ``token<TAB>tag``, one token per line, a blank line between sentences.
jsonl      one sentence per line: ``{"tokens": [...], "tags": [...]}``.
kmou       KMOU Korean NER: ``; raw sentence``, ``$marked sentence``, then ``eojeol<TAB>morpheme<TAB>POS<TAB>NER``
           per morpheme. Its NER tags ``B_PS`` / ``I`` (untyped continuation) / ``O`` become BIO with types:
           ``B_PS`` → ``B-PS``, and ``I`` → ``I-`` + the type of the entity it continues.
=========  ===================================================================================================

Entity tags are normalised to BIO: an ``I-X`` that does not continue an ``X`` entity starts one (``B-X``), as
conlleval reads it, and BIOES input (``E-``/``S-`` tags present) is rewritten as BIO. Every bad input raises
``DataError`` naming the file, the line and the fix. Files ending in ``.gz`` are decompressed transparently.
"""

from __future__ import annotations

import gzip
import json
import math
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from seqlab.data.readers import read_text
from seqlab.errors import DataError

__all__ = [
    "TAG_FORMATS",
    "TaggedSentence",
    "TagCorpus",
    "read_tagged",
    "sniff_format",
    "read_conll2003",
    "read_conllu",
    "read_token_tag",
    "read_tag_jsonl",
    "read_kmou",
    "detect_scheme",
    "iob1_to_bio",
    "bio_to_bioes",
    "bioes_to_bio",
    "entity_spans",
    "load_word_vectors",
]

TAG_FORMATS = ("auto", "conll", "conllu", "tsv", "jsonl", "kmou")
CONLL2003_COLUMNS = {"pos": 1, "chunk": 2, "ner": 3}
CONLLU_COLUMNS = {"upos": 3, "xpos": 4}
_BIO = re.compile(r"^(O|[BI]-.+)$")
_BIOES = re.compile(r"^(O|[BIES]-.+)$")
_KMOU_B = re.compile(r"^B_(.+)$")


@dataclass(frozen=True)
class TaggedSentence:
    tokens: tuple[str, ...]  # the words (or morphemes), exactly as in the file
    tags: tuple[str, ...]  # one tag per token (entity tags normalised to BIO)
    lines: tuple[int, ...]  # 1-based line of each token, for error messages
    file: str = ""  # where it came from


@dataclass
class TagCorpus:
    path: str  # the file that was read
    column: str  # which tags were read: ner | chunk | pos | upos | xpos | tag | last | a column index
    format: str  # conll | conllu | tsv | jsonl | kmou
    sentences: list[TaggedSentence] = field(default_factory=list)

    @property
    def scheme(self) -> str:
        """``bio`` when every tag is O / B-X / I-X (entities), else ``none`` (one tag per token, e.g. POS)."""
        return detect_scheme(t for s in self.sentences for t in s.tags)

    @property
    def tokens(self) -> list[tuple[str, ...]]:
        return [s.tokens for s in self.sentences]

    @property
    def tags(self) -> list[tuple[str, ...]]:
        return [s.tags for s in self.sentences]

    def __len__(self) -> int:
        return len(self.sentences)

    def __iter__(self) -> Iterator[TaggedSentence]:
        return iter(self.sentences)

    def __getitem__(self, i: int) -> TaggedSentence:
        return self.sentences[i]


# ---------------------------------------------------------------------------------------------------------
# Tag schemes


def detect_scheme(tags: Iterable[str]) -> str:
    """``bio`` if every tag is O / B-X / I-X, ``bioes`` if they are O / B- / I- / E- / S- with some E- or S-,
    else ``none``."""
    seen = set(tags)
    if seen and all(_BIO.match(t) for t in seen):
        return "bio"
    if seen and all(_BIOES.match(t) for t in seen):
        return "bioes"
    return "none"


def iob1_to_bio(tags: Sequence[str]) -> list[str]:
    """IOB1 (CoNLL-2003: ``I-X`` starts an entity, ``B-X`` only between two adjacent ``X``) → BIO (IOB2).
    Valid BIO passes through unchanged."""
    out = []
    for t in tags:
        if t.startswith("I-") and (not out or out[-1] == "O" or out[-1][2:] != t[2:]):
            t = "B-" + t[2:]  # an I-X that continues no X entity starts one
        out.append(t)
    return out


def bio_to_bioes(tags: Sequence[str]) -> list[str]:
    """BIO → BIOES: single-token entities become ``S-X``, entity ends ``E-X``."""
    out = []
    for i, t in enumerate(tags):
        nxt = tags[i + 1] if i + 1 < len(tags) else "O"
        ends = nxt != "I-" + t[2:]  # the entity ends here unless the next token continues it
        if t.startswith("B-"):
            out.append(("S-" if ends else "B-") + t[2:])
        elif t.startswith("I-"):
            out.append(("E-" if ends else "I-") + t[2:])
        else:
            out.append(t)
    return out


def bioes_to_bio(tags: Sequence[str]) -> list[str]:
    """BIOES → BIO (``S-X`` → ``B-X``, ``E-X`` → ``I-X``), then repaired like IOB1 (a stray ``I-`` or ``E-``
    starts an entity)."""
    mapped = ["B-" + t[2:] if t.startswith("S-") else "I-" + t[2:] if t.startswith("E-") else t for t in tags]
    return iob1_to_bio(mapped)


def entity_spans(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """``(type, start, end)`` token spans (end exclusive) of a BIO sequence, read as conlleval does."""
    spans: list[tuple[str, int, int]] = []
    for i, t in enumerate(iob1_to_bio(tags)):
        if t.startswith("B-"):
            spans.append((t[2:], i, i + 1))
        elif t.startswith("I-"):
            kind, start, _ = spans[-1]
            spans[-1] = (kind, start, i + 1)
    return spans


def _to_bio(tags: list[str], lines: list[int], file: str, what: str) -> list[str]:
    bad = next((i for i, t in enumerate(tags) if not _BIOES.match(t)), None)
    if bad is not None:
        raise DataError(f"{what} tag {tags[bad]!r} is not O, B-TYPE or I-TYPE; fix the tag or pick another "
                        "column with --set data.column=...", file=file, line=lines[bad])
    return bioes_to_bio(tags) if any(t[:2] in ("E-", "S-") for t in tags) else iob1_to_bio(tags)


# ---------------------------------------------------------------------------------------------------------
# Line-oriented readers


def _lines(text: str) -> Iterator[tuple[int, str]]:
    """Physical lines split on LF (CR of CRLF dropped), numbered from 1."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for i, line in enumerate(lines, start=1):
        yield i, line.removesuffix("\r")


def _blocks(text: str, skip=lambda line: False) -> Iterator[list[tuple[int, str]]]:
    """Runs of non-blank lines (a sentence each); ``skip(line)`` lines are dropped and end a block."""
    block: list[tuple[int, str]] = []
    for n, line in _lines(text):
        if not line.strip() or skip(line):
            if block:
                yield block
            block = []
        else:
            block.append((n, line))
    if block:
        yield block


def _finish(corpus: TagCorpus, file: str) -> TagCorpus:
    if not corpus.sentences:
        raise DataError("no tagged sentences found; check the file format (see seqlab.data.conll)", file=file)
    return corpus


def _column_index(column: str, names: dict[str, int], default: str, file: str) -> tuple[str, int]:
    column = default if column == "auto" else column
    if column in names:
        return column, names[column]
    if column.lstrip("-").isdigit():
        return column, int(column)
    raise DataError(f"unknown tag column {column!r}; choose one of {', '.join(names)} or a 0-based column index "
                    "(--set data.column=...)", file=file)


def read_conll2003(path: str | Path, split: str | None = None, *, column: str = "auto",
                   display: str | None = None) -> TagCorpus:
    """CoNLL-2003 columns ``word POS chunk NER`` (space-separated). ``column``: auto (the last column: NER in
    CoNLL-2003) | ner | chunk | pos | a 0-based index."""
    file = display or str(path)
    text = read_text(path, file)
    # auto: the last column (NER in CoNLL-2003 files, the tag in two-column "word tag" files)
    name, k = ("last", -1) if column == "auto" else _column_index(column, CONLL2003_COLUMNS, "ner", file)
    corpus = TagCorpus(file, name, "conll")
    width = None  # columns per line, fixed by the first token line
    for block in _blocks(text, skip=lambda line: line.startswith("-DOCSTART-")):
        tokens, tags, lines = [], [], []
        for n, line in block:
            fields = line.split()
            width = width or len(fields)
            if len(fields) != width or len(fields) < 2:
                raise DataError(f"token/tag count mismatch: expected {width} space-separated columns (word ... "
                                f"tag) like the lines before, got {len(fields)}; fix this line", file=file, line=n)
            if not -width <= k < width:
                raise DataError(f"tag column {name} (index {k}) does not exist: lines have {width} columns; pass "
                                "--set data.column=<index>", file=file, line=n)
            tokens.append(fields[0])
            tags.append(fields[k])
            lines.append(n)
        if name in ("ner", "chunk") or (name == "last" and detect_scheme(tags) != "none"):
            tags = _to_bio(tags, lines, file, name)
        corpus.sentences.append(TaggedSentence(tuple(tokens), tuple(tags), tuple(lines), file))
    return _finish(corpus, file)


def read_conllu(path: str | Path, split: str | None = None, *, column: str = "auto",
                display: str | None = None) -> TagCorpus:
    """CoNLL-U: the syntactic words of each sentence with their UPOS (default) or XPOS tags."""
    file = display or str(path)
    text = read_text(path, file)
    name, k = _column_index(column, CONLLU_COLUMNS, "upos", file)
    if name not in CONLLU_COLUMNS:
        raise DataError(f"CoNLL-U tag column must be upos or xpos, got {column!r}", file=file)
    corpus = TagCorpus(file, name, "conllu")
    for block in _blocks(text):
        tokens, tags, lines = [], [], []
        for n, line in block:
            if line.startswith("#"):
                continue
            word = _conllu_word(line, n, file, expected_id=len(tokens) + 1)
            if word is None:
                continue
            form, tag = word[1], word[k]
            if tag == "_":
                raise DataError(f"word {form!r} has no {name.upper()} tag ('_'); this file cannot train a "
                                f"{name} tagger (try --set data.column=upos)", file=file, line=n)
            tokens.append(form)
            tags.append(tag)
            lines.append(n)
        if tokens:
            corpus.sentences.append(TaggedSentence(tuple(tokens), tuple(tags), tuple(lines), file))
    return _finish(corpus, file)


def _conllu_word(line: str, n: int, file: str, expected_id: int) -> list[str] | None:
    """The 10 fields of a word line; None for a multiword-token range or an empty node."""
    fields = line.split("\t")
    if len(fields) != 10:
        hint = " (spaces instead of tabs?)" if len(fields) == 1 and len(line.split()) >= 10 else ""
        raise DataError(f"malformed CoNLL-U line: expected 10 tab-separated fields (ID FORM LEMMA UPOS XPOS "
                        f"FEATS HEAD DEPREL DEPS MISC), got {len(fields)}{hint}", file=file, line=n)
    wid = fields[0]
    if re.fullmatch(r"\d+-\d+", wid) or re.fullmatch(r"\d+\.\d+", wid):
        return None  # multiword token (its words follow) or empty node (not a surface word)
    if not wid.isdigit():
        raise DataError(f"malformed CoNLL-U line: ID {wid!r} is not a word number, a range (1-2) or an empty "
                        "node (1.1)", file=file, line=n)
    if int(wid) != expected_id:
        raise DataError(f"malformed CoNLL-U line: word ID {wid} where {expected_id} was expected (IDs count 1, "
                        "2, ... within a sentence; is a blank line missing between sentences?)", file=file, line=n)
    if not fields[1]:
        raise DataError("malformed CoNLL-U line: empty FORM field", file=file, line=n)
    return fields


def read_token_tag(path: str | Path, split: str | None = None, *, column: str = "auto",
                   display: str | None = None) -> TagCorpus:
    """``token<TAB>tag`` per line, blank lines between sentences."""
    file = display or str(path)
    text = read_text(path, file)
    corpus = TagCorpus(file, "tag", "tsv")
    for block in _blocks(text):
        tokens, tags, lines = [], [], []
        for n, line in block:
            fields = line.split("\t")
            if len(fields) != 2 or not fields[0] or not fields[1].strip():
                got = "a token without a tag" if len(fields) == 1 or not fields[1].strip() else \
                    f"{len(fields)} tab-separated fields"
                raise DataError(f"token/tag count mismatch: expected token<TAB>tag, got {got}; fix this line "
                                "(a blank line separates sentences)", file=file, line=n)
            tokens.append(fields[0])
            tags.append(fields[1].strip())
            lines.append(n)
        corpus.sentences.append(_sentence(tokens, tags, lines, file))
    return _finish(corpus, file)


def read_tag_jsonl(path: str | Path, split: str | None = None, *, column: str = "auto",
                   display: str | None = None) -> TagCorpus:
    """One JSON object per line: ``{"tokens": [...], "tags": [...]}`` (``column`` renames the tags key)."""
    file = display or str(path)
    key = "tags" if column == "auto" else column
    corpus = TagCorpus(file, key, "jsonl")
    for n, line in _lines(read_text(path, file)):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"invalid JSON ({e.msg}); write one object per line", file=file, line=n) from None
        if not isinstance(row, dict) or not isinstance(row.get("tokens"), list) or not isinstance(row.get(key), list):
            raise DataError(f'expected {{"tokens": [...], "{key}": [...]}}', file=file, line=n)
        tokens, tags = [str(t) for t in row["tokens"]], [str(t) for t in row[key]]
        if len(tokens) != len(tags):
            raise DataError(f"token/tag count mismatch: {len(tokens)} tokens but {len(tags)} tags; give one tag "
                            "per token", file=file, line=n)
        if tokens:
            corpus.sentences.append(_sentence(tokens, tags, [n] * len(tokens), file))
    return _finish(corpus, file)


def _sentence(tokens: list[str], tags: list[str], lines: list[int], file: str) -> TaggedSentence:
    if detect_scheme(tags) != "none":
        tags = _to_bio(tags, lines, file, "entity")
    return TaggedSentence(tuple(tokens), tuple(tags), tuple(lines), file)


def read_kmou(path: str | Path, split: str | None = None, *, column: str = "auto",
              display: str | None = None) -> TagCorpus:
    """KMOU Korean NER: morphemes with BIO entity tags (``B_PS`` → ``B-PS``, ``I`` → ``I-`` + open type)."""
    file = display or str(path)
    corpus = TagCorpus(file, "ner", "kmou")
    for block in _blocks(read_text(path, file)):
        tokens, tags, lines = [], [], []
        for n, line in block:
            if line.startswith(";") or line.startswith("$"):
                continue  # the raw sentence and the sentence with <entity:TYPE> marks
            fields = line.split("\t")
            if len(fields) != 4:
                raise DataError(f"token/tag count mismatch: expected 4 tab-separated fields (eojeol index, "
                                f"morpheme, POS, NER), got {len(fields)}", file=file, line=n)
            tokens.append(fields[1])
            tags.append(_kmou_tag(fields[3].strip(), tags[-1] if tags else "O", file, n))
            lines.append(n)
        if tokens:
            corpus.sentences.append(TaggedSentence(tuple(tokens), tuple(tags), tuple(lines), file))
    return _finish(corpus, file)


def _kmou_tag(tag: str, previous: str, file: str, n: int) -> str:
    if tag == "O":
        return "O"
    m = _KMOU_B.match(tag)
    if m:
        return "B-" + m.group(1)
    if tag == "I":
        if previous == "O":
            raise DataError("KMOU tag 'I' continues no entity (the previous morpheme is O); it must follow "
                            "B_<TYPE> or I", file=file, line=n)
        return "I-" + previous[2:]
    raise DataError(f"unknown KMOU NER tag {tag!r}; expected O, I or B_<TYPE> (B_PS, B_LC, B_OG, B_DT, B_TI)",
                    file=file, line=n)


# ---------------------------------------------------------------------------------------------------------
# Dispatch

_READERS = {"conll": read_conll2003, "conllu": read_conllu, "tsv": read_token_tag, "jsonl": read_tag_jsonl,
            "kmou": read_kmou}


def sniff_format(path: str | Path) -> str:
    """The format of a user file from its suffix (.conllu, .jsonl) or its first lines."""
    p = Path(path)
    suffix = p.name.removesuffix(".gz").rsplit(".", 1)[-1].lower() if "." in p.name else ""
    if suffix in ("conllu", "jsonl"):
        return suffix
    for _, line in _lines(read_text(p)):
        if not line.strip() or line.startswith("-DOCSTART-"):
            continue
        if line.startswith("; "):
            return "kmou"
        if line.startswith("#") or len(line.split("\t")) == 10:
            return "conllu"
        return "tsv" if "\t" in line else "conll"
    raise DataError("no tagged sentences found (the file is empty)", file=str(path))


def read_tagged(path: str | Path, format: str = "auto", column: str = "auto") -> TagCorpus:
    """Read a user's tagging file in any of ``TAG_FORMATS`` (``auto``: by suffix, then by content)."""
    if format not in TAG_FORMATS:
        raise DataError(f"unknown tagging format {format!r}; choose one of {', '.join(TAG_FORMATS)} "
                        "(--set data.format=...)", file=str(path))
    fmt = sniff_format(path) if format == "auto" else format
    return _READERS[fmt](path, None, column=column)


# ---------------------------------------------------------------------------------------------------------
# Pretrained word vectors


def load_word_vectors(path: str | Path, max_words: int | None = None,
                      normalize=lambda w: w) -> tuple[list[str], list[list[float]]]:
    """word2vec / fastText / GloVe text vectors: ``word v1 ... vD`` per line, with an optional ``N D`` header.

    Returns ``(words, vectors)`` in file order (most frequent first in those files), keeping the first
    vector of each ``normalize(word)`` and at most ``max_words`` of them. Streams the file (GloVe-sized files
    are not read whole)."""
    path = Path(path)
    file = str(path)
    if not path.is_file():
        raise DataError("word vectors file not found; pass a word2vec/fastText .vec text file", file=file)
    opener = gzip.open if path.suffix == ".gz" else open
    words: list[str] = []
    vectors: list[list[float]] = []
    seen: set[str] = set()
    dim = None
    with opener(path, "rt", encoding="utf-8", errors="strict") as f:
        try:
            for n, line in enumerate(f, start=1):
                if max_words is not None and len(words) >= max_words:
                    break
                parts = line.rstrip("\n\r").rstrip(" ").split(" ")
                if n == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                    dim = int(parts[1])  # word2vec / fastText header "count dim"
                    continue
                if not line.strip():
                    continue
                dim = dim or len(parts) - 1
                if len(parts) - 1 != dim or dim < 1:
                    raise DataError(f"expected a word and {dim} numbers, got {len(parts) - 1} numbers; every "
                                    "line must be 'word v1 ... vD'", file=file, line=n)
                try:
                    vec = [float(x) for x in parts[1:]]
                except ValueError:
                    raise DataError("a vector value is not a number; is this a text (not binary) .vec file?",
                                    file=file, line=n) from None
                if not all(math.isfinite(x) for x in vec):
                    raise DataError("vector holds inf/nan", file=file, line=n)
                key = normalize(parts[0])
                if key not in seen:
                    seen.add(key)
                    words.append(key)
                    vectors.append(vec)
        except UnicodeDecodeError:
            raise DataError("invalid UTF-8: binary word2vec files are not supported; convert to the text format",
                            file=file) from None
    if not words:
        raise DataError("no vectors found", file=file)
    return words, vectors
