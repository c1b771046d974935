"""Registry: offline lookup (.gz transparent), the cache, and downloads served from 127.0.0.1 only."""

from __future__ import annotations

import gzip
import hashlib
import shutil
from pathlib import Path

import pytest

from seqlab.data import registry
from seqlab.data.registry import DatasetSpec, RemoteFile, fetch, get_spec, list_datasets, load, resolve
from seqlab.errors import DataError

TOY = "toy_reviews"
TOY_BYTES = "id\ttext\tlabel\n1\t좋은 영화\t1\n2\t지루했다\t0\n".encode()


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test may see the user's data dir, cache or mirror settings."""
    for var in (registry.DATA_DIR_ENV, registry.MIRROR_ENV):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv(registry.CACHE_DIR_ENV, str(tmp_path / "default-cache"))


@pytest.fixture
def toy() -> DatasetSpec:
    from seqlab.data.readers import read_examples

    spec = DatasetSpec(
        name=TOY,
        task="classify",
        description="two Korean reviews",
        files=(
            RemoteFile(
                "reviews.tsv", "https://example.invalid/reviews.tsv", hashlib.sha256(TOY_BYTES).hexdigest()
            ),
        ),
        splits={"train": ("reviews.tsv",)},
        reader=lambda path, split: read_examples(path, format="tsv"),
    )
    registry.register(spec)
    yield spec
    registry._REGISTRY.pop(TOY)


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_fetch_downloads_verifies_and_keeps_a_good_file(toy, http_root, tmp_path):
    root, url, seen = http_root
    (root / TOY).mkdir()
    (root / TOY / "reviews.tsv").write_bytes(TOY_BYTES)
    cache = tmp_path / "cache"

    paths = fetch(TOY, cache_dir=cache, progress=True, mirror=url)

    assert paths == [cache / TOY / "reviews.tsv"]
    assert paths[0].read_bytes() == TOY_BYTES
    assert _files(cache / TOY) == ["reviews.tsv"]  # no temp file left beside it
    assert seen == [f"/{TOY}/reviews.tsv"]
    fetch(TOY, cache_dir=cache, progress=False, mirror=url)  # hash matches: no second download
    assert len(seen) == 1
    assert [e.text for e in load(TOY, "train", cache_dir=cache)] == ["좋은 영화", "지루했다"]


def test_fetch_checksum_mismatch_leaves_nothing(toy, http_root, tmp_path, monkeypatch):
    root, url, _ = http_root
    (root / TOY).mkdir()
    tampered = TOY_BYTES.replace(b"\t1\n", b"\t0\n")
    (root / TOY / "reviews.tsv").write_bytes(tampered)
    monkeypatch.setenv(registry.MIRROR_ENV, url)  # the environment variable route
    cache = tmp_path / "cache"

    with pytest.raises(DataError) as err:
        fetch(TOY, cache_dir=cache, progress=False)

    message = str(err.value)
    assert message.startswith(f"{cache / TOY / 'reviews.tsv'}: sha256 mismatch")
    assert f"expected {toy.files[0].sha256}" in message
    assert f"got {hashlib.sha256(tampered).hexdigest()}" in message
    assert _files(cache / TOY) == []  # neither the file nor a temp file


def test_fetch_http_error_leaves_nothing(toy, http_root, tmp_path):
    _, url, _ = http_root  # nothing served: 404
    cache = tmp_path / "cache"
    with pytest.raises(DataError, match=rf"^{url}/{TOY}/reviews.tsv: download failed \(HTTP Error 404"):
        fetch(TOY, cache_dir=cache, progress=False, mirror=url)
    assert _files(cache / TOY) == []


def test_fetch_real_nsmc_hashes_through_a_local_mirror(shared_data, http_root, tmp_path):
    root, url, seen = http_root
    (root / "nsmc").mkdir()
    for name in ("ratings_train.txt", "ratings_test.txt"):
        with gzip.open(shared_data / "nsmc" / f"{name}.gz") as src, open(root / "nsmc" / name, "wb") as dst:
            shutil.copyfileobj(src, dst)
    cache = tmp_path / "cache"

    fetch("nsmc", cache_dir=cache, progress=False, mirror=url)

    assert sorted(seen) == ["/nsmc/ratings_test.txt", "/nsmc/ratings_train.txt"]
    assert resolve("nsmc", "test", cache_dir=cache) == cache / "nsmc" / "ratings_test.txt"
    assert len(load("nsmc", "test", cache_dir=cache)) == 50_000 - 3


