"""Every Python example in README.md runs, and the two set-up commands are the Makefile's."""

import os
import random
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


# ---------------------------------------------------------------------------------------------------------
# Tiny files in the real formats, so every README command runs offline in seconds

_WORDS = ("the island engineer settlers balloon colonists granite house smoke sea shore forest cave fire wind "
          "captain sailor dog reporter boy found built saw carried climbed lake river plateau north south").split()


def _gutenberg(n_lines: int, seed: int) -> str:
    """A Project Gutenberg eBook as Gutenberg ships it (BOM, CRLF, licence header and footer) around a body of
    random sentences."""
    rng = random.Random(seed)
    body = [" ".join(rng.choice(_WORDS) for _ in range(rng.randint(6, 12))).capitalize() + "." for _ in range(n_lines)]
    lines = ["The Project Gutenberg EBook of The Mysterious Island, by Jules Verne", "",
             "Title: The Mysterious Island", "",
             "*** START OF THIS PROJECT GUTENBERG EBOOK THE MYSTERIOUS ISLAND ***", "", "",
             "Produced by Anthony Matonak, and Trevor Carlson", "", "", "THE MYSTERIOUS ISLAND", "", *body, "", "",
             "End of the Project Gutenberg EBook of The Mysterious Island, by Jules Verne", "",
             "*** END OF THIS PROJECT GUTENBERG EBOOK THE MYSTERIOUS ISLAND ***", "", "Licence text.", ""]
    return "\ufeff" + "\r\n".join(lines)


_ENTITIES = {"PER": [("Peter", "Blackburn"), ("Anna",), ("Cyrus", "Smith")],
             "ORG": [("Samsung",), ("European", "Commission"), ("Reuters",)],
             "LOC": [("Austin",), ("Brussels",), ("Germany",)], "MISC": [("German",), ("British",)]}
_TEMPLATES = ("{PER} visited {LOC} on Monday .", "{ORG} opened a plant in {LOC} .", "{PER} joined {ORG} in {LOC} .",
              "{MISC} officials met {PER} .", "The {MISC} team beat {ORG} .")


def _conll2003(n: int, seed: int) -> str:
    """CoNLL-2003 columns (word POS chunk NER, IOB1 tags) with -DOCSTART- lines."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        if i % 10 == 0:
            out += ["-DOCSTART- -X- O O", ""]
        for word in rng.choice(_TEMPLATES).split():
            kind = word[1:-1] if word.startswith("{") else None
            for w in rng.choice(_ENTITIES[kind]) if kind else [word]:
                pos = "NNP" if kind else "." if w == "." else "VBD" if w.endswith("ed") else "NN"
                out.append(f"{w} {pos} I-NP {'I-' + kind if kind else 'O'}")
        out.append("")
    return "\n".join(out) + "\n"


_TOPICS = ("날씨", "영화", "점심", "주말", "공부", "운동", "여행", "음악", "회사", "친구", "커피", "게임")
_ASKS = [("오늘 {} 어때?", "{} 좋아요."), ("{} 추천해 줘", "{} 하나 추천해요."),
         ("{} 때문에 힘들어", "{} 잠깐 쉬어 보세요."), ("{} 좋아해?", "{} 정말 좋아해요."),
         ("{} 싫어", "{} 싫을 때도 있죠.")]


def _chatbot() -> str:
    """Chatbot_data_for_Korean's ChatbotData.csv: header Q,A,label, one question/answer pair per line."""
    rows = [f"{q.format(t)},{a.format(t)},{i % 3}" for i, (t, (q, a)) in
            enumerate((t, qa) for t in _TOPICS for qa in _ASKS)]
    return "Q,A,label\n" + "\n".join(rows) + "\n"


def _tatoeba() -> str:
    """ManyThings/Tatoeba kor.txt: English<TAB>Korean<TAB>attribution."""
    people = [("I", "나는"), ("You", "너는"), ("He", "그는"), ("She", "그녀는"), ("We", "우리는")]
    things = [("a student", "학생이다"), ("a teacher", "선생님이다"), ("a doctor", "의사다"), ("tired", "피곤하다"),
              ("happy", "행복하다"), ("busy", "바쁘다"), ("at home", "집에 있다"), ("hungry", "배고프다")]
    verb = {"I": "am", "You": "are", "We": "are"}
    rows = [f"{en} {verb.get(en, 'is')} {e}.\t{ko} {k}.\tCC-BY 2.0 (France) Attribution: tatoeba.org #{i}"
            for i, ((en, ko), (e, k)) in enumerate((p, t) for p in people for t in things)]
    return "\n".join(rows) + "\n"


def _prices(n: int, seed: int) -> str:
    """Daily OHLCV on weekdays (a random walk with drift), Yahoo-like columns without Adj Close."""
    import numpy as np

    rng = np.random.default_rng(seed)
    days = np.arange(np.datetime64("2020-01-01"), np.datetime64("2022-01-01"))
    days = days[np.is_busday(days)][:n]
    close = 50000 * np.exp(np.cumsum(rng.normal(3e-4, 0.015, n)))
    rows = ["Date,Open,High,Low,Close,Volume"]
    for d, c in zip(days, close, strict=True):
        o = c * (1 + rng.normal(0, 0.005))
        rows.append(f"{d},{o:.0f},{max(o, c) * 1.01:.0f},{min(o, c) * 0.99:.0f},{c:.0f},{rng.integers(10**6, 10**7)}")
    return "\n".join(rows) + "\n"


