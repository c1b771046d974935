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


def _read_jsonl(text: str, file: str, *, text_col: str, label_col: str, integer_labels: bool) -> ReadResult:
    result = ReadResult(path=file)
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
        for key, arg in ((text_col, "text_col"), (label_col, "label_col")):
            if key not in record:
                keys = ", ".join(map(str, record)) or "none"
                raise DataError(
                    f"no key {key!r} (keys: {keys}); pass {arg}= one of these", file=file, line=line
                )
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
