"""Frozen configuration dataclasses, one per component, and dotted CLI overrides.

``--set model.hidden_size=256`` becomes ``apply_overrides(cfg, ["model.hidden_size=256"])``; values are
parsed by the field's declared type, never evaluated. Preset files (``configs/*.toml``) hold the same
sections: ``[data]``, ``[model]``, ``[train]``.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

from seqlab.errors import ConfigError

__all__ = ["DataConfig", "ModelConfig", "TrainConfig", "RunConfig", "from_dict", "apply_overrides", "load_config"]


@dataclass(frozen=True)
class DataConfig:
    name: str = "nsmc"  # registry dataset name, or a path to a user file (CSV/TSV/JSONL)
    text_col: str | None = None  # user files: column holding the text (None: the registry's default)
    label_col: str | None = None  # user files: column holding the label
    tokenizer: str = "morph"  # char | word | morph (Korean morphemes, kiwipiepy) | bpe | unigram
    vocab_size: int = 30000  # maximum vocabulary size including <pad>/<unk>
    min_freq: int = 2  # tokens seen fewer times in the training split map to <unk>
    max_len: int = 128  # tokens per example after truncation
    truncate: str = "head"  # head | tail | head_tail (first quarter + last three quarters): what a long example keeps
    val_fraction: float = 0.1  # share of train carved out for validation when the dataset has none
    bucket_size: int = 50  # batches per length bucket pool; 1 disables bucketing (plain shuffle)


@dataclass(frozen=True)
class ModelConfig:
    cell: str = "lstm"  # rnn_tanh | rnn_relu | lstm | gru
    embedding_dim: int = 128  # token embedding width E
    hidden_size: int = 256  # H per direction
    num_layers: int = 1  # stacked recurrent layers
    bidirectional: bool = True  # D = 2 when true
    dropout: float = 0.3  # on embeddings, between layers and before the output layer
    pooling: str = "max"  # last | max | mean | attention: how (B, T, D*H) becomes (B, D*H)
    init_from: str | None = None  # an LM run directory: its tokenizer, embedding and recurrent layers start this model
    init_backward_from: str | None = None  # a backward LM (embedding_from = init_from): starts the reverse direction
    impl: str = "auto"  # auto | explicit | fused: which engine path runs the recurrence


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 3  # passes over the training split
    max_steps: int = 0  # stop after this many optimizer steps (0: no limit)
    batch_size: int = 64  # examples per step
    lr: float = 2e-3  # peak AdamW learning rate
    weight_decay: float = 0.01  # AdamW decoupled weight decay
    warmup_steps: int = 100  # linear warm-up before the schedule
    schedule: str = "linear"  # linear | cosine | constant (after warm-up)
    clip_norm: float = 1.0  # global gradient-norm clip (0: off); the fraction of clipped steps is logged
    patience: int = 0  # early stopping: validations without improvement before stopping (0: off)
    eval_every: int = 0  # validate every N steps (0: once per epoch)
    save_every: int = 200  # write resume state every N steps (and at each validation)
    seed: int = 1  # one seed makes a CPU run repeatable
    num_threads: int = 0  # torch intra-op threads (0: torch's default)
    device: str = "cpu"  # cpu | cuda | cuda:N | auto (cuda when available): where the model trains
    diagnose_every: int = 0  # record gradient-flow diagnostics every N steps into the metrics log (0: off)


@dataclass(frozen=True)
class RunConfig:
    """A classification run. Other tasks define their own run config with the same shape: a ``task`` string
    plus one frozen dataclass per section (see ``seqlab.tasks.*``); ``from_dict``/``apply_overrides`` work on
    any of them."""

    task: str = "classify"  # which task head and pipeline
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> RunConfig:
        return from_dict(cls, d)


def from_dict(cls, values: dict, prefix: str = ""):
    """Build dataclass ``cls`` from a (nested) dict, parsing each value by its declared type."""
    if not isinstance(values, dict):
        raise ConfigError(f"{prefix or 'config'} must be a table of keys, got {values!r}")
    names = {f.name for f in dataclasses.fields(cls)}
    for k in values:
        if k not in names:
            raise ConfigError(f"unknown key {prefix}{k}; valid keys: {', '.join(sorted(names))}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for k, v in values.items():
        tp = hints[k]
        if dataclasses.is_dataclass(tp):
            kwargs[k] = from_dict(tp, v, f"{prefix}{k}.")
        else:
            kwargs[k] = _coerce(v, tp, f"{prefix}{k}")
    return cls(**kwargs)


def _coerce(value, tp, key: str):
    """Parse ``value`` (a string from the command line, or a TOML/JSON value) into type ``tp``."""
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null", "")):
            return None
        tp = next(a for a in args if a is not type(None))
    if tp is bool:
        if isinstance(value, bool):
            return value
        s = str(value).lower()
        if s in ("1", "true", "yes", "on"):
            return True
        if s in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{key} expects true/false, got {value!r}")
    if tp in (int, float):
        if isinstance(value, bool):
            raise ConfigError(f"{key} expects a {tp.__name__}, got {value!r}")
        try:
            out = tp(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key} expects a {tp.__name__}, got {value!r}") from None
        if tp is int and isinstance(value, float) and value != out:
            raise ConfigError(f"{key} expects an int, got {value!r}")
        return out
    return str(value)


def apply_overrides(cfg, overrides: list[str]):
    """Apply ``section.key=value`` strings to any run config, returning a new frozen config."""
    d = dataclasses.asdict(cfg)
    sections = [f.name for f in dataclasses.fields(cfg) if dataclasses.is_dataclass(getattr(cfg, f.name))]
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set expects section.key=value, got {item!r}")
        key, value = item.split("=", 1)
        parts = key.strip().split(".")
        if len(parts) != 2 or parts[0] not in sections:
            raise ConfigError(f"--set key must be one of {', '.join(s + '.KEY' for s in sections)}, got {key!r}")
        d[parts[0]][parts[1]] = value.strip()
    return from_dict(type(cfg), d)


def load_config(path: str | Path, cls=RunConfig):
    """Read a preset file (.toml or .json) with one table per section, e.g. [data] [model] [train]."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: config file not found; pass an existing .toml or .json file")
    try:
        text = p.read_text(encoding="utf-8")
        raw = tomllib.loads(text) if p.suffix == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{p}: cannot parse config: {e}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{p}: a preset is a table of sections, got {type(raw).__name__}")
    default = cls()
    want = getattr(default, "task", None)
    if want is not None and raw.get("task", want) != want:
        raise ConfigError(f"{p}: this preset is for task {raw['task']!r}, not {want!r}; "
                          f"run `seqlab train {raw['task']} --config {p}`")
    # a key the file leaves out keeps the task's own default (the LM trains 10 epochs by default, not the
    # generic 3): start from the task's default config, not from each section class's bare defaults
    merged = dataclasses.asdict(default)
    for key, value in raw.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merged[key] | value
        else:
            merged[key] = value
    return from_dict(cls, merged)
