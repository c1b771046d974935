"""The C++ time loops (``csrc/loops.cpp``), built on first use with torch's extension builder.

The explicit engine runs its per-step recurrence either in Python (``bptt.py``: the plain-torch twin and
the readable reference) or in these C++ loops, which fuse each step's pointwise math into one pass and
remove the Python overhead between steps; both compute the same function (parity-tested).

Selection: ``SEQLAB_LOOPS=python`` (the default) or ``cpp`` (opt-in: built on first use, about a minute on 2
cores, cached under torch's extensions directory; if the build fails seqlab warns once and uses the Python
loop). The C++ loops are not the default yet because their scalar ``exp``/``tanh`` are slower than torch's
vectorised kernels: on LSTM B64 T100 H256 the C++ forward measured ~1.7 s vs ~0.84 s for the Python twin
(1 thread, shared machine). Vectorising them (``at::vec``) is the next step of the speed work.
"""

from __future__ import annotations

import functools
import os
import sys
import warnings
from pathlib import Path

import torch

__all__ = ["loops", "build", "enabled"]

_SRC = Path(__file__).with_name("csrc") / "loops.cpp"
_SUPPORTED = (torch.float32, torch.float64)


def enabled() -> bool:
    mode = os.environ.get("SEQLAB_LOOPS", "python")
    if mode not in ("cpp", "python"):
        raise ValueError(f"SEQLAB_LOOPS must be 'cpp' or 'python', got {mode!r}")
    return mode == "cpp"


@functools.cache
def build():
    """Compile (or load the cached build of) the C++ loops; None when they cannot be built here."""
    try:
        from torch.utils.cpp_extension import load

        _ninja_on_path()
        return load(name="seqlab_loops", sources=[str(_SRC)], extra_cflags=["-O3"], verbose=False)
    except Exception as e:  # a missing compiler must not break the engine: fall back to the Python loop
        warnings.warn(f"seqlab: C++ time loops unavailable, using the Python loop ({type(e).__name__}: {e})",
                      stacklevel=2)
        return None


def loops(x: torch.Tensor):
    """The C++ module if it should run for this input (CPU, float32/float64, enabled), else None."""
    if x.device.type != "cpu" or x.dtype not in _SUPPORTED or not enabled():
        return None
    return build()


def _ninja_on_path() -> None:
    """torch's builder calls `ninja`; the pip package puts it beside the interpreter, which may not be on PATH."""
    candidates = [str(Path(sys.executable).parent)]
    try:
        import ninja

        candidates.append(ninja.BIN_DIR)
    except ImportError:
        pass
    path = os.environ.get("PATH", "")
    missing = [c for c in candidates if c not in path.split(os.pathsep)]
    if missing:
        os.environ["PATH"] = os.pathsep.join([*missing, path])
