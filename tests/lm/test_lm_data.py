"""LM corpora: readers (Gutenberg body, line endings, BOM), the positional split, the registered corpora."""

from __future__ import annotations

import gzip

import pytest

from seqlab.data import load
from seqlab.data.readers import read_corpus, read_gutenberg
from seqlab.errors import DataError
from seqlab.pipelines.lm import corpus_text, split_text

HEADER = ("The Project Gutenberg EBook of Tiny, by Someone\r\n\r\nThis eBook is for the use of anyone\r\n\r\n"
          "*** START OF THIS PROJECT GUTENBERG EBOOK TINY ***\r\n\r\n\r\nProduced by A. Transcriber\r\n\r\n\r\n")
BODY = "TINY\r\n\r\nChapter 1\r\n\r\n“Are we rising?” — the island.\r\nLast line.\r\n"
FOOTER = ("\r\n\r\nEnd of the Project Gutenberg EBook of Tiny, by Someone\r\n\r\n"
          "*** END OF THIS PROJECT GUTENBERG EBOOK TINY ***\r\n\r\nThe licence follows.\r\n")


def test_gutenberg_body_only_with_bom_and_crlf(tmp_path):
    path = tmp_path / "book.txt.gz"
    path.write_bytes(gzip.compress(("\ufeff" + HEADER + BODY + FOOTER).encode("utf-8")))
    text = read_gutenberg(path)
    assert text == BODY.replace("\r\n", "\n")
    assert "\r" not in text and "\ufeff" not in text and "Produced by" not in text and "licence" not in text


def test_gutenberg_without_markers_and_empty_corpora_are_data_errors(tmp_path):
    plain = tmp_path / "plain.txt"
    plain.write_text("just text\n")
    with pytest.raises(DataError, match=r"plain.txt: no '\*\*\* START OF"):
        read_gutenberg(plain)
    assert read_corpus(plain) == "just text\n"
    for content in (b"", b"\xef\xbb\xbf \r\n\n"):
        empty = tmp_path / "empty.txt"
        empty.write_bytes(content)
        with pytest.raises(DataError, match=r"empty.txt:1: file is empty"):
            read_corpus(empty)
    bad = tmp_path / "cp949.txt"
    bad.write_bytes("한국어\n".encode("cp949"))
    with pytest.raises(DataError, match=r"cp949.txt:1: invalid UTF-8"):
        corpus_text(str(bad))
    with pytest.raises(DataError, match=r"nope.txt: no such file"):
        corpus_text(str(tmp_path / "nope.txt"))


def test_split_is_by_position_disjoint_and_cut_at_line_starts():
    text = "".join(f"line {i:04d} of the corpus\n" for i in range(1000))
    spans = split_text(text, 0.05, 0.1)
    (a, b), (c, d), (e, f) = spans["train"], spans["val"], spans["test"]
    assert a == 0 and b == c and d == e and f == len(text) and spans["all"] == (0, len(text))
    assert text[c - 1] == "\n" and text[e - 1] == "\n"  # cuts at line starts
    assert abs((f - e) - 0.1 * len(text)) < 30 and abs((d - c) - 0.05 * len(text)) < 30
    no_lines = "x" * 5000
    assert split_text(no_lines, 0.05, 0.1)["test"] == (4500, 5000)  # no newline near: cut where asked
    assert split_text(text, 0.0, 0.1)["val"][0] == split_text(text, 0.0, 0.1)["val"][1]


def test_user_files_read_as_one_nfc_text(tmp_path):
    f = tmp_path / "ko.txt"
    f.write_bytes("첫 줄\r\n둘째 줄\r\n".encode())
    assert corpus_text(str(f)) == "첫 줄\n둘째 줄\n"
    decomposed = tmp_path / "nfd.txt"
    decomposed.write_text("\u1112\u1161\u11ab\n", encoding="utf-8")  # 한 as three jamo
    assert corpus_text(str(decomposed)) == "한\n"  # NFC: one syllable = one character


def test_registered_corpora(data_dir):
    mi = load("mysterious_island", "train", data_dir=data_dir)
    assert mi.startswith("THE MYSTERIOUS ISLAND\n") and mi.endswith("the name of Captain Nemo.\n")
    assert "\r" not in mi and "\ufeff" not in mi and "PROJECT GUTENBERG" not in mi.upper()
    ts = load("tiny_shakespeare", "train", data_dir=data_dir)
    assert len(ts) == 1_115_394 and ts.startswith("First Citizen:\n")  # the published character count
    spans = split_text(ts, 0.05, 0.1)
    assert spans["test"][0] - int(0.9 * len(ts)) in range(0, 200)  # nanoGPT's held-out: the last 10 %


def test_nsmc_reviews_as_a_korean_corpus(data_dir):
    text = corpus_text("nsmc", data_dir=data_dir)
    lines = text.split("\n")
    assert len(lines) == 149_995 + 1  # 150,000 reviews minus 5 empty ones, one per line
    hangul = sum("가" <= ch <= "힣" for ch in text[:100_000])
    assert hangul > 50_000


def test_a_cut_never_moves_to_the_end_of_the_text():
    one_line = "word " * 1000 + "\n"  # the only newline is the last character
    spans = split_text(one_line, 0.05, 0.1)
    assert spans["test"][1] - spans["test"][0] >= 500 and spans["val"][1] > spans["val"][0]
