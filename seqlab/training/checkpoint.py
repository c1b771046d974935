"""Checkpoints: the only place in seqlab that writes or reads them. Safetensors + JSON, never pickle.

A run directory holds two pairs:

``model.safetensors`` + ``model.json``
    The best weights and everything a predictor needs to rebuild the model from the directory alone:
    the caller's ``meta`` (config, tokenizer/vocab, labels, ...) and ``versions`` (seqlab, torch, python,
    format_version).
``resume.safetensors`` + ``resume.json``
    The state that lets ``Trainer.fit(resume=True)`` continue exactly: current weights, optimizer state
    (tensors flattened to named tensors, hyperparameters in JSON), scheduler state, RNG states (torch CPU
    as a uint8 tensor, CUDA if available, numpy and python ``random`` in JSON) and the trainer's counters.

Crash safety. Every file is written to a temp file in the same directory, flushed, fsynced and renamed
over the old one. A pair is committed in three renames::

    .{stem}.next.safetensors   <- new tensors          (1)
    {stem}.json                <- new JSON, holds the tensors' sha256: the commit point  (2)
    {stem}.safetensors         <- .{stem}.next.safetensors  (3)

A reader takes the JSON and the tensor file (final or ``.next``) whose sha256 matches it, so a kill -9 at
any point leaves a complete checkpoint readable: the previous one before (2), the new one after. The
sha256 also means a reader never pairs new tensors with old JSON, and any edit to the tensor file is caught.

Loading never executes code: files are parsed by safetensors and ``json`` only; ``torch.load`` and
``pickle`` are never called. A pickle, a torch.save archive, a tampered header or unparsable JSON raises
``CheckpointError`` naming the file and what to do.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import random
import sys
import tempfile
from pathlib import Path

import numpy as np
import safetensors.torch
import torch

from seqlab.errors import CheckpointError

__all__ = ["FORMAT_VERSION", "save_model", "load_model", "load_meta", "save_resume", "load_resume"]

FORMAT_VERSION = 1  # bump when the layout of the JSON documents changes incompatibly
MODEL, RESUME = "model", "resume"  # file stems of the two pairs


# ---------------------------------------------------------------- public API


def save_model(run_dir: str | Path, state_dict: dict[str, torch.Tensor], meta: dict) -> None:
    """Write ``model.safetensors`` + ``model.json``. ``meta`` must be JSON-serialisable; a ``versions``
    key in it is replaced by the versions of this process."""
    _check_state_dict(state_dict)
    doc = {"meta": {k: v for k, v in meta.items() if k != "versions"}, "versions": _versions()}
    _write_pair(Path(run_dir), MODEL, dict(state_dict), doc)


def load_model(run_dir: str | Path, map_location: str | torch.device = "cpu") -> tuple[dict, dict]:
    """Read the best weights and their meta. Returns ``(state_dict, meta)``; ``meta["versions"]`` holds
    the versions that wrote the file."""
    tensors, doc = _read_pair(Path(run_dir), MODEL)
    return {k: v.to(map_location) for k, v in tensors.items()}, _meta(doc, Path(run_dir))


def load_meta(run_dir: str | Path) -> dict:
    """The meta of a run's best weights from ``model.json`` alone (the weights are neither read nor checked;
    ``load_model`` does that): enough to tell which task a run is for."""
    return _meta(_read_json(_paths(Path(run_dir), MODEL)[2]), Path(run_dir))


def _meta(doc: dict, run_dir: Path) -> dict:
    meta = dict(_field(doc, "meta", run_dir / f"{MODEL}.json"))
    meta["versions"] = doc.get("versions", {})
    return meta


def save_resume(
    run_dir: str | Path, model: torch.nn.Module, optimizer, scheduler, trainer_state: dict
) -> None:
    """Write ``resume.safetensors`` + ``resume.json``: model, optimizer, scheduler, RNG and trainer state.
    ``optimizer`` / ``scheduler`` may be None. ``trainer_state`` must be JSON-like (tensors allowed)."""
    tree = {
        "model": dict(model.state_dict()),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "rng": _get_rng_state(),
        "trainer": trainer_state,
    }
    tensors: dict[str, torch.Tensor] = {}
    doc = {"state": _encode(tree, tensors, ()), "versions": _versions()}
    _write_pair(Path(run_dir), RESUME, tensors, doc, indent=None)  # compact: RNG states are long lists


def load_resume(run_dir: str | Path, model: torch.nn.Module, optimizer, scheduler) -> dict | None:
    """Restore model, optimizer, scheduler (in place) and the global RNGs from the resume pair; return
    the trainer state, or None when the directory holds no resume checkpoint yet."""
    run_dir = Path(run_dir)
    if not (run_dir / f"{RESUME}.json").exists() and not (run_dir / f"{RESUME}.safetensors").exists():
        return None
    tensors, doc = _read_pair(run_dir, RESUME)
    json_path = run_dir / f"{RESUME}.json"
    tree = _decode(_field(doc, "state", json_path), tensors, json_path)
    try:
        model.load_state_dict(tree["model"])
        if optimizer is not None:
            optimizer.load_state_dict(tree["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(tree["scheduler"])
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise CheckpointError(
            f"{json_path}: does not fit this model/optimizer ({e}); resume with the same model and "
            "training config, or start a fresh run directory"
        ) from None
    _set_rng_state(tree["rng"])
    return tree["trainer"]


# ---------------------------------------------------------------- writing


def _write_pair(
    run_dir: Path, stem: str, tensors: dict[str, torch.Tensor], doc: dict, indent: int | None = 1
) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    final, nxt, json_path = _paths(run_dir, stem)
    _finish_interrupted_save(run_dir, stem)
    data = safetensors.torch.save(_unshare(tensors), metadata={"format": "pt"})
    doc = {"format_version": FORMAT_VERSION, "kind": f"seqlab-{stem}", "sha256": _sha256(data), **doc}
    try:
        text = json.dumps(doc, indent=indent, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ValueError(
            f"{stem}.json: meta must be JSON-serialisable ({e}); pass dicts, lists, strings and finite "
            "numbers (e.g. dataclasses.asdict(config), vocab.to_dict())"
        ) from None
    _atomic_write(nxt, data)  # (1)
    _atomic_write(json_path, text.encode())  # (2) commit point
    os.replace(nxt, final)  # (3)
    _fsync_dir(run_dir)


def _finish_interrupted_save(run_dir: Path, stem: str) -> None:
    """A save killed after its commit leaves the committed tensors under ``.next``: move them into
    place before ``.next`` is overwritten. Uncommitted leftovers and stray temp files are removed."""
    final, nxt, json_path = _paths(run_dir, stem)
    for tmp in run_dir.glob(f".{stem}.*.tmp"):
        tmp.unlink(missing_ok=True)
    if not nxt.exists():
        return
    try:
        committed = json.loads(json_path.read_text()).get("sha256")
    except (OSError, ValueError, AttributeError):
        committed = None
    if committed is not None and committed == _sha256(nxt.read_bytes()):
        os.replace(nxt, final)
    else:
        nxt.unlink()


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem.lstrip('.')}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; checkpoints are meant to be shared like any file
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    """Make renames durable (POSIX); a no-op where directories cannot be opened (Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _unshare(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """CPU, contiguous, and no two tensors on one storage (tied weights): safetensors refuses shared
    memory, so every tensor after the first on a storage is cloned."""
    seen: set[int] = set()
    out = {}
    for name, t in tensors.items():
        t = t.detach().cpu().contiguous()
        ptr = t.untyped_storage().data_ptr()
        if t.numel() and ptr in seen:
            t = t.clone()
        seen.add(ptr)
        out[name] = t
    return out


def _check_state_dict(state_dict: dict) -> None:
    for k, v in state_dict.items():
        if not isinstance(k, str) or not isinstance(v, torch.Tensor):
            raise ValueError(
                f"state_dict must map str to torch.Tensor; entry {k!r} holds {type(v).__name__}. "
                "Pass model.state_dict(), and put non-tensor values in meta"
            )


def _versions() -> dict:
    try:
        from importlib.metadata import version

        seqlab_version = version("seqlab")
    except Exception:  # not installed (running from a checkout)
        seqlab_version = "unknown"
    py = sys.version_info
    return {
        "seqlab": seqlab_version,
        "torch": torch.__version__,
        "python": f"{py.major}.{py.minor}.{py.micro}",
        "format_version": FORMAT_VERSION,
    }


# ---------------------------------------------------------------- reading


def _paths(run_dir: Path, stem: str) -> tuple[Path, Path, Path]:
    return run_dir / f"{stem}.safetensors", run_dir / f".{stem}.next.safetensors", run_dir / f"{stem}.json"


def _read_pair(run_dir: Path, stem: str) -> tuple[dict[str, torch.Tensor], dict]:
    final, nxt, json_path = _paths(run_dir, stem)
    for _ in range(2):  # a second look covers a writer renaming between our reads
        doc = _read_json(json_path)
        want = doc.get("sha256")
        for path in (final, nxt):
            with contextlib.suppress(FileNotFoundError):
                data = path.read_bytes()
                if _sha256(data) == want:
                    return _parse_safetensors(path, data), doc
    raise _explain_mismatch(final, json_path)


def _read_json(path: Path) -> dict:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(
            f"{path}: not found; {path.parent} holds no seqlab checkpoint — pass the run directory "
            "that `seqlab train` wrote (it contains model.json and model.safetensors)"
        ) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(
            f"{path}: not valid JSON ({e}); the file is corrupt — restore the run directory from a "
            "backup or retrain"
        ) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("format_version"), int):
        raise CheckpointError(f"{path}: not a seqlab checkpoint document (no format_version); retrain")
    if doc["format_version"] > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: format_version {doc['format_version']} is newer than this seqlab reads "
            f"({FORMAT_VERSION}); upgrade seqlab"
        )
    return doc


