"""Readers: the real NSMC / IMDb files, every bad-input case (with its exact file:line), labels."""

from __future__ import annotations

import csv
import gzip
import io
import json
import tarfile
from collections import Counter
from pathlib import Path

import pytest

from seqlab.data.readers import LabelSet, read_examples, read_imdb, read_nsmc
from seqlab.errors import DataError

NSMC_HEADER = "id\tdocument\tlabel\n"


def write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


# ---------------------------------------------------------------------------------------------------------
# The real files (README counts)


@pytest.mark.parametrize(
    ("split", "rows", "empty", "negative", "positive"),
    [("train", 150_000, 5, 75_173, 74_827), ("test", 50_000, 3, 24_827, 25_173)],
)
def test_nsmc_real_files(shared_data, split, rows, empty, negative, positive):
    result = read_nsmc(shared_data / "nsmc" / f"ratings_{split}.txt.gz")
    assert len(result) + result.skipped == rows
    assert result.skipped == empty
    # README label counts include the empty documents; their labels are on the skipped lines
    skipped_labels = Counter(
        _nsmc_label_at(shared_data / "nsmc" / f"ratings_{split}.txt.gz", result.skipped_lines)
    )
    assert Counter(result.labels) + skipped_labels == Counter({"0": negative, "1": positive})
    assert result.examples[-1].line == rows + 1  # header is line 1
    quoted = sum('"' in t for t in result.texts)  # quoting disabled: quotes survive verbatim
    assert quoted == {"train": 623, "test": 233}[split]


def _nsmc_label_at(path: Path, lines: list[int]) -> list[str]:
    all_lines = gzip.decompress(path.read_bytes()).decode().split("\n")
    return [all_lines[n - 1].split("\t")[2] for n in lines]


@pytest.mark.parametrize("split", ["train", "test"])
def test_imdb_real_csv(shared_data, split):
    result = read_imdb(shared_data / "imdb" / f"imdb_{split}.csv.gz")
    assert len(result) == 25_000 and result.skipped == 0
    assert Counter(result.labels) == {"1": 12_500, "0": 12_500}
    assert result.examples[0].label == "1" and result.examples[-1].label == "0"  # pos first, then neg


# ---------------------------------------------------------------------------------------------------------
# IMDb layouts agree: CSV conversion, extracted folders, original tar archive

REVIEWS = {
    "train/pos/10_9.txt": 'Great film.<br /><br />Loved it, "truly".',
    "train/pos/2_7.txt": "Good\tenough.",
    "train/neg/0_3.txt": "Dull, slow.\nBad.",
    "train/neg/1_1.txt": "Awful 영화.",
    "test/pos/0_10.txt": "Wonderful.",
    "test/neg/0_2.txt": "Terrible.",
    "train/unsup/0_0.txt": "ignored",
}


def _imdb_tree(root: Path) -> Path:
    for rel, text in REVIEWS.items():
        path = root / "aclImdb" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root / "aclImdb"


def test_imdb_csv_folder_and_archive_agree(tmp_path):
    acl = _imdb_tree(tmp_path)
    archive = tmp_path / "aclImdb_v1.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(acl, arcname="aclImdb")
    csv_text = io.StringIO()
    writer = csv.writer(csv_text, lineterminator="\n")
    writer.writerow(["file", "rating", "label", "text"])
    for rel in ["train/pos/2_7.txt", "train/pos/10_9.txt", "train/neg/0_3.txt", "train/neg/1_1.txt"]:
        writer.writerow([rel, rel.split("_")[1][:-4], "1" if "/pos/" in rel else "0", REVIEWS[rel]])
    csv_path = write(tmp_path / "imdb_train.csv", csv_text.getvalue())

    expected = [
        (REVIEWS[r], lab)
        for r, lab in [
            ("train/pos/2_7.txt", "1"),
            ("train/pos/10_9.txt", "1"),
            ("train/neg/0_3.txt", "0"),
            ("train/neg/1_1.txt", "0"),
        ]
    ]
    for result in (
        read_imdb(csv_path),
        read_imdb(acl / "train"),
        read_imdb(acl, "train"),
        read_imdb(archive, "train"),
    ):
        assert [(e.text, e.label) for e in result] == expected
    assert [e.text for e in read_imdb(archive, "test")] == ["Wonderful.", "Terrible."]
    assert read_imdb(csv_path).examples[2].line == 4  # the record's first line (its text spans two)


def test_imdb_archive_needs_a_split(tmp_path):
    archive = tmp_path / "aclImdb_v1.tar.gz"
    with tarfile.open(archive, "w:gz"):
        pass
    with pytest.raises(DataError, match=r"split must be 'train' or 'test', got None; pass split="):
        read_imdb(archive)


