"""Fixtures of the LM tests: small synthetic corpora (see lm_corpora.py)."""

from __future__ import annotations

import pytest
from lm_corpora import english, korean


@pytest.fixture(scope="session")
def corpora(tmp_path_factory):
    d = tmp_path_factory.mktemp("lm_corpora")
    (d / "en.txt").write_text(english(300, 0), encoding="utf-8")
    (d / "ko.txt").write_text(korean(300, 1), encoding="utf-8")
    return d