def _field(doc: dict, key: str, path: Path) -> dict:
    if not isinstance(doc.get(key), dict):
        raise CheckpointError(f"{path}: missing the {key!r} entry; the file is incomplete — retrain")
    return doc[key]


def _explain_mismatch(path: Path, json_path: Path) -> CheckpointError:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return CheckpointError(
            f"{path}: not found next to {json_path.name}; the checkpoint is incomplete — restore the file "
            "or retrain"
        )
    _check_safetensors_bytes(path, data)
    return CheckpointError(
        f"{path}: contents do not match {json_path.name} (sha256 differs): the file was modified or "
        "replaced after saving — restore the pair as written, or retrain"
    )


def _check_safetensors_bytes(path: Path, data: bytes) -> None:
    """Accept the safetensors layout (an 8-byte little-endian header length, then a JSON header); name what
    anything else is, pickles and torch.save archives first, before any parser sees it. The layout check comes
    first: a valid header length can start with the byte 0x80 that also opens a pickle."""
    n = int.from_bytes(data[:8], "little") if len(data) >= 8 else -1
    if 0 < n <= len(data) - 8 and data[8:9] == b"{":
        return
    if data[:4] == b"PK\x03\x04":
        kind = "a zip archive (what torch.save writes: pickle inside)"
    elif data[:1] == b"\x80":
        kind = "a pickle"
    else:
        kind = "not safetensors (header length or header start invalid)"
    raise CheckpointError(
        f"{path}: is {kind}; seqlab loads only safetensors and never unpickles — re-save the weights "
        "with seqlab (training/checkpoint.save_model) from a trusted source"
    )


