"""Reading texts to label and writing predictions (atomically) for `seqlab predict --input/--output`."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

from seqlab.data.readers import read_text
from seqlab.errors import DataError

__all__ = ["read_texts", "write_predictions"]


def read_texts(path: Path, text_col: str = "text") -> list[str]:
    """.txt: one text per non-empty line; .csv/.tsv/.jsonl: the ``text_col`` field of each row."""
    raw = read_text(path)  # missing file / invalid UTF-8 -> DataError with file:line
    suffix = "".join(Path(path).suffixes[-2:]).removesuffix(".gz").rsplit(".", 1)[-1].lower()
    if suffix == "jsonl":
        texts = []
        for n, line in enumerate(raw.split("\n"), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                msg = f"invalid JSON ({e.msg}); write one JSON object per line"
                raise DataError(msg, file=str(path), line=n) from None
            if not isinstance(row, dict) or text_col not in row:
                raise DataError(f"no {text_col!r} field; pass --text-col NAME", file=str(path), line=n)
            texts.append(str(row[text_col]))
        return texts
    if suffix in ("csv", "tsv"):
        csv.field_size_limit(2**31 - 1)
        rows = csv.reader(raw.splitlines(), delimiter="\t" if suffix == "tsv" else ",")
        header = next(rows, None)
        if not header or text_col not in header:
            raise DataError(f"header has no {text_col!r} column (found {header}); pass --text-col NAME",
                            file=str(path), line=1)
        k = header.index(text_col)
        return [row[k] for row in rows if len(row) > k]
    texts = [line for line in raw.split("\n") if line.strip()]
    if not texts:
        raise DataError("no text found; write one text per line", file=str(path))
    return texts


def write_predictions(path: Path, preds: list[dict]) -> None:
    """.jsonl: one object per input; .tsv/.csv: one row per input with the dicts' scalar fields as columns.
    Written to a temp file, then renamed: an existing output is never left half-written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        if path.suffix.lower() in (".tsv", ".csv"):
            cols = [k for k, v in (preds[0] if preds else {}).items() if isinstance(v, (str, int, float))]
            w = csv.writer(f, delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
            w.writerow(cols)
            for p in preds:
                w.writerow([p[c] for c in cols])
        else:
            for p in preds:
                f.write(json.dumps(p, ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
