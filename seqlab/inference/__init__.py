"""Serving trained runs: the predictor (model logic) and, later, the HTTP server (no model logic)."""

from seqlab.inference.predictor import Predictor

__all__ = ["Predictor"]