def _imdb(n: int, seed: int) -> str:
    """IMDb's CSV layout (file,rating,label,text): English reviews over ~3,000 invented words, enough distinct
    text for the presets' 20k BPE vocabulary to grow past the adaptive softmax's 2,000-token head."""
    rng = random.Random(seed)
    spell = random.Random(7)
    words = ["".join(spell.choice("abcdefghiklmnoprstuwy") for _ in range(3 + k % 6)) for k in range(3000)]
    cues = {1: ["great", "moving", "superb"], 0: ["awful", "boring", "dull"]}
    rows = ["file,rating,label,text"]
    for i in range(n):
        label = i % 2
        text = " ".join(rng.choice(words) for _ in range(rng.randint(20, 60))) + " " + rng.choice(cues[label])
        rows.append(f"{'pos' if label else 'neg'}/{i}_{8 if label else 2}.txt,{8 if label else 2},{label},\"{text}\"")
    return "\n".join(rows) + "\n"


def _write_task_data(data: Path, cwd: Path) -> None:
    """The registered datasets the Tasks section names, in their registry layout <name>/<file>, and prices.csv."""
    files = {"mysterious_island/1268-0.txt": _gutenberg(120, 0),
             "conll2003/eng.train": _conll2003(80, 0), "conll2003/eng.testa": _conll2003(20, 1),
             "conll2003/eng.testb": _conll2003(20, 2),
             "chatbot_data_ko/ChatbotData.csv": _chatbot(), "tatoeba_kor_eng/kor.txt": _tatoeba(),
             "imdb/imdb_train.csv": _imdb(1200, 0), "imdb/imdb_test.csv": _imdb(100, 1)}
    for rel, text in files.items():
        (data / rel).parent.mkdir(parents=True, exist_ok=True)
        (data / rel).write_text(text, encoding="utf-8", newline="")
    (cwd / "prices.csv").write_text(_prices(200, 0), encoding="utf-8")


# Test-only options that keep each run to seconds on the tiny data; what the README says is run as written.
_FAST = {
    ("train",): ["--set", "train.max_steps=20", "--no-progress"],
    ("train", "lm"): ["--set", "model.hidden_size=32", "--set", "data.window=20", "--set", "train.batch_size=8"],
    ("train", "classify", "--config", "configs/imdb.toml"): ["--set", "model.hidden_size=32"],  # = the LM's
    ("train", "tag"): ["--set", "model.hidden_size=16", "--set", "train.batch_size=8"],
    ("train", "seq2seq"): ["--set", "model.hidden_size=32", "--set", "model.embedding_dim=16",
                           "--set", "train.batch_size=8", "--set", "data.min_freq=1"],
    ("diagnose", "gradient-flow"): ["--length", "20", "--hidden-size", "16", "--batch-size", "8"],
}


def _test_args(args: list[str]) -> list[str]:
    return args + [a for key, extra in _FAST.items() if tuple(args[:len(key)]) == key for a in extra]


def _metrics(out: str) -> set[str]:
    import json

    return set(json.loads(out)["metrics"])


# What the Tasks section says a command prints, checked on its stdout (keyed by the start of the README line).
_PRINTS = {
    "seqlab evaluate runs/mi --json": lambda out: {"bpc", "perplexity"} <= _metrics(out),
    "seqlab generate runs/mi": lambda out: out.startswith("The island") and len(out) > len("The island") + 100,
    "seqlab forecast runs/stock": lambda out: all(w in out for w in ("persistence", "seasonal_naive", "arima")),
    "seqlab evaluate runs/stock": lambda out: re.search(r"(beats|does NOT (reliably )?beat) persistence", out),
    "seqlab evaluate runs/ner": lambda out: {"f1", "precision", "recall", "accuracy"} <= _metrics(out),
    "seqlab predict runs/ner": lambda out: "Samsung/" in out and "entities:" in out,
    "seqlab evaluate runs/chat": lambda out: "bleu" in out and "chrf" in out,
    "seqlab translate runs/ko-en": lambda out: len(out.splitlines()) == 4,  # the input, then the 3 best
}


def test_readme_cli_examples_run(tmp_path):
    """Each `seqlab ...` line of README.md runs, in order, in a folder holding the files it names.

    Registered datasets come from a tiny offline data directory in their real layouts and formats; training
    and diagnostics commands get the test-only options of ``_FAST`` (``--set train.max_steps=20 --no-progress``,
    smaller models) appended so the examples run in seconds.
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
    _write_task_data(tmp_path / "data", tmp_path)
    shutil.copytree(README.parent / "configs", tmp_path / "configs")
    env = os.environ | {"SEQLAB_DATA_DIR": str(tmp_path / "data"), "OMP_NUM_THREADS": "1"}
    commands = _console_commands()
    for task in ("classify", "lm", "forecast", "tag", "seq2seq"):
        assert any(c.startswith(f"seqlab train {task}") for c in commands), task
    checked = set()
    for cmd in commands:
        args = _test_args(shlex.split(cmd)[1:])
        r = subprocess.run([sys.executable, "-m", "seqlab.cli", *args], cwd=tmp_path, env=env, capture_output=True,
                           text=True, timeout=600)
        assert r.returncode == 0, f"{cmd}\n{r.stdout}\n{r.stderr}"
        for key in (k for k in _PRINTS if cmd.startswith(k)):
            assert _PRINTS[key](r.stdout), f"{cmd}\nunexpected output:\n{r.stdout}"
            checked.add(key)
    assert checked == set(_PRINTS), f"checked commands no longer in README.md: {set(_PRINTS) - checked}"
    assert (tmp_path / "predictions.jsonl").read_text(encoding="utf-8").count("\n") == 2
    for name in ("forecast.png", "att.png", "diag/gradient_flow.json"):
        assert (tmp_path / name).is_file(), name
