"""Every Python example in README.md runs, and the two set-up commands are the Makefile's."""

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
