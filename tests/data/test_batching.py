"""BucketBatches: padding layout, coverage, determinism from (seed, epoch) alone, and less padding."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from seqlab.data.batching import BucketBatches, padding_fraction


def _data(n: int = 1000, seed: int = 0) -> tuple[list[list[int]], list[int]]:
    rng = random.Random(seed)
    sequences = [[rng.randrange(2, 50) for _ in range(rng.randint(1, 120))] for _ in range(n)]
    return sequences, [i % 2 for i in range(n)]


def _order(batches: BucketBatches) -> list[list[int]]:
    return [b.indices.tolist() for b in batches]


def test_batches_are_padded_and_aligned():
    sequences, targets = _data(103)
    batches = BucketBatches(sequences, targets, batch_size=10, seed=3, bucket_size=4)
    seen = []
    for batch in batches:
        B, T = batch.tokens.shape
        assert (
            batch.tokens.dtype == torch.long and batch.lengths.shape == (B,) and batch.targets.shape == (B,)
        )
        assert T == int(batch.lengths.max()) and int(batch.lengths.min()) >= 1
        for row, i in enumerate(batch.indices.tolist()):
            n = len(sequences[i])
            assert batch.tokens[row, :n].tolist() == sequences[i] and not batch.tokens[row, n:].any()
            assert (batch.lengths[row], batch.targets[row]) == (n, targets[i])
        seen += batch.indices.tolist()
    assert sorted(seen) == list(range(103))  # every example exactly once
    assert len(batches) == len(list(batches)) == 11


def test_order_depends_only_on_seed_and_epoch():
    sequences, targets = _data()
    first = BucketBatches(sequences, targets, batch_size=16, seed=7)
    torch.manual_seed(123)
    np.random.seed(123)
    random.seed(123)
    second = BucketBatches(sequences, targets, batch_size=16, seed=7)
    torch.rand(5), np.random.rand(5), random.random()  # disturb every global RNG between iterations
    assert _order(first) == _order(second) == _order(first)  # same epoch: same batches, again
    first.set_epoch(1)
    assert _order(first) != _order(second)  # a new epoch reshuffles
    second.set_epoch(1)
    assert _order(first) == _order(second)
    assert _order(BucketBatches(sequences, targets, batch_size=16, seed=8)) != _order(second)


def test_bucketing_reduces_padding():
    sequences, targets = _data(2000)
    bucketed = BucketBatches(sequences, targets, batch_size=32, seed=0, bucket_size=50)
    plain = BucketBatches(sequences, targets, batch_size=32, seed=0, bucket_size=1)
    assert plain.padding_fraction() > 0.3
    assert bucketed.padding_fraction() < 0.05
    # the measure agrees with the tensors actually produced
    cells = sum(b.tokens.numel() for b in bucketed)
    real = sum(int(b.lengths.sum()) for b in bucketed)
    assert bucketed.padding_fraction() == pytest.approx(1 - real / cells)
    assert padding_fraction([[3, 1], [2, 2]]) == pytest.approx(2 / 10)  # (2*3 + 2*2) cells, 8 real


def test_no_shuffle_keeps_pools_in_order():
    sequences, targets = _data(100)
    batches = BucketBatches(sequences, targets, batch_size=10, seed=0, shuffle=False, bucket_size=1)
    assert _order(batches) == [list(range(i, i + 10)) for i in range(0, 100, 10)]
    sorted_pools = BucketBatches(sequences, targets, batch_size=10, seed=0, shuffle=False, bucket_size=5)
    flat = [i for b in _order(sorted_pools) for i in b]
    assert sorted(flat[:50]) == list(range(50))  # the first pool covers exactly the first 50 examples
    assert [len(sequences[i]) for i in flat[:50]] == sorted(
        (len(sequences[i]) for i in range(50)), reverse=True
    )


def test_max_len_truncates_tokens_and_sequence_targets():
    sequences = [[5, 6, 7, 8], [9], [4, 4, 4]]
    tags = [[1, 2, 3, 4], [5], [6, 7, 8]]
    [batch] = BucketBatches(sequences, tags, batch_size=3, seed=0, shuffle=False, bucket_size=1, max_len=2)
    assert batch.lengths.tolist() == [2, 1, 2]
    assert batch.tokens.tolist() == [[5, 6], [9, 0], [4, 4]]
    assert batch.targets.tolist() == [[1, 2], [5, -100], [6, 7]]  # (B, T) targets padded with -100


def test_tensor_targets_and_validation():
    [batch] = BucketBatches([[1], [2, 3]], torch.tensor([0.5, 1.5]), batch_size=2, seed=0, shuffle=False)
    assert batch.targets.tolist() == [1.5, 0.5]  # sorted longest first within the pool, targets follow
    with pytest.raises(ValueError, match=r"sequences\[1\] is empty; every example needs at least one token"):
        BucketBatches([[1], []], [0, 1], batch_size=2, seed=0)
    with pytest.raises(ValueError, match="same length, got 2 and 1"):
        BucketBatches([[1], [2]], [0], batch_size=2, seed=0)
