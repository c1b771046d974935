"""Sentence-pair readers: formats, the registered corpora, and one clear error per bad line."""

from __future__ import annotations

import pytest

from seqlab.data import load
from seqlab.data.readers import read_pairs
from seqlab.errors import DataError


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_tsv_pairs_keep_text_and_line_numbers(tmp_path):
    p = _write(tmp_path, "p.tsv", "오늘 날씨 어때?\t맑아요.\textra\r\n\n안녕\t안녕하세요\n")
    r = read_pairs(p)
    expected = [("오늘 날씨 어때?", "맑아요.", 1), ("안녕", "안녕하세요", 3)]
    assert [(x.source, x.target, x.line) for x in r.pairs] == expected
    swapped = read_pairs(p, src_col="1", tgt_col="0")
    assert swapped.pairs[0].source == "맑아요."


def test_csv_and_jsonl_pairs(tmp_path):
    c = _write(tmp_path, "p.csv", 'Q,A,label\n"a, b",c,0\nd,"e\nf",1\n')
    assert [(x.source, x.target, x.line) for x in read_pairs(c).pairs] == [("a, b", "c", 2), ("d", "e\nf", 3)]
    assert read_pairs(c, src_col="A", tgt_col="Q").pairs[0].source == "c"
    j = _write(tmp_path, "p.jsonl", '{"source": "x", "target": "y"}\n\n{"source": "z", "target": "w"}\n')
    assert [(x.source, x.line) for x in read_pairs(j).pairs] == [("x", 1), ("z", 3)]


@pytest.mark.parametrize(
    ("name", "text", "kwargs", "message"),
    [
        ("a.tsv", "a\tb\nno tab here\n", {}, r"a.tsv:2: no tab on this line"),
        ("a.tsv", "a\tb\n\tb\n", {}, r"a.tsv:2: empty source \(column 0\)"),
        ("a.tsv", "a\tb\nc\t  \n", {}, r"a.tsv:2: empty target \(column 1\)"),
        ("a.tsv", "a\tb\nccccc\td\n", {"max_chars": 4}, r"a.tsv:2: source is 5 characters, over the limit of 4.*"
                                                        r"data.max_chars=5"),
        ("a.tsv", "a\tb\n", {"tgt_col": "2"}, r"a.tsv:1: found 2 tab-separated columns, need at least 3"),
        ("a.tsv", "a\tb\n", {"src_col": "Q"}, r"a.tsv: .*columns are 0-based indices"),
        ("a.tsv", "\n\n", {}, r"a.tsv: no pairs"),
        ("a.csv", "Q,A\nx,y,z\n", {}, r"a.csv:2: expected 2 comma-separated columns"),
        ("a.csv", "Q,A\nx,y\n", {"src_col": "question"}, r"a.csv:1: no column named 'question'"),
        ("a.jsonl", '{"source": "x"}\n', {}, r"a.jsonl:1: no key 'target'"),
        ("a.json", "{}", {}, r"cannot tell the format"),
    ],
)
def test_bad_pairs_files_name_file_line_and_fix(tmp_path, name, text, kwargs, message):
    with pytest.raises(DataError, match=message):
        read_pairs(_write(tmp_path, name, text), **kwargs)


def test_registered_corpora_read_offline(data_dir):
    chat = load("chatbot_data_ko", "train", data_dir=data_dir)
    assert len(chat.pairs) == 11823
    assert (chat.pairs[0].source, chat.pairs[0].target, chat.pairs[0].line) == ("12시 땡!", "하루가 또 가네요.", 2)
    tatoeba = load("tatoeba_kor_eng", "train", data_dir=data_dir)
    assert len(tatoeba.pairs) == 5749
    assert (tatoeba.pairs[0].source, tatoeba.pairs[0].target) == ("Go.", "가.")
