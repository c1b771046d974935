"""Which tokens a long example keeps: head, tail, or head + tail."""

from __future__ import annotations

import pytest

from seqlab.config import DataConfig, RunConfig, apply_overrides
from seqlab.data.tokenizers import build_tokenizer
from seqlab.errors import ConfigError
from seqlab.tasks.classify_data import TRUNCATIONS, clip, encode_texts


@pytest.mark.parametrize("n", range(0, 14))
@pytest.mark.parametrize("max_len", [1, 4, 8, 9])
def test_clip_keeps_the_documented_positions(n, max_len):
    ids = list(range(100, 100 + n))
    head, tail, both = (clip(ids, max_len, t) for t in TRUNCATIONS)
    if n <= max_len:  # short examples are never touched
        assert head == tail == both == ids
        return
    assert head == ids[:max_len]
    assert tail == ids[n - max_len :]
    k = max_len // 4  # the first quarter from the start, the rest from the end, in order, no repeats
    assert both == ids[:k] + ids[n - (max_len - k) :]
    assert len(both) == max_len and both == sorted(set(both))


def test_encode_texts_truncates_after_tokenizing_the_whole_text():
    tok = build_tokenizer("word", ["a b c d e f g h i j"], 100, 1)
    text = "a b c d e f g h i j"
    whole = tok.encode(text)
    assert encode_texts(tok, [text], 4, "head") == [whole[:4]]
    assert encode_texts(tok, [text], 4, "tail") == [whole[-4:]]
    assert encode_texts(tok, [text], 4, "head_tail") == [whole[:1] + whole[-3:]]
    assert encode_texts(tok, ["zzz"], 4, "tail") == [[tok.unk_id]]  # nothing known -> [<unk>]


def test_bad_truncate_is_a_config_error():
    tok = build_tokenizer("word", ["a b"], 10, 1)
    with pytest.raises(ConfigError, match="data.truncate must be one of head, tail, head_tail"):
        encode_texts(tok, ["a"], 4, "middle")


def test_truncate_is_a_config_key():
    cfg = apply_overrides(RunConfig(), ["data.truncate=head_tail"])
    assert cfg.data.truncate == "head_tail" and DataConfig().truncate == "head"
