"""CLI commands per task. Each module has ``register(app, train_app)`` that adds its commands; ``seqlab.cli``
calls every module listed in ``MODULES``. Shared option help texts live here."""

MODULES = ("classify", "lm", "forecast", "tag", "seq2seq", "diagnose")

DATA_HELP = "registered dataset name (see `seqlab data list`) or a file of your own"
DATA_DIR_HELP = "offline data directory holding <name>/<file> (default: $SEQLAB_DATA_DIR, then the cache)"
SET_HELP = "override a config field, e.g. --set model.hidden_size=256 (repeatable)"
CONFIG_HELP = "preset file (.toml/.json) with one table per section: [data] [model] [train]"


def build_config(cls, config_path, overrides: list[str]):
    """A task's run config: defaults or a preset file, then dotted ``--set`` overrides."""
    from seqlab.config import apply_overrides, load_config

    cfg = load_config(config_path, cls) if config_path else cls()
    return apply_overrides(cfg, overrides)


def print_summary(console, summary: dict, out) -> None:
    """The one-line end-of-training report shared by every task."""
    best = (f"best validation {summary['metric']} {summary['best_metric']:.4f} at step {summary['best_step']}"
            if summary.get("best_metric") is not None else "no validation data: the final weights are kept")
    console.print(f"{best}; {summary['steps']} steps in {summary['wall_time_s']:.0f}s "
                  f"({summary['steps_per_s']:.1f} steps/s), clipped {100 * summary['clipped_fraction']:.1f}% "
                  f"of steps; model in {out}")
