"""Tagging readers: CoNLL-2003, CoNLL-U, token<TAB>tag, JSONL, KMOU; tag-scheme conversions; word vectors."""

from __future__ import annotations

import gzip
import itertools
import json

import pytest
from seqeval.metrics.sequence_labeling import get_entities

from seqlab.data import load
from seqlab.data.conll import (
    bio_to_bioes,
    bioes_to_bio,
    detect_scheme,
    entity_spans,
    iob1_to_bio,
    load_word_vectors,
    read_conll2003,
    read_conllu,
    read_kmou,
    read_tag_jsonl,
    read_tagged,
    read_token_tag,
    sniff_format,
)
from seqlab.errors import DataError

CONLL = """-DOCSTART- -X- O O

EU NNP I-NP I-ORG
rejects VBZ I-VP O
German JJ I-NP I-MISC
call NN I-NP O
. . O O

Peter NNP I-NP I-PER
Blackburn NNP I-NP I-PER
Smith NNP I-NP B-PER
"""

CONLLU = """# sent_id = 1
# text = I don't know.
1	I	I	PRON	PRP	_	3	nsubj	_	_
2-3	don't	_	_	_	_	_	_	_	_
2	do	do	AUX	VBP	_	4	aux	_	_
3	n't	not	PART	RB	_	4	advmod	_	_
3.1	know	know	VERB	VB	_	_	_	_	_
4	know	know	VERB	VB	_	0	root	_	SpaceAfter=No
5	.	.	PUNCT	.	_	4	punct	_	_

1	Hi	hi	INTJ	UH	_	0	root	_	_
"""

KMOU = """; 한석규가 서울에 왔다.\r
$<한석규:PS>가 <서울:LC>에 왔다.\r
1\t한\tNNP\tB_PS\r
1\t석규\tNNP\tI\r
1\t가\tJKS\tO\r
2\t서울\tNNP\tB_LC\r
2\t에\tJKB\tO\r
3\t오\tVV\tO\r
3\t았\tEP\tO\r
3\t다\tEF\tO\r
\r
"""


def _write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_conll2003_skips_docstart_and_converts_iob1_to_bio(tmp_path):
    corpus = read_conll2003(_write(tmp_path, "eng.train", CONLL))
    assert [s.tokens for s in corpus] == [("EU", "rejects", "German", "call", "."), ("Peter", "Blackburn", "Smith")]
    assert corpus[0].tags == ("B-ORG", "O", "B-MISC", "O", "O")
    assert corpus[1].tags == ("B-PER", "I-PER", "B-PER")  # B- between two adjacent PER entities stays
    assert corpus[1].lines == (9, 10, 11) and corpus.scheme == "bio"
    pos = read_conll2003(_write(tmp_path, "eng.train", CONLL), column="pos")
    assert pos[0].tags == ("NNP", "VBZ", "JJ", "NN", ".") and pos.scheme == "none"
    assert read_conll2003(_write(tmp_path, "eng.train", CONLL), column="chunk")[0].tags[:2] == ("B-NP", "B-VP")


def test_conll2003_column_count_mismatch_names_the_line(tmp_path):
    bad = CONLL.replace("call NN I-NP O", "call NN I-NP")
    with pytest.raises(DataError, match=r"eng.train:6: token/tag count mismatch: expected 4 .* got 3"):
        read_conll2003(_write(tmp_path, "eng.train", bad))
    with pytest.raises(DataError, match=r"eng.train:3: ner tag 'NNP' is not O, B-TYPE or I-TYPE"):
        read_conll2003(_write(tmp_path, "eng.train", CONLL.replace("I-ORG", "NNP")), column="ner")


def test_conllu_keeps_syntactic_words_and_skips_ranges_and_empty_nodes(tmp_path):
    corpus = read_conllu(_write(tmp_path, "x.conllu", CONLLU))
    assert corpus[0].tokens == ("I", "do", "n't", "know", ".")
    assert corpus[0].tags == ("PRON", "AUX", "PART", "VERB", "PUNCT")
    assert corpus[0].lines == (3, 5, 6, 8, 9) and corpus[1].tokens == ("Hi",)
    assert read_conllu(_write(tmp_path, "x.conllu", CONLLU), column="xpos")[0].tags[1] == "VBP"


