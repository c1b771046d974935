"""Shared fixtures: the offline data folder and a local HTTP server (tests never reach the internet)."""

from __future__ import annotations

import functools
import http.server
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
# read once at import: some tests clear SEQLAB_DATA_DIR to isolate the registry
_SHARED = Path(os.environ.get("SEQLAB_DATA_DIR") or REPO_ROOT.parent / "shared" / "data")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """$SEQLAB_DATA_DIR, else ../shared/data beside the repository; skip when neither exists."""
    path = _SHARED if _SHARED.is_absolute() else REPO_ROOT / _SHARED
    if not path.is_dir():
        pytest.skip(f"offline data folder {path} not found (set SEQLAB_DATA_DIR)")
    return path


class _Handler(http.server.SimpleHTTPRequestHandler):
    requests: list[str]

    def do_GET(self) -> None:
        self.requests.append(self.path)
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[Path, str, list[str]]]:
    """(folder served, its base URL on 127.0.0.1, the list of request paths seen)."""
    root = tmp_path / "served"
    root.mkdir()
    seen: list[str] = []
    handler = type("Handler", (_Handler,), {"requests": seen})
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(root))
    )
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