def test_registered_hashes_match_the_offline_copies(shared_data):
    checked = 0
    for name in registry.dataset_names():
        for file in get_spec(name).files:
            path = shared_data / name / file.name
            if not path.exists():
                path = path.with_name(file.name + ".gz")
            if not path.exists():
                continue  # imdb: the offline copy is a CSV conversion, not the archive
            data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
            assert hashlib.sha256(data).hexdigest() == file.sha256, path
            checked += 1
    assert checked == 22


def test_catalogue_points_at_original_sources():
    assert get_spec("nsmc").files[0].url == (
        "https://raw.githubusercontent.com/e9t/nsmc/cc0670e872d4ac27bfe36c87456783004b39ef6c/ratings_train.txt"
    )
    imdb = get_spec("imdb").files[0]
    assert imdb.url == "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
    assert imdb.sha256 == "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe"
    required = {
        "nsmc",
        "imdb",
        "mysterious_island",
        "tiny_shakespeare",
        "conll2003",
        "ud_english_ewt",
        "ud_korean_gsd",
        "korean_ner_kmou",
        "chatbot_data_ko",
        "tatoeba_kor_eng",
        "stock_prices",
    }
    assert required <= set(registry.dataset_names())
    for name in required:
        for file in get_spec(name).files:
            assert file.url.startswith("https://") and len(file.sha256) == 64


def test_resolve_prefers_data_dir_and_reads_gz(tmp_path, monkeypatch):
    offline, cache = tmp_path / "offline", tmp_path / "cache"
    (offline / "nsmc").mkdir(parents=True)
    (cache / "nsmc").mkdir(parents=True)
    (offline / "nsmc" / "ratings_test.txt.gz").write_bytes(
        gzip.compress(b'id\tdocument\tlabel\n7\t"\xec\xa2\x8b\xeb\x8b\xa4"\t1\n')
    )
    (cache / "nsmc" / "ratings_test.txt").write_bytes(b"id\tdocument\tlabel\n8\tbad\t0\n")

    assert (
        resolve("nsmc", "test", data_dir=offline, cache_dir=cache) == offline / "nsmc" / "ratings_test.txt.gz"
    )
    monkeypatch.setenv(registry.DATA_DIR_ENV, str(offline))
    [example] = load("nsmc", "test", cache_dir=cache)
    assert (example.text, example.label, example.line) == ('"좋다"', "1", 2)
    monkeypatch.delenv(registry.DATA_DIR_ENV)
    assert resolve("nsmc", "test", cache_dir=cache) == cache / "nsmc" / "ratings_test.txt"


def test_missing_dataset_says_how_to_get_it(tmp_path):
    with pytest.raises(DataError) as err:
        resolve("nsmc", "train", data_dir=tmp_path / "empty", cache_dir=tmp_path / "cache")
    message = str(err.value)
    assert "ratings_train.txt" in message and str(tmp_path / "empty" / "nsmc") in message
    assert "SEQLAB_DATA_DIR" in message and "--data-dir" in message and "`seqlab data fetch nsmc`" in message


def test_unknown_names_and_splits_list_the_choices():
    with pytest.raises(DataError, match=r"unknown dataset 'nsmcc'; known datasets: .*nsmc"):
        resolve("nsmcc", "train")
    with pytest.raises(DataError, match=r"no split 'validation'; choose one of: train, test"):
        resolve("nsmc", "validation")
    bare = DatasetSpec(name="bare_files", task="tag", description="files only", files=(),
                       splits={"train": ("x.txt",)}, reader=None)
    registry.register(bare)
    try:
        with pytest.raises(DataError, match=r"no reader yet; call resolve\('bare_files', 'train'\)"):
            load("bare_files", "train")
    finally:
        registry._REGISTRY.pop("bare_files")


def test_list_datasets_reports_presence(toy, tmp_path):
    offline, cache = tmp_path / "offline", tmp_path / "cache"
    (offline / TOY).mkdir(parents=True)
    (offline / TOY / "reviews.tsv.gz").write_bytes(gzip.compress(TOY_BYTES))
    info = {d.name: d for d in list_datasets(data_dir=offline, cache_dir=cache)}
    assert (info[TOY].offline, info[TOY].cached, info[TOY].splits) == (True, False, ("train",))
    assert (info["nsmc"].offline, info["nsmc"].task) == (False, "classify")