# ---------------------------------------------------------------------------------------------------------
# Bad input: what, where (file:line), fix


def test_missing_file(tmp_path):
    path = tmp_path / "nope.tsv"
    with pytest.raises(DataError) as err:
        read_examples(path)
    assert str(err.value).startswith(f"{path}: file not found; check the path")


@pytest.mark.parametrize("content", ["", "\n"])
def test_empty_file(tmp_path, content):
    path = write(tmp_path / "reviews.csv", content)
    with pytest.raises(DataError) as err:
        read_examples(path)
    assert str(err.value).startswith(f"{path}:1: file is empty: expected a header line")


def test_header_only_file(tmp_path):
    path = write(tmp_path / "reviews.csv", "text,label\n")
    with pytest.raises(DataError, match=r":1: no examples: a header but no data rows"):
        read_examples(path)


def test_wrong_column_count_tsv(tmp_path):
    path = write(tmp_path / "reviews.tsv", NSMC_HEADER + "1\tgood\t1\n2\tno label here\n")
    with pytest.raises(DataError) as err:
        read_nsmc(path)
    assert str(err.value).startswith(
        f"{path}:3: expected 3 tab-separated columns (id, document, label), found 2"
    )
    assert (err.value.file, err.value.line) == (str(path), 3)


def test_extra_tab_names_the_likely_cause(tmp_path):
    path = write(tmp_path / "reviews.tsv", NSMC_HEADER + "1\tgood\t1\n2\tcut\there\t0\n")
    with pytest.raises(DataError) as err:
        read_nsmc(path)
    assert str(err.value) == (
        f"{path}:3: expected 3 tab-separated columns (id, document, label), found 4; "
        "a field contains a tab; remove it"
    )


def test_unclosed_quote_is_reported_where_the_record_starts(tmp_path):
    path = write(tmp_path / "reviews.csv", 'text,label\nfine,1\n"never closed,0\nnext,1\n')
    with pytest.raises(DataError) as err:
        read_examples(path)
    assert str(err.value).startswith(f"{path}:3: expected 2 comma-separated columns (text, label), found 1")
    assert "close every opened quote" in str(err.value)


def test_wrong_column_count_csv_after_a_multiline_field(tmp_path):
    path = write(tmp_path / "reviews.csv", 'text,label\n"two\nlines",1\nok,0,extra\n')
    with pytest.raises(DataError) as err:
        read_examples(path)
    assert str(err.value).startswith(f"{path}:4: expected 2 comma-separated columns (text, label), found 3")
    assert "quote fields that contain the delimiter" in str(err.value)


def test_missing_column_name(tmp_path):
    path = write(tmp_path / "reviews.csv", "review,label\ngood,1\n")
    with pytest.raises(DataError) as err:
        read_examples(path)
    assert str(err.value) == (
        f"{path}:1: no column named 'text' in the header (review, label); pass text_col= one of these"
    )
    assert read_examples(path, text_col="review").texts == ["good"]


def test_invalid_utf8_names_the_line(tmp_path):
    data = (NSMC_HEADER + "1\t좋다\t1\n2\tfine\t0\n").encode() + b"3\t\xc1\xc1\xb0\xa1\t1\n"  # cp949 bytes
    for path in (write(tmp_path / "r.tsv", data), write(tmp_path / "r.tsv.gz", gzip.compress(data))):
        with pytest.raises(DataError) as err:
            read_nsmc(path)
        assert str(err.value).startswith(f"{path}:4: invalid UTF-8 (byte 0xc1 at column 3); re-save")


def test_non_integer_label(tmp_path):
    path = write(tmp_path / "ratings.txt", NSMC_HEADER + "1\tgood\t1\n2\tbad\tneg\n")
    with pytest.raises(DataError) as err:
        read_nsmc(path)
    assert str(err.value).startswith(f"{path}:3: label 'neg' in column 'label' is not an integer")


def test_empty_label(tmp_path):
    path = write(tmp_path / "reviews.csv", "text,label\ngood,\n")
    with pytest.raises(DataError, match=r"reviews\.csv:2: empty label in column 'label'"):
        read_examples(path)


def test_empty_documents_are_skipped_and_counted(tmp_path):
    path = write(tmp_path / "ratings.txt", NSMC_HEADER + "1\tgood\t1\n2\t\t0\n3\t  \t1\n4\tbad\t0\n")
    result = read_nsmc(path)
    assert result.texts == ["good", "bad"]
    assert (result.skipped, result.skipped_lines) == (2, [3, 4])
    only_empty = write(tmp_path / "empty_docs.txt", NSMC_HEADER + "1\t\t0\n")
    with pytest.raises(DataError, match=r"empty_docs\.txt:1: no examples: all 1 documents are empty"):
        read_nsmc(only_empty)


