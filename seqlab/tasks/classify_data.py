"""Text-classification data: a registry name or a user file -> examples -> token ids -> batches."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from seqlab.config import DataConfig
from seqlab.data import BucketBatches, LabelSet, ReadResult, dataset_names, load, read_examples
from seqlab.errors import ConfigError, DataError

__all__ = ["read_split", "carve_validation", "make_batches", "encode_texts", "encode_limit", "clip", "clip_all",
           "TRUNCATIONS"]


def read_split(data: str, split: str, *, text_col: str | None = None, label_col: str | None = None,
               data_dir: str | Path | None = None) -> ReadResult:
    """A registered dataset's split, or the whole of a user's CSV/TSV/JSONL file."""
    if data in dataset_names():
        return load(data, split, data_dir=data_dir)
    path = Path(data)
    if not path.exists():
        raise DataError(f"no such file, and not a registered dataset ({', '.join(dataset_names())}); "
                        "pass a dataset name or an existing CSV/TSV/JSONL file", file=str(path))
    return read_examples(path, text_col=text_col or "text", label_col=label_col or "label")


def carve_validation(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic (train_idx, val_idx) split of n examples; at least one example on each side."""
    if not 0 < fraction < 1:
        raise DataError(f"data.val_fraction must be in (0, 1), got {fraction}")
    if n < 2:
        raise DataError(f"need at least 2 training examples to carve a validation split, got {n}")
    perm = np.random.default_rng(seed).permutation(n)
    n_val = min(max(1, round(n * fraction)), n - 1)
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


TRUNCATIONS = ("head", "tail", "head_tail")


def check_truncate(truncate: str) -> None:
    if truncate not in TRUNCATIONS:
        raise ConfigError(f"data.truncate must be one of {', '.join(TRUNCATIONS)}; got {truncate!r}")


def clip(ids: list[int], max_len: int | None, truncate: str = "head") -> list[int]:
    """At most ``max_len`` ids: the first ones (head), the last ones (tail), or the first quarter and the last
    three quarters (head_tail; reviews tend to open with context and close with the verdict)."""
    if max_len is None or len(ids) <= max_len:
        return ids
    if truncate == "head":
        return ids[:max_len]
    if truncate == "tail":
        return ids[len(ids) - max_len :]
    k = max_len // 4
    return ids[:k] + ids[len(ids) - (max_len - k) :]


def encode_limit(max_len: int, truncate: str) -> int | None:
    """How many ids the tokenizer itself may keep: all of them unless only the head is wanted."""
    check_truncate(truncate)
    return max_len if truncate == "head" else None


def clip_all(ids: list[list[int]], max_len: int, truncate: str, unk: int) -> list[list[int]]:
    """``clip`` every example; one with no known token becomes [<unk>] so every length is >= 1."""
    return [clip(x, max_len, truncate) or [unk] for x in ids]


def encode_texts(tokenizer, texts: list[str], max_len: int, truncate: str = "head") -> list[list[int]]:
    """Token ids per text, clipped to ``max_len`` by ``truncate`` (see ``clip_all``)."""
    whole = tokenizer.encode_batch(texts, encode_limit(max_len, truncate))
    return clip_all(whole, max_len, truncate, tokenizer.unk_id)


def make_batches(ids: list[list[int]], labels: list[int], data: DataConfig, batch_size: int, seed: int,
                 shuffle: bool) -> BucketBatches:
    """Training: shuffled length buckets. Evaluation: the whole split sorted by length (least padding);
    ``Batch.indices`` maps rows back to the input order."""
    bucket = data.bucket_size if shuffle else len(ids) // batch_size + 1
    return BucketBatches(ids, labels, batch_size=batch_size, seed=seed, shuffle=shuffle, bucket_size=bucket,
                         max_len=data.max_len)


def label_set(train: ReadResult) -> LabelSet:
    return LabelSet.from_examples(train.examples)
