"""Classification readers: a file → ``ReadResult`` (a list of ``Example(text, label, line, file)``).

Every bad input raises ``DataError`` naming the file, the line and the fix. Empty documents are not errors:
they are skipped and their line numbers kept in ``ReadResult.skipped_lines`` (NSMC has 5 train / 3 test).
Labels stay strings; ``LabelSet`` maps the training labels to ids. Files ending in ``.gz`` are decompressed
transparently.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
import tarfile
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from seqlab.errors import DataError

__all__ = [
    "Example",
    "ReadResult",
    "LabelSet",
    "FORMATS",
    "read_text",
    "read_examples",
    "read_nsmc",
    "read_imdb",
]

FORMATS = ("csv", "tsv", "jsonl")
_EXTENSIONS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
_INTEGER = re.compile(r"[+-]?\d+")
_IMDB_MEMBER = re.compile(r"(?:.*/)?aclImdb/(train|test)/(pos|neg)/(\d+)_(\d+)\.txt")
_IMDB_FILE = re.compile(r"(\d+)_(\d+)\.txt")  # <id>_<rating>.txt
_IMDB_LABELS = {"pos": "1", "neg": "0"}  # the CSV conversion's convention: 1 = positive


@dataclass(frozen=True)
class Example:
    text: str  # the document, exactly as in the file
    label: str  # kept as a string; LabelSet turns it into an id
    line: int  # 1-based line where the record starts (1 for one-document-per-file layouts)
    file: str = ""  # where it came from, for error messages


@dataclass
class ReadResult:
    path: str  # the file (or folder / archive) that was read
    examples: list[Example] = field(default_factory=list)
    skipped_lines: list[int] = field(default_factory=list)  # lines of empty documents, left out

    @property
    def skipped(self) -> int:
        return len(self.skipped_lines)

    @property
    def texts(self) -> list[str]:
        return [e.text for e in self.examples]

    @property
    def labels(self) -> list[str]:
        return [e.label for e in self.examples]

    def __len__(self) -> int:
        return len(self.examples)

    def __iter__(self) -> Iterator[Example]:
        return iter(self.examples)

    def __getitem__(self, i: int) -> Example:
        return self.examples[i]


# ---------------------------------------------------------------------------------------------------------
# Bytes → text


def _decode(data: bytes, file: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise DataError(
            f"invalid UTF-8 (byte 0x{data[e.start]:02x} at column {column}); re-save the file as UTF-8 "
            "(e.g. `iconv -f cp949 -t utf-8` for Korean text from Windows)",
            file=file,
            line=line,
        ) from None


def read_text(path: str | Path, display: str | None = None) -> str:
    """The whole file as text: ``.gz`` decompressed, UTF-8 checked (the bad line named), BOM dropped."""
    path = Path(path)
    file = display or str(path)
    if not path.exists():
        raise DataError("file not found; check the path (and SEQLAB_DATA_DIR / --data-dir)", file=file)
    if path.is_dir():
        raise DataError("is a folder, expected a file; pass the file inside it", file=file)
    try:
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (gzip.BadGzipFile, EOFError, zlib.error) as e:
        raise DataError(
            f"not a valid gzip file ({e}); re-download it or drop the .gz suffix", file=file
        ) from e
    return _decode(data, file)


# ---------------------------------------------------------------------------------------------------------
# Records: (line, fields) from delimited text or JSON lines


def _lines(text: str) -> Iterator[tuple[int, str]]:
    """Physical lines split on LF only (CRLF's CR dropped): str.splitlines would also split on U+2028,
    form feeds and other characters that review text may contain."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    for i, line in enumerate(lines, start=1):
        yield i, line.removesuffix("\r")


def _split_rows(text: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """Quoting disabled: a record is one physical line, split on every delimiter."""
    for i, line in _lines(text):
        yield i, line.split(delimiter)


def _csv_rows(text: str, delimiter: str, file: str) -> Iterator[tuple[int, list[str]]]:
    """RFC 4180 quoting: a quoted field may span lines; the record's first line is reported."""
    csv.field_size_limit(2**31 - 1)  # one huge field is valid input (the default limit is 128 KiB)
    rows = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    end = 0
    while True:
        start = end + 1
        try:
            row = next(rows)
        except StopIteration:
            return
        except csv.Error as e:
            raise DataError(
                f"malformed CSV ({e}); check the quoting on this line", file=file, line=start
            ) from e
        end = rows.line_num
        yield start, row


def _describe(kind: str) -> str:
    return {",": "comma-separated", "\t": "tab-separated"}[kind]


def _read_delimited(
    text: str,
    file: str,
    *,
    delimiter: str,
    quoting: bool,
    text_col: str,
    label_col: str,
    integer_labels: bool,
) -> ReadResult:
    rows = _csv_rows(text, delimiter, file) if quoting else _split_rows(text, delimiter)
    header_line, header = next(rows, (1, []))
    if not any(h.strip() for h in header):
        raise DataError("file is empty: expected a header line naming the columns", file=file, line=1)
    header = [h.strip() for h in header]
    ti = _column(header, text_col, "text_col", file, header_line)
    li = _column(header, label_col, "label_col", file, header_line)
    names = ", ".join(header)
    result = ReadResult(path=file)
    for line, row in rows:
        if row in ([], [""]):
            continue  # blank line
        if len(row) != len(header):
            if quoting:
                hint = "quote fields that contain the delimiter and close every opened quote"
            elif len(row) > len(header):
                hint = f"a field contains a {_describe(delimiter).split('-')[0]}; remove it"
            else:
                hint = "a column is missing, or a line break inside a field split the record"
            raise DataError(
                f"expected {len(header)} {_describe(delimiter)} columns ({names}), found {len(row)}; {hint}",
                file=file,
                line=line,
            )
        _add(result, row[ti], row[li], line, file, label_col, integer_labels)
    return _nonempty(result, file, header_line)


def _column(header: list[str], name: str, arg: str, file: str, line: int) -> int:
    if name not in header:
        raise DataError(
            f"no column named {name!r} in the header ({', '.join(header)}); pass {arg}= one of these",
            file=file,
            line=line,
        )
    return header.index(name)


def _json_objects(text: str, file: str, required: tuple[tuple[str, str], ...]):
    """(line, record) for each non-blank JSONL line; a line that is not a JSON object holding every
    ``required`` (key, argument name) pair raises DataError naming the line and the argument to pass."""
    for line, raw in _lines(text):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as e:
            raise DataError(
                f"invalid JSON ({e.msg} at column {e.colno}); each line must be one JSON object",
                file=file,
                line=line,
            ) from None
        if not isinstance(record, dict):
            raise DataError(f"expected a JSON object, found {type(record).__name__}", file=file, line=line)
        for key, arg in required:
            if key not in record:
                keys = ", ".join(map(str, record)) or "none"
                raise DataError(f"no key {key!r} (keys: {keys}); pass {arg}= one of these", file=file, line=line)
        yield line, record


def _read_jsonl(text: str, file: str, *, text_col: str, label_col: str, integer_labels: bool) -> ReadResult:
    result = ReadResult(path=file)
    for line, record in _json_objects(text, file, ((text_col, "text_col"), (label_col, "label_col"))):
        value = record[text_col]
        if not isinstance(value, str):
            raise DataError(
                f"{text_col!r} must be a string, found {type(value).__name__}", file=file, line=line
            )
        label = record[label_col]
        if isinstance(label, bool) or not isinstance(label, str | int):
            raise DataError(
                f"{label_col!r} must be a string or an integer, found {json.dumps(label)}",
                file=file,
                line=line,
            )
        _add(result, value, str(label), line, file, label_col, integer_labels)
    if not result.examples and not result.skipped_lines:
        raise DataError("file is empty: expected one JSON object per line", file=file, line=1)
    return _nonempty(result, file, 1)


def _add(
    result: ReadResult, text: str, label: str, line: int, file: str, label_col: str, integer: bool
) -> None:
    if not text.strip():
        result.skipped_lines.append(line)
        return
    label = label.strip()
    if not label:
        raise DataError(f"empty label in column {label_col!r}; every row needs a label", file=file, line=line)
    if integer:
        if not _INTEGER.fullmatch(label):
            raise DataError(
                f"label {label!r} in column {label_col!r} is not an integer; this file's labels must be "
                "integers (e.g. 0 or 1): fix the row",
                file=file,
                line=line,
            )
        label = str(int(label))
    result.examples.append(Example(text, label, line, file))


def _nonempty(result: ReadResult, file: str, header_line: int) -> ReadResult:
    if not result.examples:
        what = f"all {result.skipped} documents are empty" if result.skipped else "a header but no data rows"
        raise DataError(
            f"no examples: {what}; the file needs at least one labelled row", file=file, line=header_line
        )
    return result


# ---------------------------------------------------------------------------------------------------------
# Public readers


def _format_of(path: Path, file: str) -> str:
    suffix = Path(path.name.removesuffix(".gz")).suffix.lower()
    if suffix not in _EXTENSIONS:
        raise DataError(
            f"cannot tell the format from the extension {suffix or '(none)'!r}; "
            f"pass format= one of {', '.join(FORMATS)}",
            file=file,
        )
    return _EXTENSIONS[suffix]


def read_examples(
    path: str | Path,
    *,
    format: str | None = None,
    text_col: str = "text",
    label_col: str = "label",
    integer_labels: bool = False,
    quoting: bool | None = None,
) -> ReadResult:
    """Read a user's classification file: CSV, TSV or JSONL, chosen by extension unless ``format`` is given.

    ``text_col`` / ``label_col`` name the columns (CSV/TSV header) or keys (JSONL). CSV uses RFC 4180
    quoting; TSV has quoting disabled (a ``"`` is an ordinary character) unless ``quoting=True``.
    ``integer_labels=True`` rejects labels that are not integers and writes them canonically
    (``"01"`` → ``"1"``).
    """
    path = Path(path)
    file = str(path)
    if format is None:
        format = _format_of(path, file)
    if format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
    text = read_text(path)
    if format == "jsonl":
        return _read_jsonl(text, file, text_col=text_col, label_col=label_col, integer_labels=integer_labels)
    delimiter = "," if format == "csv" else "\t"
    return _read_delimited(
        text,
        file,
        delimiter=delimiter,
        quoting=(format == "csv") if quoting is None else quoting,
        text_col=text_col,
        label_col=label_col,
        integer_labels=integer_labels,
    )


def read_nsmc(path: str | Path, split: str | None = None) -> ReadResult:
    """NSMC ``ratings_*.txt``: tab-separated ``id document label`` with quoting disabled (documents contain
    ``"``); labels 0 = negative, 1 = positive; empty documents skipped."""
    return read_examples(
        path, format="tsv", text_col="document", label_col="label", integer_labels=True, quoting=False
    )


def read_imdb(path: str | Path, split: str | None = None) -> ReadResult:
    """IMDb in any of its three layouts; labels 1 = positive, 0 = negative.

    - the CSV conversion ``imdb_{train,test}.csv[.gz]`` (header ``file,rating,label,text``);
    - the extracted archive: a split folder ``aclImdb/train`` (``pos/*.txt``, ``neg/*.txt``), or ``aclImdb``
      with ``split``;
    - the original ``aclImdb_v1.tar.gz`` with ``split`` ("train" or "test").

    Folder and archive rows come in the CSV's order: ``pos`` by ascending id, then ``neg``.
    """
    path = Path(path)
    if path.is_dir():
        return _read_imdb_folder(path, split)
    if path.name.endswith((".tar.gz", ".tgz", ".tar")):
        return _read_imdb_archive(path, split)
    return read_examples(path, format="csv", text_col="text", label_col="label", integer_labels=True)


def _imdb_split(split: str | None, file: str) -> str:
    if split not in ("train", "test"):
        raise DataError(f"IMDb split must be 'train' or 'test', got {split!r}; pass split=", file=file)
    return split


def _imdb_sort_key(polarity: str, review_id: int) -> tuple[int, int]:
    return (0 if polarity == "pos" else 1, review_id)


def _read_imdb_folder(path: Path, split: str | None) -> ReadResult:
    if not (path / "pos").is_dir() and (path / "train").is_dir():
        path = path / _imdb_split(split, str(path))
    found = []
    for polarity in ("pos", "neg"):
        folder = path / polarity
        if not folder.is_dir():
            raise DataError(
                f"missing folder {polarity}/; expected aclImdb/<split>/{{pos,neg}}/*.txt", file=str(path)
            )
        for review in folder.iterdir():
            m = _IMDB_FILE.fullmatch(review.name)
            if m is not None:
                found.append((_imdb_sort_key(polarity, int(m.group(1))), polarity, review))
    result = ReadResult(path=str(path))
    for _, polarity, review in sorted(found):
        _add(result, read_text(review), _IMDB_LABELS[polarity], 1, str(review), "label", False)
    return _nonempty(result, str(path), 1)


def _read_imdb_archive(path: Path, split: str | None) -> ReadResult:
    file = str(path)
    split = _imdb_split(split, file)
    if not path.exists():
        raise DataError("file not found; check the path (or run `seqlab data fetch imdb`)", file=file)
    found = []
    try:
        with tarfile.open(path, "r:*") as archive:
            for member in archive:
                m = _IMDB_MEMBER.fullmatch(member.name)
                if m is None or m.group(1) != split or not member.isfile():
                    continue
                data = archive.extractfile(member).read()
                where = f"{file}[{member.name}]"
                found.append(
                    (_imdb_sort_key(m.group(2), int(m.group(3))), m.group(2), _decode(data, where), where)
                )
    except (tarfile.TarError, EOFError, zlib.error) as e:
        raise DataError(f"unreadable tar archive ({e}); delete it and download it again", file=file) from e
    result = ReadResult(path=file)
    for _, polarity, text, where in sorted(found):
        _add(result, text, _IMDB_LABELS[polarity], 1, where, "label", False)
    return _nonempty(result, file, 1)


# ---------------------------------------------------------------------------------------------------------
# Labels


class LabelSet:
    """Sorted unique training labels → ids 0..K-1 (numeric order when every label is an integer)."""

    def __init__(self, labels: Iterable[str]):
        unique = {str(label) for label in labels}
        if not unique:
            raise ValueError("LabelSet needs at least one label; the training split has no examples")
        numeric = all(_INTEGER.fullmatch(label) for label in unique)
        self.labels: tuple[str, ...] = tuple(sorted(unique, key=int) if numeric else sorted(unique))
        self._ids = {label: i for i, label in enumerate(self.labels)}

    @classmethod
    def from_examples(cls, examples: Iterable[Example]) -> LabelSet:
        return cls(e.label for e in examples)

    def __len__(self) -> int:
        return len(self.labels)

    def __contains__(self, label: object) -> bool:
        return label in self._ids

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LabelSet) and self.labels == other.labels

    def __repr__(self) -> str:
        return f"LabelSet({list(self.labels)!r})"

    def encode(self, label: str, file: str | None = None, line: int | None = None) -> int:
        if label not in self._ids:
            raise DataError(
                f"label {label!r} was not seen in training (known: {', '.join(self.labels)}); "
                "fix the label or add examples of it to the training split",
                file=file,
                line=line,
            )
        return self._ids[label]

    def encode_examples(self, examples: Iterable[Example]) -> list[int]:
        return [self.encode(e.label, e.file or None, e.line) for e in examples]

    def decode(self, index: int) -> str:
        return self.labels[index]

    def to_dict(self) -> dict:
        return {"labels": list(self.labels)}

    @classmethod
    def from_dict(cls, d: dict) -> LabelSet:
        labels: Sequence[str] = d["labels"]
        return cls(labels)


# ---------------------------------------------------------------------------------------------------------
# Sentence pairs (seq2seq): source → target


@dataclass(frozen=True)
class Pair:
    source: str  # the input sentence (question, sentence to translate), exactly as in the file
    target: str  # the reference output (answer, translation)
    line: int  # 1-based line where the record starts
    file: str = ""  # where it came from, for error messages


@dataclass
class PairsResult:
    path: str  # the file that was read
    pairs: list[Pair] = field(default_factory=list)

    @property
    def sources(self) -> list[str]:
        return [p.source for p in self.pairs]

    @property
    def targets(self) -> list[str]:
        return [p.target for p in self.pairs]


PAIR_FORMATS = ("tsv", "csv", "jsonl")
_PAIR_EXTENSIONS = {".tsv": "tsv", ".tab": "tsv", ".txt": "tsv", ".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}


def check_pair_lengths(result: PairsResult, max_chars: int | None) -> PairsResult:
    """Reject a pair whose source or target is longer than ``max_chars`` characters (None: no limit)."""
    if max_chars is None:
        return result
    for p in result.pairs:
        for side, text in (("source", p.source), ("target", p.target)):
            if len(text) > max_chars:
                raise DataError(
                    f"{side} is {len(text)} characters, over the limit of {max_chars}; shorten or remove the "
                    f"line, or raise the limit with --set data.max_chars={len(text)}",
                    file=p.file or result.path,
                    line=p.line,
                )
    return result


def _add_pair(result: PairsResult, source: str, target: str, line: int, file: str, cols: tuple[str, str]) -> None:
    for side, text, col in (("source", source, cols[0]), ("target", target, cols[1])):
        if not text.strip():
            raise DataError(
                f"empty {side} (column {col}); every pair needs a non-empty source and target: fill in or "
                "delete the line",
                file=file,
                line=line,
            )
    result.pairs.append(Pair(source, target, line, file))


def _pair_index(col: str | None, default: int, file: str) -> int:
    if col is None:
        return default
    if not _INTEGER.fullmatch(str(col)) or int(col) < 0:
        raise DataError(
            f"a tab-separated pairs file has no header, so columns are 0-based indices; got {col!r}: pass "
            "src_col=/tgt_col= as numbers (e.g. 0 and 1)",
            file=file,
        )
    return int(col)


def _read_pairs_tsv(text: str, file: str, src_col: str | None, tgt_col: str | None) -> PairsResult:
    si, ti = _pair_index(src_col, 0, file), _pair_index(tgt_col, 1, file)
    need = max(si, ti) + 1
    result = PairsResult(path=file)
    for line, raw in _lines(text):
        if not raw.strip():
            continue  # blank line
        row = raw.split("\t")
        if len(row) == 1:
            raise DataError(
                "no tab on this line; a pairs file needs source<TAB>target on every line: put one tab "
                "character between the two sentences",
                file=file,
                line=line,
            )
        if len(row) < need:
            raise DataError(
                f"found {len(row)} tab-separated columns, need at least {need} (source column {si}, target "
                f"column {ti}); fix the line or pass src_col=/tgt_col=",
                file=file,
                line=line,
            )
        _add_pair(result, row[si], row[ti], line, file, (str(si), str(ti)))
    return result


def _read_pairs_csv(text: str, file: str, src_col: str | None, tgt_col: str | None) -> PairsResult:
    rows = _csv_rows(text, ",", file)
    header_line, header = next(rows, (1, []))
    header = [h.strip() for h in header]
    if not any(header):
        raise DataError("file is empty: expected a header line naming the columns", file=file, line=1)
    if len(header) < 2 and (src_col is None or tgt_col is None):
        raise DataError(
            f"the header names {len(header)} column ({', '.join(header)}); a pairs CSV needs a source and a "
            "target column",
            file=file,
            line=header_line,
        )
    src = src_col if src_col is not None else header[0]
    tgt = tgt_col if tgt_col is not None else header[1]
    si = _column(header, src, "src_col", file, header_line)
    ti = _column(header, tgt, "tgt_col", file, header_line)
    result = PairsResult(path=file)
    for line, row in rows:
        if row in ([], [""]):
            continue
        if len(row) != len(header):
            raise DataError(
                f"expected {len(header)} comma-separated columns ({', '.join(header)}), found {len(row)}; quote "
                "fields that contain a comma and close every opened quote",
                file=file,
                line=line,
            )
        _add_pair(result, row[si], row[ti], line, file, (repr(src), repr(tgt)))
    return result


def _read_pairs_jsonl(text: str, file: str, src_col: str | None, tgt_col: str | None) -> PairsResult:
    src, tgt = src_col or "source", tgt_col or "target"
    result = PairsResult(path=file)
    for line, record in _json_objects(text, file, ((src, "src_col"), (tgt, "tgt_col"))):
        for key in (src, tgt):
            if not isinstance(record[key], str):
                raise DataError(
                    f"{key!r} must be a string, found {type(record[key]).__name__}", file=file, line=line
                )
        _add_pair(result, record[src], record[tgt], line, file, (repr(src), repr(tgt)))
    return result


def read_pairs(
    path: str | Path,
    *,
    format: str | None = None,
    src_col: str | None = None,
    tgt_col: str | None = None,
    max_chars: int | None = None,
) -> PairsResult:
    """Read sentence pairs: ``source<TAB>target`` lines (``.tsv``/``.txt``, no header, quoting off, extra
    columns ignored; ``src_col``/``tgt_col`` are 0-based indices), a CSV with a header (columns by name,
    default the first two), or JSON lines (keys, default ``source``/``target``).

    Blank lines are skipped; a line without the separator, an empty source or target, and (with
    ``max_chars``) an over-long sentence raise ``DataError`` naming the file and line.
    """
    path = Path(path)
    file = str(path)
    if format is None:
        suffix = Path(path.name.removesuffix(".gz")).suffix.lower()
        if suffix not in _PAIR_EXTENSIONS:
            raise DataError(
                f"cannot tell the format from the extension {suffix or '(none)'!r}; name the file .tsv "
                "(source<TAB>target lines), .csv (with a header) or .jsonl",
                file=file,
            )
        format = _PAIR_EXTENSIONS[suffix]
    if format not in PAIR_FORMATS:
        raise ValueError(f"format must be one of {', '.join(PAIR_FORMATS)}, got {format!r}")
    text = read_text(path)
    reader = {"tsv": _read_pairs_tsv, "csv": _read_pairs_csv, "jsonl": _read_pairs_jsonl}[format]
    result = reader(text, file, src_col, tgt_col)
    if not result.pairs:
        raise DataError("no pairs: the file has no data lines; it needs at least one source/target pair", file=file)
    return check_pair_lengths(result, max_chars)


def read_chatbot(path: str | Path, split: str | None = None) -> PairsResult:
    """Chatbot_data_for_Korean ``ChatbotData.csv`` (header ``Q,A,label``): question → answer pairs."""
    return read_pairs(path, format="csv", src_col="Q", tgt_col="A")


def read_tatoeba(path: str | Path, split: str | None = None) -> PairsResult:
    """ManyThings/Tatoeba ``kor.txt`` (``English<TAB>Korean<TAB>attribution``): English → Korean pairs
    (the seq2seq task's ``data.reverse=true`` reads them Korean → English)."""
    return read_pairs(path, format="tsv", src_col="0", tgt_col="1")


__all__ += ["Pair", "PairsResult", "PAIR_FORMATS", "read_pairs", "read_chatbot", "read_tatoeba", "check_pair_lengths"]


# ---------------------------------------------------------------------------------------------------------
# Language-model corpora: a file → one string

_GUTENBERG_START = re.compile(r"^\*\*\* ?START OF (?:THIS|THE) PROJECT GUTENBERG EBOOK.*$", re.M | re.I)
_GUTENBERG_END = re.compile(r"^\*\*\* ?END OF (?:THIS|THE) PROJECT GUTENBERG EBOOK.*$", re.M | re.I)
_GUTENBERG_PRODUCED = re.compile(r"\A\s*Produced by [^\n]*(?:\n[^\n]+)*\n")  # the transcribers' credit
_GUTENBERG_END_LINE = re.compile(r"\n[^\n]*End of (?:the )?Project Gutenberg[^\n]*\s*\Z", re.I)


def read_corpus(path: str | Path, split: str | None = None) -> str:
    """A plain-text corpus as one string: ``.gz`` decompressed, UTF-8 checked, BOM dropped, CRLF and lone
    CR turned into LF. An empty (or whitespace-only) file raises ``DataError``."""
    text = read_text(path).replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise DataError("file is empty: a language-model corpus needs text; pass a non-empty UTF-8 text file",
                        file=str(path), line=1)
    return text


def read_gutenberg(path: str | Path, split: str | None = None) -> str:
    """A Project Gutenberg eBook: the body between the ``*** START OF ... ***`` and ``*** END OF ... ***``
    lines (licence header and footer dropped), without the leading "Produced by" credit and the closing
    "End of the Project Gutenberg EBook" line; surrounding blank lines stripped; line endings as in
    ``read_corpus`` (UTF-8 with BOM and CRLF, as Gutenberg ships it, reads the same as plain UTF-8 + LF)."""
    text = read_corpus(path)
    start, end = _GUTENBERG_START.search(text), _GUTENBERG_END.search(text)
    if start is None or end is None:
        missing = "*** START OF" if start is None else "*** END OF"
        raise DataError(f"no '{missing} THE PROJECT GUTENBERG EBOOK' line: not a Project Gutenberg text; "
                        "read it as a plain corpus (read_corpus) instead", file=str(path))
    if end.start() < start.end():
        raise DataError("the '*** END OF' line comes before the '*** START OF' line; fix the file",
                        file=str(path), line=text.count("\n", 0, end.start()) + 1)
    body = text[start.end():end.start()]
    body = _GUTENBERG_END_LINE.sub("", _GUTENBERG_PRODUCED.sub("", body.lstrip("\n"), count=1))
    if not body.strip():
        raise DataError("the eBook body between the START and END lines is empty", file=str(path),
                        line=text.count("\n", 0, start.start()) + 1)
    return body.strip("\n") + "\n"
