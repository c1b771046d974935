"""Training: ``trainer.py`` (knows no task) and ``checkpoint.py`` (the only place that saves and loads)."""

from seqlab.training.checkpoint import load_model, load_resume, save_model, save_resume
from seqlab.training.trainer import Loader, Objective, Trainer

__all__ = ["Trainer", "Objective", "Loader", "save_model", "load_model", "save_resume", "load_resume"]
