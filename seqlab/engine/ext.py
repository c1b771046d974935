"""The C++ time loops (``csrc/loops.cpp``), compiled with torch's extension builder.

The explicit engine runs its per-step recurrence either in Python (``bptt.py``: the plain-torch twin and
the readable reference) or in these C++ loops, which fuse each step's pointwise math into one vectorised
pass (ATen's AVX2 ``Vectorized`` with SLEEF exp/tanh) and remove the Python overhead between steps; both
compute the same function (parity-tested to 1e-12 in float64).

Selection, ``SEQLAB_LOOPS``: ``auto`` (the default) runs the C++ loops for CPU float32/float64 input when they
build here and the Python loops otherwise; ``cpp`` is the same; ``python`` always runs the Python twins. The
project's install step builds them once (``python -m seqlab.engine.build_loops``, about a minute on 2 cores, cached
under torch's extensions directory); without that they build on first use. If the build fails (no compiler)
seqlab warns once and uses the Python loops. Measured speeds: BENCHMARKS.md, "Engine speed".
"""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import sys
import warnings
from pathlib import Path

import torch

__all__ = ["loops", "build", "enabled", "simd_flags"]

_SRC = Path(__file__).with_name("csrc") / "loops.cpp"
_SUPPORTED = (torch.float32, torch.float64)


MODES = ("auto", "cpp", "python")


def enabled() -> bool:
    """Whether the C++ loops are wanted (``SEQLAB_LOOPS`` is ``auto`` or ``cpp``)."""
    mode = os.environ.get("SEQLAB_LOOPS", "auto")
    if mode not in MODES:
        raise ValueError(f"SEQLAB_LOOPS must be one of {', '.join(MODES)}; got {mode!r}")
    return mode != "python"


@functools.cache
def build():
    """Compile (or load the cached build of) the C++ loops; None when they cannot be built here."""
    try:
        from torch.utils.cpp_extension import load

        _ninja_on_path()
        # -fopenmp at compile time only: at::parallel_for's OpenMP pragmas (inline in ATen's headers) take
        # effect, and their GOMP calls bind to the OpenMP runtime torch already loaded, not a second one.
        flags = ["-O3", *simd_flags(), *openmp_flags()]
        # The name carries a hash of the source and flags: torch caches builds by name, so two checkouts (or
        # versions) of seqlab on one machine share a build when identical and never overwrite each other's.
        digest = hashlib.sha256(_SRC.read_bytes() + " ".join(flags).encode()).hexdigest()[:10]
        name = f"seqlab_loops_{digest}"
        return load(name=name, sources=[str(_SRC)], extra_cflags=flags, verbose=False)
    except Exception as e:  # a missing compiler must not break the engine: fall back to the Python loop
        warnings.warn(f"seqlab: C++ time loops unavailable, using the Python loop ({type(e).__name__}: {e})",
                      stacklevel=2)
        return None


def simd_flags() -> list[str]:
    """Compiler flags that turn on ATen's AVX2 vector path for the pointwise passes, where this CPU has it.

    Without them ``at::vec::Vectorized`` is ATen's portable scalar fallback: correct everywhere, slower.
    """
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return []
    if torch.backends.cpu.get_cpu_capability() not in ("AVX2", "AVX512"):
        return []
    return ["-mavx2", "-mfma", "-mf16c", "-DCPU_CAPABILITY_AVX2", "-DCPU_CAPABILITY=AVX2"]


def openmp_flags() -> list[str]:
    """Compile ATen's inline parallel_for as OpenMP when torch itself runs on OpenMP (Linux builds do)."""
    if sys.platform != "linux" or "OpenMP" not in torch.__config__.parallel_info():
        return []
    return ["-fopenmp"]


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