def _parse_safetensors(path: Path, data: bytes) -> dict[str, torch.Tensor]:
    _check_safetensors_bytes(path, data)
    try:
        return safetensors.torch.load(data)
    except Exception as e:  # safetensors raises its own error types for bad headers
        raise CheckpointError(
            f"{path}: invalid safetensors header or data ({e}); the file is damaged or tampered with — "
            "restore it or retrain"
        ) from None


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------- RNG


def _get_rng_state() -> dict:
    np_state = np.random.get_state(legacy=False)
    return {
        "torch": torch.get_rng_state(),  # uint8 tensor
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": np_state,
        "python": random.getstate(),
    }


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        if len(state["cuda"]) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(state["cuda"])
        else:
            import warnings

            warnings.warn(
                f"resume checkpoint holds {len(state['cuda'])} CUDA RNG states but "
                f"{torch.cuda.device_count()} devices are visible; CUDA RNG not restored",
                stacklevel=3,
            )
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])


# ---------------------------------------------------------------- tree codec (JSON + named tensors)
# Tensors become {"__tensor__": name} with the tensor stored under that name; tuples, dicts with
# non-string keys, numpy arrays and non-finite floats get tagged forms so decoding restores them exactly.

_TAGS = ("__tensor__", "__tuple__", "__dict__", "__ndarray__", "__float__")


def _encode(obj, tensors: dict[str, torch.Tensor], path: tuple):
    if isinstance(obj, torch.Tensor):
        name = ".".join(map(str, path))
        if name in tensors:
            raise ValueError(f"two state entries flatten to the tensor name {name!r}; rename one")
        tensors[name] = obj
        return {"__tensor__": name}
    if obj is None or isinstance(obj, bool | int | str):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else {"__float__": repr(obj)}
    if isinstance(obj, np.generic):
        return _encode(obj.item(), tensors, path)
    if isinstance(obj, np.ndarray):
        return {"__ndarray__": obj.tolist(), "dtype": str(obj.dtype)}
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v, tensors, (*path, i)) for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [_encode(v, tensors, (*path, i)) for i, v in enumerate(obj)]
    if isinstance(obj, dict):
        if all(isinstance(k, str) and k not in _TAGS for k in obj):
            return {k: _encode(v, tensors, (*path, k)) for k, v in obj.items()}
        pairs = [[_encode(k, tensors, ()), _encode(v, tensors, (*path, k))] for k, v in obj.items()]
        return {"__dict__": pairs}
    raise TypeError(
        f"cannot store {type(obj).__name__} at {'.'.join(map(str, path)) or 'top level'} in a checkpoint; "
        "use tensors, numbers, strings, lists, tuples and dicts"
    )


def _decode(obj, tensors: dict[str, torch.Tensor], json_path: Path):
    if isinstance(obj, list):
        return [_decode(v, tensors, json_path) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if "__tensor__" in obj:
        if obj["__tensor__"] not in tensors:
            raise CheckpointError(f"{json_path}: names tensor {obj['__tensor__']!r} missing from the tensors")
        return tensors[obj["__tensor__"]]
    if "__tuple__" in obj:
        return tuple(_decode(v, tensors, json_path) for v in obj["__tuple__"])
    if "__dict__" in obj:
        return {_decode(k, tensors, json_path): _decode(v, tensors, json_path) for k, v in obj["__dict__"]}
    if "__ndarray__" in obj:
        return np.asarray(obj["__ndarray__"], dtype=np.dtype(obj["dtype"]))
    if "__float__" in obj:
        return float(obj["__float__"])
    return {k: _decode(v, tensors, json_path) for k, v in obj.items()}
