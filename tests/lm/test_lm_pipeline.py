"""The LM pipeline through its Python API: subword and Korean corpora, random windows, held-out scoring."""

from __future__ import annotations

import json
import math

import pytest
from lm_corpora import SMALL

from seqlab.config import apply_overrides
from seqlab.errors import ConfigError, DataError
from seqlab.pipelines import lm


def _train(path, out, *extra):
    cfg = apply_overrides(lm.CONFIG(), [f"data.name={path}", *SMALL, *extra])
    return lm.train(cfg, out, progress=False, log=lambda msg: None)


def test_subword_model_reports_bits_per_character_not_per_token(corpora, tmp_path):
    summary = _train(corpora / "en.txt", tmp_path / "bpe", "data.tokenizer=subword", "data.vocab_size=80",
                     "train.epochs=3")
    r = lm.evaluate(tmp_path / "bpe")
    m = r["metrics"]
    text = lm.corpus_text(str(corpora / "en.txt"))
    a, b = lm.split_text(text, 0.05, 0.1)["test"]
    assert r["held_out"] and m["chars"] == b - a == r["characters"]
    assert m["tokens"] < 0.6 * m["chars"]  # subwords: fewer tokens than characters
    assert m["nats_per_char"] * m["chars"] == pytest.approx(m["loss"] * m["tokens"])  # one NLL, two normalisers
    assert m["bpc"] == pytest.approx(m["nats_per_char"] / math.log(2))
    assert m["perplexity"] == pytest.approx(math.exp(m["loss"]))
    assert m["bpc"] < 2.5  # learned: uniform over the 24 characters would be 4.6 bits
    val = lm.evaluate(tmp_path / "bpe", split="val")["metrics"]["bpc"]
    assert val == pytest.approx(summary["best_metric"], rel=1e-6)  # the trainer's validation is the same scoring
    meta = json.loads((tmp_path / "bpe" / "model.json").read_text())["meta"]
    assert meta["task"] == "lm" and meta["tokenizer"]["kind"] == "bpe" and meta["data"]["spans"]["test"] == [a, b]


def test_korean_characters_are_syllables_and_generation_writes_hangul(corpora, tmp_path):
    _train(corpora / "ko.txt", tmp_path / "ko", "train.epochs=3")
    model, meta, tok = lm.load_run(tmp_path / "ko")
    assert "섬" in tok.vocab.stoi and "ᄉ" not in tok.vocab.stoi  # one syllable, one token
    assert lm.evaluate(tmp_path / "ko")["metrics"]["bpc"] < 2.5
    text = "".join(lm.generate(tmp_path / "ko", "선장은 ", 60, temperature=0.5, seed=3))
    assert len(text) == 60 and sum("가" <= c <= "힣" for c in text) > 20
    scores = lm.predict(tmp_path / "ko", ["선장은 배를 보았다.", "다았보 를배 은장선."])
    assert scores[0]["bpc"] < scores[1]["bpc"]  # the grammatical order is more likely


def test_random_window_mode_trains_from_zero_states(corpora, tmp_path):
    summary = _train(corpora / "en.txt", tmp_path / "rand", "data.window_mode=random", "train.epochs=3")
    assert summary["best_metric"] < 2.5 and summary["steps"] == 3 * ((7228 - 1) // (8 * 20))


def test_generation_options_are_checked_and_unknown_prompt_characters_warned(corpora, tmp_path):
    _train(corpora / "en.txt", tmp_path / "en", "train.max_steps=5")
    for kw, match in (({"length": 0}, "--length"), ({"length": -3}, "--length"), ({"temperature": -1}, "--temp"),
                      ({"top_k": -1}, "--top-k"), ({"top_p": 0}, "--top-p"), ({"top_p": 1.5}, "--top-p")):
        with pytest.raises(ConfigError, match=match):
            lm.generate(tmp_path / "en", "the", **{"length": 5, **kw})
    warned = []
    out = "".join(lm.generate(tmp_path / "en", "the ξ island", 10, seed=0, warn=warned.append))
    assert len(out) == 10 and warned == ["1 prompt character(s) not in the model's vocabulary, read as <unk>: 'ξ'"]
    greedy = ["".join(lm.generate(tmp_path / "en", "the ", 30, temperature=0, seed=s)) for s in (1, 2)]
    assert greedy[0] == greedy[1]  # temperature 0: no randomness


def test_a_prompt_is_read_as_if_it_started_a_line(corpora, tmp_path, monkeypatch):
    """Generation primes the state on a newline first, as ``predict`` conditions on one (a stream-trained
    model can derail from a zero state mid-line): "X" continues exactly as "\nX" does."""
    _train(corpora / "en.txt", tmp_path / "en", "train.epochs=3")
    primed = []
    real = lm.sample
    monkeypatch.setattr(lm, "sample", lambda model, ids, *a, **k: primed.append(list(ids)) or real(model, ids, *a, **k))
    _, _, tok = lm.load_run(tmp_path / "en")
    nl = tok.token_to_id("\n")
    for temperature in (0, 0.8):
        bare = "".join(lm.generate(tmp_path / "en", "the island", 40, temperature=temperature, seed=4))
        line = "".join(lm.generate(tmp_path / "en", "\nthe island", 40, temperature=temperature, seed=4))
        assert bare == line and len(bare) == 40
    "".join(lm.generate(tmp_path / "en", "", 5, seed=4))
    assert primed[:2] == [[nl, *tok.encode("the island")]] * 2 and primed[-1] == [nl]  # never a doubled newline


def test_corpus_too_short_for_one_window_and_bad_split(corpora, tmp_path):
    short = tmp_path / "short.txt"
    short.write_text("a short text\n" * 3)
    with pytest.raises(DataError, match=r"short.txt:1: the training text is \d+ tokens, shorter than one window"):
        _train(short, tmp_path / "s", "data.window=100")
    _train(corpora / "en.txt", tmp_path / "en", "train.max_steps=2")
    with pytest.raises(DataError, match="split must be one of train, val, test, all"):
        lm.evaluate(tmp_path / "en", split="dev")