@pytest.mark.parametrize("line,pattern", [
    ("4\tknow\tknow\tVERB\tVB\t_\t0\troot\t_", r"x.conllu:8: malformed CoNLL-U line: expected 10 .*got 9"),
    ("4 know know VERB VB _ 0 root _ _", r"x.conllu:8: malformed CoNLL-U line: .*got 1 \(spaces instead of tabs\?\)"),
    ("x\tknow\tknow\tVERB\tVB\t_\t0\troot\t_\t_", r"x.conllu:8: malformed CoNLL-U line: ID 'x'"),
    ("7\tknow\tknow\tVERB\tVB\t_\t0\troot\t_\t_", r"x.conllu:8: .*word ID 7 where 4 was expected"),
    ("4\tknow\tknow\t_\tVB\t_\t0\troot\t_\t_", r"x.conllu:8: word 'know' has no UPOS tag"),
])
def test_malformed_conllu_lines_are_named(tmp_path, line, pattern):
    bad = CONLLU.replace("4\tknow\tknow\tVERB\tVB\t_\t0\troot\t_\tSpaceAfter=No", line)
    with pytest.raises(DataError, match=pattern):
        read_conllu(_write(tmp_path, "x.conllu", bad))


def test_token_tag_file_and_count_mismatch(tmp_path):
    text = "Samsung\tB-ORG\nopened\tO\n\nAustin\tS-LOC\nTexas\tB-LOC\nUSA\tE-LOC\n"
    corpus = read_token_tag(_write(tmp_path, "a.tsv", text))
    assert corpus[0].tags == ("B-ORG", "O")
    assert corpus[1].tags == ("B-LOC", "B-LOC", "I-LOC")  # BIOES input rewritten as BIO
    with pytest.raises(DataError, match=r"a.tsv:2: token/tag count mismatch: expected token<TAB>tag, got a token "
                                        r"without a tag"):
        read_token_tag(_write(tmp_path, "a.tsv", "Samsung\tB-ORG\nopened\n"))
    with pytest.raises(DataError, match=r"a.tsv:1: token/tag count mismatch: .*got 3 tab-separated fields"):
        read_token_tag(_write(tmp_path, "a.tsv", "Samsung\tNNP\tB-ORG\n"))


def test_jsonl_count_mismatch(tmp_path):
    rows = [{"tokens": ["a", "b"], "tags": ["X", "Y"]}, {"tokens": ["a", "b", "c"], "tags": ["X", "Y"]}]
    path = _write(tmp_path, "d.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n")
    with pytest.raises(DataError, match=r"d.jsonl:2: token/tag count mismatch: 3 tokens but 2 tags"):
        read_tag_jsonl(path)
    assert read_tag_jsonl(_write(tmp_path, "e.jsonl", json.dumps(rows[0])))[0].tags == ("X", "Y")


def test_kmou_tags_become_typed_bio(tmp_path):
    corpus = read_kmou(_write(tmp_path, "ner.train", KMOU))
    assert corpus[0].tokens == ("한", "석규", "가", "서울", "에", "오", "았", "다")
    assert corpus[0].tags == ("B-PS", "I-PS", "O", "B-LC", "O", "O", "O", "O")
    assert corpus[0].lines[0] == 3
    with pytest.raises(DataError, match=r"ner.train:4: KMOU tag 'I' continues no entity"):
        read_kmou(_write(tmp_path, "ner.train", KMOU.replace("B_PS", "O")))
    with pytest.raises(DataError, match=r"ner.train:3: unknown KMOU NER tag 'B-PS'"):
        read_kmou(_write(tmp_path, "ner.train", KMOU.replace("B_PS", "B-PS")))


