"""`seqlab train tag`, `seqlab evaluate` and `seqlab predict` on tagging runs, as a user runs them (subprocesses)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys

import pytest

ENV = os.environ | {"PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
TINY = ["--no-progress", "--set", "model.word_dim=16", "--set", "model.char_dim=8", "--set", "model.char_hidden=8",
        "--set", "model.hidden_size=16", "--set", "model.dropout=0.1", "--set", "train.batch_size=16",
        "--set", "train.lr=0.02", "--set", "train.warmup_steps=5", "--set", "train.seed=3"]
PEOPLE = ["Ann Lee", "Bo", "Cy De Ek", "Max Ford", "Una"]
PLACES = ["Paris", "New York", "Oslo", "Buenos Aires"]
ORGS = ["Acme", "Blue Sky Corp", "Initech"]


def seqlab(*args, check=True, timeout=300):
    r = subprocess.run([sys.executable, "-m", "seqlab.cli", *map(str, args)], capture_output=True, text=True,
                       timeout=timeout, env=ENV)
    if check:
        assert r.returncode == 0, r.stdout + r.stderr
    return r


def _train_in_process(data, out, *sets: str) -> dict:
    """`seqlab train tag` without a subprocess (the CLI itself is exercised by the NER fixture)."""
    from seqlab.config import apply_overrides
    from seqlab.pipelines import tag

    overrides = [f"data.name={data}"] + [TINY[i + 1] for i in range(len(TINY)) if TINY[i] == "--set"] + list(sets)
    return tag.train(apply_overrides(tag.CONFIG(), overrides), out, progress=False, log=lambda *a: None)


def _ner_sentences(n: int, seed: int) -> list[list[tuple[str, str]]]:
    rng = random.Random(seed)
    templates = ["{PER} works for {ORG} in {LOC} .", "{PER} visited {LOC} .", "{ORG} hired {PER} .",
                 "the office of {ORG} is in {LOC} ."]
    out = []
    for _ in range(n):
        rows = []
        for word in rng.choice(templates).split():
            if word.startswith("{"):
                kind = word[1:4]
                name = rng.choice({"PER": PEOPLE, "LOC": PLACES, "ORG": ORGS}[kind]).split()
                rows += [(w, ("B-" if i == 0 else "I-") + kind) for i, w in enumerate(name)]
            else:
                rows.append((word, "O"))
        out.append(rows)
    return out


def _tsv(path, sentences) -> None:
    path.write_text("\n\n".join("\n".join(f"{w}\t{t}" for w, t in s) for s in sentences) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("tagcli")
    _tsv(d / "train.tsv", _ner_sentences(150, 0))
    _tsv(d / "test.tsv", _ner_sentences(40, 1))
    vocab = sorted({w.lower() for s in _ner_sentences(150, 0) for w, _ in s})[:10] + ["zebra"]
    rng = random.Random(2)
    lines = [f"{len(vocab)} 4"] + [w + " " + " ".join(f"{rng.uniform(-1, 1):.3f}" for _ in range(4)) for w in vocab]
    (d / "vectors.vec").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return d


@pytest.fixture(scope="module")
def ner_run(files):
    out = files / "ner"
    r = seqlab("train", "tag", "--data", files / "train.tsv", "--out", out, "--embeddings", files / "vectors.vec",
               *TINY, "--set", "train.epochs=6", "--set", "data.scheme=bioes")
    assert "best validation f1" in r.stdout
    assert "pretrained vectors cover" in r.stdout and "model.word_dim 16 -> 4" in r.stdout
    meta = json.loads((out / "model.json").read_text())["meta"]
    assert meta["task"] == "tag" and meta["scheme"] == "bioes" and meta["embeddings"]["vectors"] == 11
    assert meta["config"]["model"]["word_dim"] == 4 and "S-PER" in meta["tags"]
    assert "zebra" in meta["words"]["itos"]  # pretrained words join the vocabulary
    return out


def test_evaluate_json_reports_entity_f1(ner_run, files):
    r = seqlab("evaluate", ner_run, "--data", files / "test.tsv", "--json")
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert (result["task"], result["split"], result["sentences"]) == ("tag", "test", 40)
    assert result["metrics"]["f1"] > 0.9 and set(result["report"]) == {"PER", "LOC", "ORG"}


def test_evaluate_prints_a_per_type_report(ner_run, files):
    out = seqlab("evaluate", ner_run, "--data", files / "test.tsv").stdout
    result = json.loads(seqlab("evaluate", ner_run, "--data", files / "test.tsv", "--json").stdout)
    assert f"entity F1 {result['metrics']['f1']:.4f}" in out
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[4:] if line.strip()}
    assert set(rows) == {"PER", "LOC", "ORG"}
    for tag, (precision, recall, f1, support) in rows.items():  # the table is the JSON report, rounded
        want = result["report"][tag]
        assert (float(precision), float(recall), float(f1)) == tuple(round(want[k], 4) for k in
                                                                    ("precision", "recall", "f1"))
        assert int(support.replace(",", "")) == want["support"]


def test_predict_prints_tags_and_entity_spans(ner_run, files):
    r = seqlab("predict", ner_run, "Max Ford works for Initech in Buenos Aires .", "   ")
    first, second, empty = r.stdout.splitlines()[:3]
    assert first.startswith("Max/B-PER Ford/I-PER works/O for/O Initech/B-ORG")
    assert "[PER] Max Ford" in second and "[ORG] Initech" in second and "[LOC] Buenos Aires" in second
    assert empty == "(no tokens)"
    from seqlab.pipelines.tag import predict

    (p,) = predict(ner_run, ["Una visited Oslo ."])
    assert p["tags"] == ["B-PER", "O", "B-LOC", "O"]
    assert p["entities"] == [{"text": "Una", "type": "PER", "start": 0, "end": 3},
                             {"text": "Oslo", "type": "LOC", "start": 12, "end": 16}]


def test_pos_run_reports_accuracy(files):
    rng = random.Random(5)
    lexicon = {"DET": ["the", "a"], "NOUN": ["cat", "dog", "plan"], "VERB": ["saw", "likes"], "PUNCT": ["."]}
    blocks = []
    for _ in range(120):
        pattern = ["DET", "NOUN", "VERB", "DET", "NOUN", "PUNCT"]
        words = [rng.choice(lexicon[t]) for t in pattern]
        pairs = enumerate(zip(words, pattern, strict=True), 1)
        rows = [f"{i}\t{w}\t{w}\t{t}\t_\t_\t0\tdep\t_\t_" for i, (w, t) in pairs]
        blocks.append("# text = " + " ".join(words) + "\n" + "\n".join(rows))
    (files / "pos.conllu").write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
    from seqlab.pipelines.tag import build_model, evaluate, format_prediction, predict
    from seqlab.training.checkpoint import load_model

    out = files / "pos"
    summary = _train_in_process(files / "pos.conllu", out, "train.epochs=4", "model.char_encoder=cnn")
    assert summary["metric"] == "accuracy"
    assert build_model(load_model(out)[1]).crf is None  # decoder auto: softmax for tags without a BIO scheme
    result = evaluate(out, str(files / "pos.conllu"))
    assert result["metrics"]["accuracy"] > 0.95 and "f1" not in result["metrics"]

    (p,) = predict(out, ["a dog likes the plan ."])
    assert format_prediction(p) == "a/DET dog/NOUN likes/VERB the/DET plan/NOUN ./PUNCT" and "entities" not in p


def _assert_user_error(r, *fragments):
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    for f in fragments:
        assert f in r.stderr, r.stderr


def test_bad_inputs_fail_with_one_line_naming_file_and_line(files, ner_run):
    bad = files / "bad.tsv"
    bad.write_text("Ann\tB-PER\nvisited\nOslo\tB-LOC\n", encoding="utf-8")
    r = seqlab("train", "tag", "--data", bad, "--out", files / "x", *TINY, check=False)
    _assert_user_error(r, f"{bad}:2: token/tag count mismatch")
    conllu = files / "bad.conllu"
    conllu.write_text("1\tHi\thi\tINTJ\tUH\t_\t0\troot\t_\n", encoding="utf-8")
    r = seqlab("train", "tag", "--data", conllu, "--out", files / "x", *TINY, check=False)
    _assert_user_error(r, f"{conllu}:1: malformed CoNLL-U line: expected 10 tab-separated fields")
    unknown = files / "unknown.tsv"
    unknown.write_text("Ann\tB-PER\nvisited\tO\n\nOslo\tB-CITY\n", encoding="utf-8")
    r = seqlab("evaluate", ner_run, "--data", unknown, "--json", check=False)
    _assert_user_error(r, f"{unknown}:4: unknown tag 'B-CITY'")
    assert len(r.stderr.strip().splitlines()) == 1


def test_korean_ner_on_kiwi_morphemes(files):
    """A KMOU-format corpus (morphemes, B_PS / I / O tags): predict analyses raw Korean text with Kiwi the same
    way and reports entity spans over the original characters."""
    from seqlab.pipelines.tag import format_prediction, predict, tokenize

    rng = random.Random(7)
    names, places = ["김민수", "박지수", "최유나", "정하나"], ["서울", "부산", "대전", "광주"]
    blocks = []
    for _ in range(120):
        name, place, month = rng.choice(names), rng.choice(places), rng.randint(1, 12)
        text = rng.choice([f"{name}가 {month}월에 {place}에 갔다.", f"{place}에서 {name}가 일했다."])
        entities = [(name, "PS"), (place, "LC")] + ([(f"{month}월", "DT")] if "월" in text else [])
        spans = {text.index(surface): (kind, text.index(surface) + len(surface)) for surface, kind in entities}
        lines, inside_until = [], -1  # morphemes starting before `inside_until` continue the open entity
        for form, start, _ in tokenize(text, "kiwi"):
            if start in spans:
                tag, inside_until = f"B_{spans[start][0]}", spans[start][1]
            else:
                tag = "I" if start < inside_until else "O"
            lines.append(f"{text[:start].count(' ') + 1}\t{form}\tNNG\t{tag}")
        blocks.append(f"; {text}\n${text}\n" + "\n".join(lines))
    (files / "ko.ner").write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
    out = files / "ko"
    _train_in_process(files / "ko.ner", out, "train.epochs=5")
    assert json.loads((out / "model.json").read_text())["meta"]["tokenize"] == "kiwi"
    (p,) = predict(out, ["최유나가 7월에 부산에 갔다."])
    assert p["tokens"][:4] == ["최유나", "가", "7", "월"]
    assert format_prediction(p).splitlines()[1] == "  entities: [PS] 최유나  [DT] 7월  [LC] 부산"
    assert p["entities"][0] == {"text": "최유나", "type": "PS", "start": 0, "end": 3}


def test_train_on_dev_trains_on_both_splits_and_keeps_the_last_weights(tmp_path):
    """data.train_on_dev: the dev sentences join training, nothing is validated, the final weights are saved."""
    from seqlab.errors import ConfigError
    from seqlab.pipelines import tag

    root = tmp_path / "data" / "conll2003"
    root.mkdir(parents=True)
    for name, n, seed in (("eng.train", 60, 0), ("eng.testa", 20, 1), ("eng.testb", 20, 2)):
        lines = ["-DOCSTART- -X- -X- O", ""]
        for s in _ner_sentences(n, seed):
            lines += [f"{w} NNP I-NP {'O' if t == 'O' else 'I-' + t[2:]}" for w, t in s] + [""]
        (root / name).write_text("\n".join(lines), encoding="utf-8")
    r = seqlab("train", "tag", "--data", "conll2003", "--data-dir", tmp_path / "data", "--out", tmp_path / "run",
               *TINY, "--set", "train.epochs=2", "--set", "data.train_on_dev=true")
    # 80 sentences in batches of 16, two epochs: the weights of the last step are kept
    assert "no validation data: the final weights are kept; 10 steps" in r.stdout
    meta = json.loads((tmp_path / "run" / "model.json").read_text())["meta"]
    assert meta["data"]["train_sentences"] == 80 and meta["data"]["val_sentences"] == 0
    assert tag.evaluate(tmp_path / "run", split="test", data_dir=tmp_path / "data")["metrics"]["f1"] >= 0
    with pytest.raises(ConfigError, match="needs a registered dataset with a dev split"):
        _train_in_process(tmp_path / "x.tsv", tmp_path / "bad", "data.train_on_dev=true")
