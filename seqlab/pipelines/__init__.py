"""One pipeline per task; the CLI finds a run's pipeline by the task recorded in its model.json."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

from seqlab.errors import ConfigError

__all__ = ["TASKS", "pipeline", "run_task"]

TASKS = ("classify", "lm", "tag", "forecast", "seq2seq")


def pipeline(task: str) -> ModuleType:
    """The module ``seqlab.pipelines.<task>`` (build_model, train, evaluate, predict)."""
    if task not in TASKS:
        raise ConfigError(f"unknown task {task!r}; seqlab's tasks are {', '.join(TASKS)}")
    try:
        return importlib.import_module(f"seqlab.pipelines.{task}")
    except ModuleNotFoundError as e:
        if e.name == f"seqlab.pipelines.{task}":
            raise ConfigError(f"task {task!r} is not available in this version of seqlab") from None
        raise


def run_task(run_dir: str | Path) -> str:
    """The task a run directory was trained for (from its model.json; the weights are read by the task)."""
    from seqlab.training.checkpoint import load_meta

    return load_meta(run_dir).get("task", "classify")