def test_nsmc_quotes_crlf_and_unicode_line_separators(tmp_path):
    body = '1\t"최고"라는 말이 "아깝지" 않다\t1\r\n2\t줄\u2028바꿈\x0c문자\t0\r\n'
    result = read_nsmc(write(tmp_path / "ratings.txt", NSMC_HEADER.replace("\n", "\r\n") + body))
    assert result.texts == ['"최고"라는 말이 "아깝지" 않다', "줄\u2028바꿈\x0c문자"]
    assert [e.line for e in result] == [2, 3]


def test_bom_is_dropped(tmp_path):
    path = write(tmp_path / "reviews.csv", b"\xef\xbb\xbftext,label\nhi,1\n")
    assert read_examples(path).labels == ["1"]


def test_megabyte_field_in_every_format(tmp_path):
    big = "가" * (1 << 20)
    files = {
        "big.csv": f'text,label\n"{big}",1\n',
        "big.tsv": f"text\tlabel\n{big}\t1\n",
        "big.jsonl": json.dumps({"text": big, "label": 1}, ensure_ascii=False) + "\n",
    }
    for name, content in files.items():
        [example] = read_examples(write(tmp_path / name, content))
        assert (len(example.text), example.label) == (1 << 20, "1")


def test_jsonl(tmp_path):
    path = write(tmp_path / "r.jsonl", '{"text": "좋아", "label": "pos"}\n\n{"text": "별로", "label": 0}\n')
    assert [(e.text, e.label, e.line) for e in read_examples(path)] == [("좋아", "pos", 1), ("별로", "0", 3)]


@pytest.mark.parametrize(
    ("line2", "message"),
    [
        ('{"text": "x", "label": 1', r":2: invalid JSON \(Expecting ',' delimiter at column 25\)"),
        ('["x", 1]', r":2: expected a JSON object, found list"),
        ('{"review": "x", "label": 1}', r":2: no key 'text' \(keys: review, label\); pass text_col="),
        ('{"text": 3, "label": 1}', r":2: 'text' must be a string, found int"),
        ('{"text": "x", "label": [1]}', r":2: 'label' must be a string or an integer, found \[1\]"),
    ],
)
def test_jsonl_errors(tmp_path, line2, message):
    path = write(tmp_path / "r.jsonl", '{"text": "ok", "label": 1}\n' + line2 + "\n")
    with pytest.raises(DataError, match="^" + str(path).replace(".", r"\.") + message):
        read_examples(path)


def test_format_from_extension_or_argument(tmp_path):
    path = write(tmp_path / "reviews.txt", "text\tlabel\nhi\t1\n")
    with pytest.raises(
        DataError, match=r"reviews\.txt: cannot tell the format .*'\.txt'; pass format= one of csv"
    ):
        read_examples(path)
    assert read_examples(path, format="tsv").texts == ["hi"]
    assert read_examples(write(tmp_path / "r.csv.gz", gzip.compress(b"text,label\nhi,1\n"))).texts == ["hi"]


def test_integer_labels_are_canonical(tmp_path):
    path = write(
        tmp_path / "chat.csv", "Q,A,label\n안녕,반가워,2   \n뭐해,쉬어,01\n"
    )  # ChatbotData has "2   "
    assert read_examples(path, text_col="Q", integer_labels=True).labels == ["2", "1"]


# ---------------------------------------------------------------------------------------------------------
# LabelSet


def test_labelset_sorts_numerically_when_all_labels_are_integers():
    assert LabelSet(["10", "2", "1", "2"]).labels == ("1", "2", "10")
    assert LabelSet(["pos", "neg", "10"]).labels == ("10", "neg", "pos")
    labels = LabelSet(["1", "0"])
    assert [labels.encode("0"), labels.encode("1"), len(labels)] == [0, 1, 2]
    assert labels.decode(1) == "1" and LabelSet.from_dict(json.loads(json.dumps(labels.to_dict()))) == labels


def test_labelset_rejects_unseen_labels_with_file_and_line(tmp_path):
    train = read_examples(write(tmp_path / "train.csv", "text,label\na,pos\nb,neg\n"))
    test = read_examples(write(tmp_path / "test.csv", "text,label\nc,neg\nd,neutral\n"))
    labels = LabelSet.from_examples(train)
    with pytest.raises(DataError) as err:
        labels.encode_examples(test)
    assert str(err.value).startswith(
        f"{tmp_path / 'test.csv'}:3: label 'neutral' was not seen in training (known: neg, pos)"
    )
    assert labels.encode_examples(train) == [1, 0]