def test_format_sniffing(tmp_path):
    assert sniff_format(_write(tmp_path, "a.txt", CONLL)) == "conll"
    assert sniff_format(_write(tmp_path, "b.txt", CONLLU)) == "conllu"
    assert sniff_format(_write(tmp_path, "c.txt", "a\tB-X\n")) == "tsv"
    assert sniff_format(_write(tmp_path, "d.txt", KMOU)) == "kmou"
    gz = tmp_path / "e.conllu.gz"
    gz.write_bytes(gzip.compress(CONLLU.encode()))
    assert read_tagged(gz)[0].tokens[0] == "I"
    with pytest.raises(DataError, match="unknown tagging format 'xml'"):
        read_tagged(gz, format="xml")


def _random_bio(rng_seed: int, n: int) -> list[str]:
    import random

    rng = random.Random(rng_seed)
    return iob1_to_bio([rng.choice(["O", "B-A", "I-A", "B-B", "I-B"]) for _ in range(n)])


def test_scheme_conversions_round_trip_and_spans_match_seqeval():
    for seed in range(200):
        bio = _random_bio(seed, 1 + seed % 9)
        assert bioes_to_bio(bio_to_bioes(bio)) == bio
        # seqeval (the metric's own reader) as the independent oracle: (type, start, end inclusive)
        assert [(k, a, b - 1) for k, a, b in entity_spans(bio)] == get_entities(bio)
    assert bio_to_bioes(["B-A", "I-A", "I-A", "B-A", "O", "B-B"]) == ["B-A", "I-A", "E-A", "S-A", "O", "S-B"]
    assert iob1_to_bio(["I-A", "I-A", "I-B", "O", "I-A"]) == ["B-A", "I-A", "B-B", "O", "B-A"]
    assert [detect_scheme(t) for t in (["O", "B-X"], ["O", "S-X"], ["NN", "O"], [])] == ["bio", "bioes", "none",
                                                                                         "none"]


def test_word_vectors_with_and_without_header(tmp_path):
    vec = _write(tmp_path, "v.vec", "3 2\nThe 0.1 0.2\nthe 0.3 0.4\ncat 1 2\n")
    words, vecs = load_word_vectors(vec, normalize=str.lower)
    assert words == ["the", "cat"] and vecs == [[0.1, 0.2], [1.0, 2.0]]  # first vector of each normalised word
    glove = _write(tmp_path, "g.txt", "the 0.1 0.2 0.3\ncat 1 2 3\ndog 4 5 6\n")
    assert load_word_vectors(glove, max_words=2)[0] == ["the", "cat"]
    with pytest.raises(DataError, match=r"g.txt:2: expected a word and 3 numbers, got 2"):
        load_word_vectors(_write(tmp_path, "g.txt", "the 0.1 0.2 0.3\ncat 1 2\n"))
    with pytest.raises(DataError, match=r"g.txt:1: a vector value is not a number"):
        load_word_vectors(_write(tmp_path, "g.txt", "the 0.1 x 0.3\n"))


# ---- the real corpora (skipped when ../shared/data is absent) --------------------------------------------


def test_registered_corpora_read_with_their_published_sizes(data_dir):
    """Sizes from ../shared/data/README.md (sentences, words: CoNLL-U counts integer-ID lines)."""
    sizes = {("conll2003", "train"): (14041, 203621), ("conll2003", "test"): (3453, 46435),
             ("ud_english_ewt", "test"): (2077, 25094), ("ud_korean_gsd", "test"): (989, 11677),
             ("korean_ner_kmou", "train"): (2928, 114256), ("korean_ner_kmou", "test"): (366, 13799)}
    for (name, split), (sentences, tokens) in sizes.items():
        corpus = load(name, split, data_dir=data_dir)
        assert (len(corpus), sum(len(s.tokens) for s in corpus)) == (sentences, tokens), name
    ner = load("conll2003", "test", data_dir=data_dir)
    assert {t for s in ner for t in s.tags} == {"O"} | {f"{p}-{x}" for p, x in itertools.product("BI", ["PER", "LOC",
                                                                                                      "ORG", "MISC"])}
    kmou = load("korean_ner_kmou", "test", data_dir=data_dir)
    assert {t[2:] for s in kmou for t in s.tags if t != "O"} == {"PS", "LC", "OG", "DT", "TI"}
    assert all(iob1_to_bio(list(s.tags)) == list(s.tags) for s in kmou)  # well-formed BIO after conversion
