"""The pipeline in process: the held-out carve, tokenizers with <bos>/<eos>, a run that rebuilds itself from
model.json, evaluation on the recorded split, translation errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from seqlab.config import apply_overrides
from seqlab.errors import ConfigError, DataError
from seqlab.pipelines import seq2seq
from tests.seq2seq.helpers import fruit_pairs, write_pairs


def test_carve_is_deterministic_grouped_by_source_and_disjoint():
    sources = [f"s{i % 70}" for i in range(200)]  # every source appears 2-3 times
    a = seq2seq.carve_split(sources, 0.1, 0.2, seed=0)
    b = seq2seq.carve_split(sources, 0.1, 0.2, seed=0)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert sorted(np.concatenate(list(a.values())).tolist()) == list(range(200))
    groups = {k: {sources[i] for i in v} for k, v in a.items()}
    assert not groups["test"] & groups["train"] and not groups["val"] & groups["train"]
    assert not groups["test"] & groups["val"]
    assert (len(groups["test"]), len(groups["val"])) == (7, 14)  # fractions of the 70 distinct sources
    assert not np.array_equal(seq2seq.carve_split(sources, 0.1, 0.2, seed=1)["test"], a["test"])
    with pytest.raises(DataError, match="only 2 distinct sources"):
        seq2seq.carve_split(["a", "b", "a"], 0.1, 0.1, seed=0)
    with pytest.raises(ConfigError, match=r"data.test_fraction must be in \(0, 1\)"):
        seq2seq.carve_split(sources, 1.0, 0.1, seed=0)


@pytest.mark.parametrize("kind", ["char", "word", "bpe"])
def test_tokenizers_reserve_pad_unk_bos_eos(kind):
    texts = ["apple banana", "grape apple", "plum"] * 5
    tok, ids = seq2seq.train_tokenizer(kind, texts, vocab_size=60, min_freq=1)
    assert [tok.token_to_id(s) for s in seq2seq.SPECIALS] == [0, 1, 2, 3]
    assert ids == tok.encode_batch(texts)
    assert tok.decode(ids[0] + [3]) == "apple banana"  # <eos> is dropped by decode


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("s2s")
    write_pairs(d / "fruit.tsv", fruit_pairs(120, seed=0))
    cfg = apply_overrides(seq2seq.CONFIG(), [
        f"data.name={d / 'fruit.tsv'}", "data.tokenizer=word", "data.min_freq=1", "data.shared_vocab=true",
        "model.attention=none", "model.hidden_size=8", "model.embedding_dim=8", "train.epochs=1",
        "train.batch_size=32", "train.num_threads=1", "decode.beam_size=2", "decode.max_len=6"])
    summary = seq2seq.train(cfg, d / "run", progress=False, log=lambda *a: None)
    return d, summary


def test_run_records_its_split_and_rebuilds_from_model_json(tiny_run, tmp_path):
    d, summary = tiny_run
    meta = json.loads((d / "run" / "model.json").read_text())["meta"]
    assert meta["task"] == "seq2seq" and meta["shared_vocab"] and meta["tgt_tokenizer"] is None
    assert len(meta["split"]["test_lines"]) == summary["split"]["test"] > 0
    run = seq2seq.load_run(d / "run")
    assert run.src_tok is run.tgt_tok and run.cfg.model.attention == "none"
    r = seq2seq.evaluate(d / "run", beam=1)
    assert r["examples"] == summary["split"]["test"] and r["split"] == "test"
    assert {"bleu", "chrf", "loss", "perplexity"} <= set(r["metrics"])
    assert r["decode"]["beam_size"] == 1
    other = tmp_path / "other.tsv"  # any other file is scored whole
    other.write_bytes((d / "fruit.tsv").read_bytes())
    whole = seq2seq.evaluate(d / "run", data=str(other), limit=10)
    assert (whole["split"], whole["examples"], whole["decode"]["beam_size"]) == ("all", 10, 2)


def test_evaluate_refuses_data_that_changed_since_training(tiny_run, tmp_path):
    d, _ = tiny_run
    original = (d / "fruit.tsv").read_text(encoding="utf-8")
    try:
        write_pairs(d / "fruit.tsv", fruit_pairs(120, seed=9))
        with pytest.raises(DataError, match="the data differ from what this run was trained on"):
            seq2seq.evaluate(d / "run")
    finally:
        (d / "fruit.tsv").write_text(original, encoding="utf-8")


def test_translate_checks_its_inputs(tiny_run):
    d, _ = tiny_run
    out = seq2seq.translate(d / "run", ["사과 포도"], nbest=2)
    assert set(out[0]) >= {"text", "translation", "score", "logprob", "finished", "nbest"}
    assert len(out[0]["nbest"]) == 2
    assert seq2seq.format_prediction(seq2seq.predict(d / "run", ["사과"])[0]).endswith("\t사과")
    with pytest.raises(DataError, match="input 2 is empty"):
        seq2seq.translate(d / "run", ["사과", "  "])
    with pytest.raises(DataError, match="input 1 is 1001 characters"):
        seq2seq.translate(d / "run", ["가" * 1001])
    with pytest.raises(ConfigError, match="trained without attention"):
        seq2seq.translate(d / "run", ["사과"], attention=True)


def test_romanized_labels_when_no_korean_font():
    assert seq2seq.romanize("오늘 날씨/NNG") == "oneul nalssi/NNG"
    assert seq2seq.romanize("<eos>") == "<eos>"
