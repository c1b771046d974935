"""Pretrain a language model on unlabeled text, then start a classifier from it (``model.init_from``; a
backward LM for the reverse direction: ``model.init_backward_from``), and the adaptive softmax that makes a
large subword vocabulary affordable for that language model."""

from __future__ import annotations

import json
import random

import pytest
import torch

from seqlab.config import RunConfig, apply_overrides
from seqlab.pipelines import classify, lm
from seqlab.training.checkpoint import load_model
from tests.test_cli import _reviews, seqlab  # synthetic reviews whose label is one cue word; the CLI runner

SIZE = ["model.cell=gru", "model.embedding_dim=16", "model.hidden_size=24"]
LM_SMALL = [*SIZE, "model.dropout=0", "data.window=20", "train.batch_size=8", "train.warmup_steps=5",
            "train.lr=1e-2", "data.tokenizer=bpe", "data.vocab_size=300", "train.epochs=2"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("transfer")
    rows = _reviews(400, 0)
    (d / "train.tsv").write_text("text\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in rows), encoding="utf-8")
    (d / "unlabeled.txt").write_text("".join(f"{t}\n" for t, _ in _reviews(600, 1)), encoding="utf-8")
    cfg = apply_overrides(lm.CONFIG(), [f"data.name={d / 'unlabeled.txt'}", *LM_SMALL])
    lm.train(cfg, d / "lm", progress=False, log=lambda msg: None)
    backward = apply_overrides(cfg, ["data.direction=backward", f"model.embedding_from={d / 'lm'}"])
    lm.train(backward, d / "lm_bw", progress=False, log=lambda msg: None)
    return d


def test_classifier_starts_from_the_language_model(files):
    out = files / "clf"
    r = seqlab("train", "classify", "--data", files / "train.tsv", "--text-col", "text", "--label-col", "label",
               "--out", out, "--no-progress", "--set", f"model.init_from={files / 'lm'}",
               *[a for s in SIZE for a in ("--set", s)], "--set", "train.epochs=2", "--set", "train.batch_size=16")
    assert "initialised from the language model" in r.stdout and "recurrent layer 0 (forward)" in r.stdout
    lm_meta = json.loads((files / "lm" / "model.json").read_text())["meta"]
    meta = json.loads((out / "model.json").read_text())["meta"]
    assert meta["tokenizer"] == lm_meta["tokenizer"]  # the LM's own subwords, not a newly trained vocabulary
    assert "accuracy" in json.loads(seqlab("evaluate", out, "--data", files / "train.tsv", "--text-col", "text",
                                           "--label-col", "label", "--json").stdout)["metrics"]


def test_init_copies_embedding_and_forward_layers_and_leaves_the_rest(files):
    state, meta = load_model(files / "lm")
    cfg = apply_overrides(RunConfig(), SIZE)
    torch.manual_seed(0)
    model = classify.Classifier(meta["vocab_size"], 2, cfg.model)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    copied = classify.init_from_language_model(model, state)
    assert copied == ["embedding", "recurrent layer 0 (forward)"]
    after = model.state_dict()
    for k, v in after.items():
        if k == "embedding.weight" or (k.startswith("rnn.") and not k.endswith("_reverse")):
            assert torch.equal(v, state[k]), k
        else:  # the reverse direction, pooling and output layer keep their own initialisation
            assert torch.equal(v, before[k]), k


def test_a_mismatched_or_wrong_run_is_one_line(files, tmp_path):
    base = ["train", "classify", "--data", files / "train.tsv", "--text-col", "text", "--label-col", "label",
            "--no-progress"]
    r = seqlab(*base, "--out", tmp_path / "a", "--set", f"model.init_from={files / 'lm'}", "--set",
               "model.hidden_size=32", check=False)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "model.hidden_size 24 there, 32 here" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    sizes = [a for s in SIZE for a in ("--set", s)]
    r = seqlab(*base, "--out", tmp_path / "b", "--set", f"model.init_from={files / 'clf'}", *sizes, check=False)
    assert r.returncode == 2 and "holds a 'classify' model" in r.stderr and "seqlab train lm" in r.stderr


def test_adaptive_softmax_language_model_end_to_end(tmp_path):
    """A 2,400-subword vocabulary (head of 2,000 plus a tail cluster): trains, scores held-out text and samples."""
    rng = random.Random(0)
    words = ["".join(rng.choice("abcdefghijklmnoprstuvwy") for _ in range(rng.randint(4, 8))) for _ in range(3000)]
    text = "".join(" ".join(rng.choice(words) for _ in range(10)) + "\n" for _ in range(3000))
    (tmp_path / "words.txt").write_text(text, encoding="utf-8")
    cfg = apply_overrides(lm.CONFIG(), [f"data.name={tmp_path / 'words.txt'}", *LM_SMALL, "data.vocab_size=2400",
                                        "model.softmax=adaptive", "train.epochs=1", "train.batch_size=32"])
    summary = lm.train(cfg, tmp_path / "lm", progress=False, log=lambda msg: None)
    meta = json.loads((tmp_path / "lm" / "model.json").read_text())["meta"]
    assert meta["vocab_size"] > 2001 and summary["best_metric"] < 4.6  # below uniform over the 23 letters
    m = lm.evaluate(tmp_path / "lm")["metrics"]
    assert m["bpc"] == pytest.approx(m["nats_per_char"] / 0.6931471805599453)
    assert len("".join(lm.generate(tmp_path / "lm", "ab", 20, seed=1))) > 0
    small = apply_overrides(lm.CONFIG(), [f"data.name={tmp_path / 'words.txt'}", *LM_SMALL, "model.softmax=adaptive"])
    with pytest.raises(Exception, match="use --set model.softmax=full"):
        lm.train(small, tmp_path / "small", progress=False, log=lambda msg: None)


def test_a_layer_is_copied_whole_or_not_at_all():
    """Layer 2 of a bidirectional classifier reads 2H features, the LM's reads H: that layer keeps its own
    weights entirely (its hidden-to-hidden matrix alone would fit, and must not be copied)."""
    from seqlab.tasks.lm import LanguageModel, LMModelConfig

    lm_model = LanguageModel(50, LMModelConfig(cell="gru", embedding_dim=16, hidden_size=24, num_layers=2))
    state = lm_model.state_dict()
    for bidirectional, expect in ((True, ["embedding", "recurrent layer 0 (forward)"]),
                                  (False, ["embedding", "recurrent layer 0 (forward)", "recurrent layer 1 (forward)"])):
        cfg = apply_overrides(RunConfig(), [*SIZE, "model.num_layers=2", f"model.bidirectional={bidirectional}"])
        model = classify.Classifier(50, 2, cfg.model)
        before = {k: v.clone() for k, v in model.state_dict().items()}
        assert classify.init_from_language_model(model, state) == expect
        after = model.state_dict()
        assert torch.equal(after["rnn.weight_hh_l1"], state["rnn.weight_hh_l1"] if not bidirectional
                           else before["rnn.weight_hh_l1"])


def test_backward_scoring_is_forward_scoring_of_the_reversed_text():
    """A backward model reads text right to left: with char tokens, scoring a span backward (conditioned on
    the character after it) equals scoring the mirrored span of the reversed text forward, for any weights."""
    from seqlab.data import train_and_encode
    from seqlab.tasks.lm import LanguageModel, LMModelConfig

    rng = random.Random(3)
    text = "".join(" ".join(rng.choice(["영화", "최고", "배우", "별로", "abc"]) for _ in range(8)) + "\n"
                   for _ in range(40))
    tok, _ = train_and_encode("char", [text], None, 1)
    torch.manual_seed(0)
    model = LanguageModel(tok.vocab_size, LMModelConfig(cell="lstm", embedding_dim=8, hidden_size=12)).eval()
    N = len(text)
    for a, b in ((0, 100), (57, 301), (200, N)):
        back = lm.score_split(model, tok, text, (a, b), 3, "backward")["metrics"]
        fwd = lm.score_split(model, tok, text[::-1], (N - b, N - a), 3, "forward")["metrics"]
        assert back["chars"] == fwd["chars"] == (b - a if b < N else b - a - 1)
        assert back["bpc"] == pytest.approx(fwd["bpc"], rel=1e-6)


def test_backward_lm_shares_the_forward_tokenizer_and_fixed_embedding(files):
    fw_state, fw_meta = load_model(files / "lm")
    bw_state, bw_meta = load_model(files / "lm_bw")
    assert bw_meta["config"]["data"]["direction"] == "backward" and bw_meta["tokenizer"] == fw_meta["tokenizer"]
    assert torch.equal(bw_state["embedding.weight"], fw_state["embedding.weight"])  # kept fixed while training
    assert not torch.equal(bw_state["rnn.weight_hh_l0"], fw_state["rnn.weight_hh_l0"])
    m = json.loads(seqlab("evaluate", files / "lm_bw", "--split", "val", "--json").stdout)["metrics"]
    assert 0 < m["bpc"] < 8  # below uniform over the 300 subwords
    r = seqlab("generate", files / "lm_bw", "--prompt", "영화", check=False)
    assert r.returncode == 2 and "backward language model" in r.stderr and "Traceback" not in r.stderr


def test_classifier_reverse_direction_starts_from_the_backward_lm(files, tmp_path):
    out = tmp_path / "clf"
    r = seqlab("train", "classify", "--data", files / "train.tsv", "--text-col", "text", "--label-col", "label",
               "--out", out, "--no-progress", "--set", f"model.init_from={files / 'lm'}",
               "--set", f"model.init_backward_from={files / 'lm_bw'}", "--set", "train.max_steps=1",
               "--set", "train.lr=1e-9", *[a for s in SIZE for a in ("--set", s)])
    assert "recurrent layer 0 (forward), recurrent layer 0 (reverse)" in r.stdout
    fw, _ = load_model(files / "lm")
    bw, _ = load_model(files / "lm_bw")
    got, _ = load_model(out)
    assert torch.allclose(got["rnn.weight_hh_l0"], fw["rnn.weight_hh_l0"], atol=1e-6)  # one step at lr 1e-9
    assert torch.allclose(got["rnn.weight_hh_l0_reverse"], bw["rnn.weight_hh_l0"], atol=1e-6)
    assert torch.allclose(got["embedding.weight"], fw["embedding.weight"], atol=1e-6)


@pytest.mark.parametrize("sets, message", [
    (["model.init_backward_from={bw}"], "needs model.init_from"),
    (["model.init_from={fw}", "model.init_backward_from={fw}"], "reads left to right"),
    (["model.init_from={bw}", "model.init_backward_from={bw}", "model.bidirectional=false"], "bidirectional=true"),
    (["model.init_from={other}", "model.init_backward_from={bw}"], "model.embedding_from="),
])
def test_a_wrong_backward_lm_is_one_line(files, tmp_path, sets, message):
    other = files / "lm_other"
    if not other.exists():  # a forward LM with its own embedding: the backward one was not trained against it
        cfg = apply_overrides(lm.CONFIG(), [f"data.name={files / 'unlabeled.txt'}", *LM_SMALL, "train.seed=2",
                                            "train.max_steps=2"])
        lm.train(cfg, other, progress=False, log=lambda msg: None)
    paths = {"fw": files / "lm", "bw": files / "lm_bw", "other": other}
    args = [a for s in [*SIZE, *(x.format(**paths) for x in sets)] for a in ("--set", s)]
    r = seqlab("train", "classify", "--data", files / "train.tsv", "--text-col", "text", "--label-col", "label",
               "--out", tmp_path / "x", "--no-progress", *args, check=False)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
