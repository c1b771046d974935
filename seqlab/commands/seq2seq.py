"""CLI commands for the seq2seq task (registered by seqlab.cli through MODULES)."""

from __future__ import annotations

import typer


def register(app: typer.Typer, train_app: typer.Typer) -> None:
    """Add this module's commands to the app; none yet."""
