"""Every Python example in README.md runs, and the two set-up commands are the Makefile's."""

import os
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


@pytest.mark.parametrize("code", BLOCKS, ids=[f"example{i}" for i in range(len(BLOCKS))])
def test_readme_python_example_runs(code):
    exec(compile(code, "README.md", "exec"), {})


def test_readme_has_exactly_two_setup_commands_and_ci_uses_make_test():
    bash = re.findall(r"```bash\n(.*?)```", README.read_text(), re.S)
    assert [b.strip() for b in bash] == ["make run", "make test"]
    ci = (README.parent / ".ci" / "run").read_text()
    assert "make test" in ci


def _console_commands() -> list[str]:
    blocks = re.findall(r"```console\n(.*?)```", README.read_text(), re.S)
    return [line.strip() for b in blocks for line in b.splitlines() if line.strip().startswith("seqlab ")]


def test_readme_cli_examples_run(tmp_path):
    """Each `seqlab ...` line of README.md runs, in order, in a folder holding the files it names.

    Registered datasets come from a tiny offline data directory in the real NSMC layout; training commands
    get `--set train.max_steps=20 --no-progress` appended so the examples run in seconds.
    """
    import shlex
    import shutil
    import subprocess
    import sys

    from tests.test_cli import _reviews

    data = tmp_path / "data" / "nsmc"
    data.mkdir(parents=True)
    for name, n, seed in (("ratings_train.txt", 300, 0), ("ratings_test.txt", 100, 1)):
        rows = ["id\tdocument\tlabel"] + [f"{i}\t{t}\t{y}" for i, (t, y) in enumerate(_reviews(n, seed))]
        (data / name).write_text("\n".join(rows) + "\n", encoding="utf-8")
    for name, n, seed in (("reviews.csv", 200, 2), ("reviews_test.csv", 60, 3)):
        rows = ["review,label"] + [f"{t},{y}" for t, y in _reviews(n, seed)]
        (tmp_path / name).write_text("\n".join(rows) + "\n", encoding="utf-8")
    (tmp_path / "new_reviews.txt").write_text("영화 진짜 최고다\n스토리 최악\n", encoding="utf-8")
    shutil.copytree(README.parent / "configs", tmp_path / "configs")
    env = os.environ | {"SEQLAB_DATA_DIR": str(tmp_path / "data"), "OMP_NUM_THREADS": "1"}
    commands = _console_commands()
    assert any(c.startswith("seqlab train classify") for c in commands)
    for cmd in commands:
        args = shlex.split(cmd)[1:]
        if args[0] == "train":
            args += ["--set", "train.max_steps=20", "--no-progress"]
        r = subprocess.run([sys.executable, "-m", "seqlab.cli", *args], cwd=tmp_path, env=env, capture_output=True,
                           text=True, timeout=600)
        assert r.returncode == 0, f"{cmd}\n{r.stdout}\n{r.stderr}"
    assert (tmp_path / "predictions.jsonl").read_text(encoding="utf-8").count("\n") == 2
