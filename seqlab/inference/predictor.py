"""Rebuild a trained classifier from its run directory alone and label new texts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from seqlab.config import RunConfig
from seqlab.data import BucketBatches
from seqlab.tasks.classify_data import encode_texts

__all__ = ["Predictor", "Prediction"]


@dataclass(frozen=True)
class Prediction:
    text: str
    label: str  # the most probable class
    probability: float  # its probability
    probabilities: dict[str, float]  # every class


class Predictor:
    """``Predictor.from_run("runs/nsmc").predict(["이 영화 진짜 최고다"])``."""

    def __init__(self, model, tokenizer, labels, cfg: RunConfig):
        self.model, self.tokenizer, self.labels, self.cfg = model.eval(), tokenizer, labels, cfg

    @classmethod
    def from_run(cls, run_dir: str | Path) -> Predictor:
        from seqlab.pipelines.classify import load_run

        model, meta, tokenizer, labels = load_run(run_dir)
        return cls(model, tokenizer, labels, RunConfig.from_dict(meta["config"]))

    @torch.no_grad()
    def predict(self, texts: list[str], batch_size: int = 256) -> list[Prediction]:
        if not texts:
            return []
        ids = encode_texts(self.tokenizer, texts, self.cfg.data.max_len, self.cfg.data.truncate)
        batches = BucketBatches(ids, [0] * len(ids), batch_size=batch_size, seed=0, shuffle=False,
                                bucket_size=len(ids) // batch_size + 1)
        probs = torch.empty(len(ids), len(self.labels))
        for b in batches:
            probs[torch.as_tensor(b.indices)] = torch.softmax(self.model(b.tokens, b.lengths), dim=-1)
        names = list(self.labels.labels)
        out = []
        for text, p in zip(texts, probs, strict=True):
            k = int(p.argmax())
            out.append(Prediction(text, names[k], float(p[k]), {n: float(v) for n, v in zip(names, p, strict=True)}))
        return out
