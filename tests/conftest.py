import os
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]

# Small tensors everywhere: one intra-op thread is faster and keeps runs repeatable.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The offline dataset directory (SEQLAB_DATA_DIR, else ../shared/data next to the repo)."""
    d = Path(os.environ.get("SEQLAB_DATA_DIR", ROOT.parent / "shared" / "data"))
    if not d.is_dir():
        pytest.skip(f"offline data directory {d} not present")
    return d
