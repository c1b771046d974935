"""Small synthetic corpora: a tiny grammar whose sentences an LSTM learns in seconds."""

from __future__ import annotations

import random

SUBJECTS = ["the cat", "a dog", "the old man", "my sister", "the island"]
VERBS = ["sat on", "looked at", "ran to", "found", "dreamed of"]
OBJECTS = ["the mat", "a tree", "the sea", "the engineer", "a small boat"]
KO = ["섬에", "바다를", "선장은", "우리는", "오늘", "배를", "보았다", "찾았다", "떠났다", "신비한"]

# a small model that learns the grammar in a few seconds on one CPU thread
SMALL = ["model.hidden_size=32", "model.embedding_dim=16", "model.dropout=0", "data.window=20",
         "train.batch_size=8", "train.warmup_steps=5", "train.lr=1e-2"]


def english(n_lines: int, seed: int) -> str:
    rng = random.Random(seed)
    return "".join(f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}.\n" for _ in range(n_lines))


def korean(n_lines: int, seed: int) -> str:
    rng = random.Random(seed)
    return "".join(" ".join(rng.sample(KO, 4)) + ".\n" for _ in range(n_lines))
