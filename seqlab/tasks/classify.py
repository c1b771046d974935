"""Many-to-one: a sequence in, one label out (sentiment of reviews, any text classification).

tokens (B, T) -> embedding (B, T, E) -> engine (B, T, D*H) -> pooling (B, D*H) -> linear (B, C).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from seqlab.config import ModelConfig
from seqlab.engine import build_rnn

__all__ = ["POOLINGS", "Classifier", "ClassifyObjective", "classification_metrics", "confusion_matrix"]

POOLINGS = ("last", "max", "mean", "attention")


class Classifier(nn.Module):
    """Embedding -> recurrent engine -> pooling over valid steps -> dropout -> linear."""

    def __init__(self, vocab_size: int, num_classes: int, cfg: ModelConfig):
        super().__init__()
        if cfg.pooling not in POOLINGS:
            raise ValueError(f"model.pooling must be one of {POOLINGS}, got {cfg.pooling!r}")
        if num_classes < 2:
            raise ValueError(f"a classifier needs at least 2 classes, got {num_classes}")
        self.cfg = cfg
        D = 2 if cfg.bidirectional else 1
        self.embedding = nn.Embedding(vocab_size, cfg.embedding_dim, padding_idx=0)
        self.rnn = build_rnn(cfg.cell, cfg.embedding_dim, cfg.hidden_size, cfg.num_layers, batch_first=True,
                             dropout=cfg.dropout if cfg.num_layers > 1 else 0.0, bidirectional=cfg.bidirectional,
                             impl=cfg.impl)
        self.drop = nn.Dropout(cfg.dropout)
        self.attn = nn.Linear(D * cfg.hidden_size, 1) if cfg.pooling == "attention" else None
        self.out = nn.Linear(D * cfg.hidden_size, num_classes)

    def encode(self, tokens: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """Per-step features (B, T, D*H) and the final state h_n (L*D, B, H)."""
        x = self.drop(self.embedding(tokens))  # (B, T, E)
        out, state = self.rnn(x, lengths=lengths)  # (B, T, D*H)
        h_n = state[0] if isinstance(state, tuple) else state
        return out, h_n

    def pool(self, out: Tensor, h_n: Tensor, lengths: Tensor) -> Tensor:
        """(B, T, D*H) -> (B, D*H) over the valid steps only."""
        B, T, _ = out.shape
        valid = torch.arange(T, device=out.device).unsqueeze(0) < lengths.unsqueeze(1)  # (B, T)
        mode = self.cfg.pooling
        if mode == "last":
            D = 2 if self.cfg.bidirectional else 1
            return h_n[-D:].transpose(0, 1).reshape(B, -1)  # last layer, both directions (B, D*H)
        if mode == "max":
            return out.masked_fill(~valid.unsqueeze(-1), float("-inf")).amax(dim=1)
        if mode == "mean":
            return (out * valid.unsqueeze(-1)).sum(1) / lengths.unsqueeze(1).to(out.dtype)
        scores = self.attn(out).squeeze(-1).masked_fill(~valid, float("-inf"))  # (B, T)
        weights = torch.softmax(scores, dim=1)  # attention over valid steps
        return torch.einsum("bt,btd->bd", weights, out)

    def forward(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        out, h_n = self.encode(tokens, lengths)
        return self.out(self.drop(self.pool(out, h_n, lengths)))  # (B, C) logits


def confusion_matrix(y_true: Tensor, y_pred: Tensor, num_classes: int) -> Tensor:
    """(C, C) counts: rows are true labels, columns predictions."""
    idx = y_true.long() * num_classes + y_pred.long()
    return torch.bincount(idx, minlength=num_classes * num_classes).view(num_classes, num_classes)


def classification_metrics(cm: Tensor) -> dict[str, float]:
    """Accuracy and macro-F1 from a confusion matrix (a class never predicted nor present is skipped)."""
    cm = cm.double()
    tp = cm.diag()
    precision = tp / cm.sum(0).clamp(min=1)
    recall = tp / cm.sum(1).clamp(min=1)
    f1 = 2 * precision * recall / (precision + recall).clamp(min=1e-12)
    present = (cm.sum(0) + cm.sum(1)) > 0
    return {"accuracy": float(tp.sum() / cm.sum().clamp(min=1)), "macro_f1": float(f1[present].mean())}


@dataclass
class ClassifyObjective:
    """Cross-entropy loss; accuracy picks the best checkpoint."""

    num_classes: int
    metric: str = "accuracy"
    mode: str = "max"

    def loss(self, model: Classifier, batch) -> Tensor:
        logits = model(batch.tokens, batch.lengths)
        return nn.functional.cross_entropy(logits, batch.targets)

    @torch.no_grad()
    def predict(self, model: Classifier, loader) -> tuple[Tensor, Tensor, Tensor]:
        """(true labels, predicted labels, probabilities) over a loader, in loader order."""
        ys, ps, probs = [], [], []
        for batch in loader:
            p = torch.softmax(model(batch.tokens, batch.lengths), dim=-1)
            ys.append(batch.targets)
            ps.append(p.argmax(-1))
            probs.append(p)
        return torch.cat(ys), torch.cat(ps), torch.cat(probs)

    def scores(self, y: Tensor, p: Tensor, prob: Tensor) -> dict[str, float]:
        """Accuracy, macro-F1 and mean cross-entropy from ``predict``'s output."""
        cm = confusion_matrix(y, p, self.num_classes)
        nll = nn.functional.nll_loss(prob.clamp(min=1e-12).log(), y)
        return classification_metrics(cm) | {"loss": float(nll)}

    @torch.no_grad()
    def evaluate(self, model: Classifier, loader) -> dict[str, float]:
        return self.scores(*self.predict(model, loader))
