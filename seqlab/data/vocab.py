"""Token ↔ id maps. ``<pad>`` is always 0 and ``<unk>`` always 1; extra specials (``<bos>``, ``<eos>``)
follow.

Order is deterministic: specials, then tokens by frequency (descending), ties broken by the token itself.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

__all__ = ["PAD", "UNK", "BOS", "EOS", "Vocab"]

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"


class Vocab:
    """``itos`` (id → token) starting with ``specials``; unknown tokens look up as ``<unk>``."""

    pad_id = 0
    unk_id = 1

    def __init__(self, itos: Sequence[str], specials: Sequence[str] = (PAD, UNK)):
        specials = tuple(specials)
        if specials[:2] != (PAD, UNK):
            raise ValueError(f"specials must start with {PAD!r}, {UNK!r} (ids 0 and 1), got {list(specials)}")
        if tuple(itos[: len(specials)]) != specials:
            raise ValueError(f"itos must start with the specials {list(specials)}, got {list(itos[:4])}")
        self.itos: list[str] = list(itos)
        self.specials = specials
        self.stoi: dict[str, int] = {}
        for i, token in enumerate(self.itos):
            if token in self.stoi:
                raise ValueError(f"duplicate token {token!r} at ids {self.stoi[token]} and {i}")
            self.stoi[token] = i

    @classmethod
    def build(
        cls,
        token_lists: Iterable[Iterable[str]],
        *,
        min_freq: int = 1,
        max_size: int | None = None,
        specials: Sequence[str] = (PAD, UNK),
    ) -> Vocab:
        """Count tokens; keep those seen ``min_freq`` times or more, at most ``max_size`` ids in all
        (specials included)."""
        specials = tuple(specials)
        if min_freq < 1:
            raise ValueError(f"min_freq must be >= 1, got {min_freq}")
        if max_size is not None and max_size < len(specials):
            raise ValueError(
                f"max_size must be >= {len(specials)} (the specials {list(specials)}), got {max_size}"
            )
        counts: Counter[str] = Counter()
        for tokens in token_lists:
            counts.update(tokens)
        kept = sorted(
            (t for t, c in counts.items() if c >= min_freq and t not in specials),
            key=lambda t: (-counts[t], t),
        )
        if max_size is not None:
            kept = kept[: max_size - len(specials)]
        return cls([*specials, *kept], specials)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: object) -> bool:
        return token in self.stoi

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and (self.itos, self.specials) == (other.itos, other.specials)

    def __repr__(self) -> str:
        return f"Vocab(size={len(self)}, specials={list(self.specials)})"

    def __getitem__(self, token: str) -> int:
        return self.stoi.get(token, self.unk_id)

    def lookup(self, tokens: Iterable[str]) -> list[int]:
        unk, stoi = self.unk_id, self.stoi
        return [stoi.get(t, unk) for t in tokens]

    def tokens(self, ids: Iterable[int]) -> list[str]:
        return [self.itos[i] for i in ids]

    def token_to_id(self, token: str) -> int | None:
        return self.stoi.get(token)

    def to_dict(self) -> dict:
        return {"itos": list(self.itos), "specials": list(self.specials)}

    @classmethod
    def from_dict(cls, d: dict) -> Vocab:
        return cls(d["itos"], d["specials"])
