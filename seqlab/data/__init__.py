"""Data: named datasets (registry) → examples (readers) → token ids (tokenizers, vocab) → padded batches.

from seqlab.data import BucketBatches, LabelSet, build_tokenizer, load

train = load("nsmc", "train")  # SEQLAB_DATA_DIR, else the download cache (`seqlab data fetch nsmc`)
labels = LabelSet.from_examples(train)
tok = build_tokenizer("char", train.texts, vocab_size=3000, min_freq=2)
ids = tok.encode_batch(train.texts, max_len=128)
batches = BucketBatches(ids, labels.encode_examples(train), batch_size=64, seed=1)
"""

from seqlab.data.batching import Batch, BucketBatches, padding_fraction
from seqlab.data.readers import Example, LabelSet, ReadResult, read_examples, read_imdb, read_nsmc, read_text
from seqlab.data.registry import (
    DatasetInfo,
    DatasetSpec,
    RemoteFile,
    dataset_names,
    fetch,
    get_spec,
    list_datasets,
    load,
    register,
    resolve,
)
from seqlab.data.tokenizers import TOKENIZER_KINDS, Tokenizer, build_tokenizer, tokenizer_from_dict, train_and_encode
from seqlab.data.vocab import BOS, EOS, PAD, UNK, Vocab

__all__ = [
    # registry
    "RemoteFile",
    "DatasetSpec",
    "DatasetInfo",
    "register",
    "get_spec",
    "dataset_names",
    "list_datasets",
    "resolve",
    "fetch",
    "load",
    # readers
    "Example",
    "ReadResult",
    "LabelSet",
    "read_text",
    "read_examples",
    "read_nsmc",
    "read_imdb",
    # tokens
    "TOKENIZER_KINDS",
    "Tokenizer",
    "build_tokenizer",
    "tokenizer_from_dict",
    "train_and_encode",
    "Vocab",
    "PAD",
    "UNK",
    "BOS",
    "EOS",
    # batches
    "Batch",
    "BucketBatches",
    "padding_fraction",
]
