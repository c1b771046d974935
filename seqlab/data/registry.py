"""Named datasets: name → files (original public URL + sha256 of the downloaded bytes) → reader.

Where a dataset's files are looked for, in order:

1. an offline folder: the ``data_dir`` argument, else the ``SEQLAB_DATA_DIR`` environment variable;
2. the download cache: the ``cache_dir`` argument, else ``SEQLAB_CACHE_DIR``, else ``~/.cache/seqlab``.

Both use the same layout, ``<root>/<dataset>/<file>``, and any file may instead be stored gzip-compressed as
``<file>.gz`` (read transparently). ``fetch`` downloads into the cache; ``SEQLAB_DATASET_MIRROR`` (or the
``mirror`` argument) replaces each original URL by ``<mirror>/<dataset>/<file>``, e.g. a local test server.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seqlab.data import conll, readers, series
from seqlab.errors import DataError

__all__ = [
    "RemoteFile",
    "DatasetSpec",
    "DatasetInfo",
    "register",
    "get_spec",
    "dataset_names",
    "list_datasets",
    "data_dir_from_env",
    "cache_dir_from_env",
    "resolve",
    "fetch",
    "load",
]

DATA_DIR_ENV = "SEQLAB_DATA_DIR"
CACHE_DIR_ENV = "SEQLAB_CACHE_DIR"
MIRROR_ENV = "SEQLAB_DATASET_MIRROR"
_CHUNK = 1 << 16  # bytes per read while downloading / hashing


@dataclass(frozen=True)
class RemoteFile:
    name: str  # file name inside the dataset folder; also the name the download is saved under
    url: str  # the original public source (raw file at a pinned commit, or the publisher's archive)
    sha256: str  # hex digest of the downloaded (uncompressed, original) bytes
    size: int | None = None  # bytes, shown by the progress bar when the server sends no Content-Length


@dataclass(frozen=True)
class DatasetSpec:
    name: str  # registry key, also the folder name under the data / cache dir
    task: str  # classify | lm | tag | forecast | seq2seq
    description: str  # one line for `seqlab data list`
    files: tuple[RemoteFile, ...]  # what `fetch` downloads
    # split → candidate paths relative to the dataset folder, first existing wins (each also tried + ".gz")
    splits: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    reader: Callable[[Path, str], Any] | None = None  # reader(path, split); None: no reader registered yet


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    task: str
    description: str
    splits: tuple[str, ...]
    offline: bool  # every split is present in the offline data dir
    cached: bool  # every split is present in the download cache


_REGISTRY: dict[str, DatasetSpec] = {}


def register(spec: DatasetSpec, *, replace: bool = False) -> DatasetSpec:
    """Add a dataset to the registry (``replace=True`` to overwrite an existing name)."""
    if spec.name in _REGISTRY and not replace:
        raise ValueError(f"dataset {spec.name!r} is already registered; pass replace=True to overwrite it")
    _REGISTRY[spec.name] = spec
    return spec


def dataset_names() -> list[str]:
    return sorted(_REGISTRY)


def get_spec(name: str) -> DatasetSpec:
    if name not in _REGISTRY:
        raise DataError(
            f"unknown dataset {name!r}; known datasets: {', '.join(dataset_names())} "
            "(or pass the path of a CSV/TSV/JSONL file)"
        )
    return _REGISTRY[name]


def data_dir_from_env() -> Path | None:
    value = os.environ.get(DATA_DIR_ENV)
    return Path(value).expanduser() if value else None


def cache_dir_from_env() -> Path:
    value = os.environ.get(CACHE_DIR_ENV)
    return Path(value).expanduser() if value else Path.home() / ".cache" / "seqlab"


def _roots(data_dir: str | Path | None, cache_dir: str | Path | None) -> list[Path]:
    offline = Path(data_dir).expanduser() if data_dir is not None else data_dir_from_env()
    cache = Path(cache_dir).expanduser() if cache_dir is not None else cache_dir_from_env()
    return [offline, cache] if offline is not None else [cache]


def _find(folder: Path, candidates: tuple[str, ...]) -> Path | None:
    for rel in candidates:
        for path in (folder / rel, folder / (rel + ".gz")):
            if path.exists():
                return path
    return None


def _check_split(spec: DatasetSpec, split: str) -> tuple[str, ...]:
    if split not in spec.splits:
        raise DataError(
            f"dataset {spec.name!r} has no split {split!r}; choose one of: {', '.join(spec.splits)}"
        )
    return spec.splits[split]


def resolve(
    name: str, split: str, data_dir: str | Path | None = None, cache_dir: str | Path | None = None
) -> Path:
    """The path of one split of a registered dataset: offline folder first, then the download cache."""
    spec = get_spec(name)
    candidates = _check_split(spec, split)
    roots = _roots(data_dir, cache_dir)
    for root in roots:
        found = _find(root / name, candidates)
        if found is not None:
            return found
    looked = ", ".join(str(root / name) for root in roots)
    raise DataError(
        f"dataset {name!r} split {split!r} not found: looked for {' or '.join(candidates)} (or .gz) in "
        f"{looked}; set {DATA_DIR_ENV} or pass --data-dir to a folder holding {name}/{candidates[0]}, "
        f"or run `seqlab data fetch {name}` to download it"
    )


def _present(spec: DatasetSpec, root: Path | None) -> bool:
    if root is None or not spec.splits:
        return False
    return all(_find(root / spec.name, c) is not None for c in spec.splits.values())


def list_datasets(
    data_dir: str | Path | None = None, cache_dir: str | Path | None = None
) -> list[DatasetInfo]:
    """Every registered dataset, with whether it is present offline and in the cache."""
    offline = Path(data_dir).expanduser() if data_dir is not None else data_dir_from_env()
    cache = Path(cache_dir).expanduser() if cache_dir is not None else cache_dir_from_env()
    return [
        DatasetInfo(
            name=spec.name,
            task=spec.task,
            description=spec.description,
            splits=tuple(spec.splits),
            offline=_present(spec, offline),
            cached=_present(spec, cache),
        )
        for spec in (_REGISTRY[n] for n in dataset_names())
    ]


def load(
    name: str, split: str, data_dir: str | Path | None = None, cache_dir: str | Path | None = None
) -> Any:
    """Resolve a split and run the dataset's registered reader on it."""
    spec = get_spec(name)
    if spec.reader is None:
        raise DataError(
            f"dataset {name!r} has no reader yet; call resolve({name!r}, {split!r}) for its file path"
        )
    return spec.reader(resolve(name, split, data_dir, cache_dir), split)


# ---------------------------------------------------------------------------------------------------------
# Downloading


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def _progress_bar(enabled: bool, label: str, total: int | None) -> Iterator[Callable[[int], None]]:
    if not enabled:
        yield lambda n: None
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    with Progress(*columns, TimeRemainingColumn()) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


def _download(url: str, dest: Path, file: RemoteFile, progress: bool) -> None:
    """Stream ``url`` into a temp file beside ``dest``, check sha256, then rename: on any error nothing
    is left behind."""
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    except OSError as e:
        raise DataError(
            f"cannot write the download cache ({e}); set {CACHE_DIR_ENV} to a writable folder",
            file=str(dest.parent),
        ) from e
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            total = int(response.headers.get("Content-Length") or 0) or file.size
            with _progress_bar(progress, dest.name, total) as advance:
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    advance(len(chunk))
        actual = digest.hexdigest()
        if actual != file.sha256:
            raise DataError(
                f"sha256 mismatch for the download from {url}: expected {file.sha256}, got {actual}; "
                "the file was not kept: retry (the download may be truncated) or check the mirror",
                file=str(dest),
            )
        os.replace(tmp, dest)
    except (urllib.error.URLError, http.client.HTTPException, OSError) as e:
        raise DataError(
            f"download failed ({e}); check the network or proxy, or save the file yourself in {dest.parent}",
            file=url,
        ) from e
    finally:
        tmp.unlink(missing_ok=True)


def fetch(
    name: str,
    cache_dir: str | Path | None = None,
    progress: bool = True,
    mirror: str | None = None,
    force: bool = False,
) -> list[Path]:
    """Download a dataset's files into ``<cache>/<name>/`` and verify each sha256; returns their paths.

    A file already in the cache with the right hash is kept (``force=True`` downloads it again). ``mirror``
    (default: ``$SEQLAB_DATASET_MIRROR``) serves ``<mirror>/<name>/<file>`` instead of the original URL.
    """
    spec = get_spec(name)
    folder = (Path(cache_dir).expanduser() if cache_dir is not None else cache_dir_from_env()) / name
    mirror = mirror if mirror is not None else os.environ.get(MIRROR_ENV) or None
    paths = []
    for file in spec.files:
        dest = folder / file.name
        if force or not dest.exists() or sha256_file(dest) != file.sha256:
            url = f"{mirror.rstrip('/')}/{name}/{file.name}" if mirror else file.url
            _download(url, dest, file, progress)
        paths.append(dest)
    return paths


# ---------------------------------------------------------------------------------------------------------
# The catalogue. Hashes are of the original (uncompressed) files; see shared/data/README.md for provenance.


def _raw(repo: str, commit: str, path: str) -> str:
    return f"https://raw.githubusercontent.com/{repo}/{commit}/{path}"


def _github_files(repo: str, commit: str, folder: str, files: dict[str, str]) -> tuple[RemoteFile, ...]:
    return tuple(RemoteFile(name, _raw(repo, commit, folder + name), sha) for name, sha in files.items())


_NSMC = ("e9t/nsmc", "cc0670e872d4ac27bfe36c87456783004b39ef6c")
_UD_EWT = ("UniversalDependencies/UD_English-EWT", "15d613d8447b3478787d4c278730a1e48a945efb")
_UD_GSD = ("UniversalDependencies/UD_Korean-GSD", "95c092e9c9ae5cafd1710d293df1cb5a5146e326")
_STOCK_SAMSUNG = (
    "deyvanloxefal/PREDIKSI-VOLATILITAS-HARGA-SAHAM-CLOSE-SAMSUNG-ELECTRONICS-CO.-LTD",
    "a51d26595b7a2885793853bc871592ec774fbfa9",
)
_STOCK_SKYLIC = ("skylic/trading", "65b9f14aae12354caa9e238f12c0ff45c4eff816")

# aclImdb_v1.tar.gz as published by Stanford: 84,125,825 bytes. The same sha256 is pinned independently by
# several public loaders (e.g. Julia's MLDatasets/CorpusLoaders DataDeps, gomlx's imdb example).
IMDB_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
IMDB_SHA256 = "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe"
IMDB_ARCHIVE = "aclImdb_v1.tar.gz"

_BUILTIN = (
    DatasetSpec(
        name="nsmc",
        task="classify",
        description="Naver Sentiment Movie Corpus v1.0: Korean movie reviews, binary sentiment (150k/50k)",
        files=_github_files(
            *_NSMC,
            "",
            {
                "ratings_train.txt": "e03b7d14e9e41be8d464a28057cd25d7396c53e67aa7fd5f7e552c59b0ee2940",
                "ratings_test.txt": "8ac9f64052f11dbf6ae0acb5e038f03d90a76f0eda7820cfb3a92d02edfcebda",
            },
        ),
        splits={"train": ("ratings_train.txt",), "test": ("ratings_test.txt",)},
        reader=readers.read_nsmc,
    ),
    DatasetSpec(
        name="imdb",
        task="classify",
        description="Large Movie Review Dataset v1.0 (Maas et al. 2011): English binary sentiment (25k/25k)",
        files=(RemoteFile(IMDB_ARCHIVE, IMDB_URL, IMDB_SHA256, size=84_125_825),),
        splits={
            split: (f"imdb_{split}.csv", f"aclImdb/{split}", IMDB_ARCHIVE) for split in ("train", "test")
        },
        reader=readers.read_imdb,
    ),
    DatasetSpec(
        name="mysterious_island",
        task="lm",
        description="The Mysterious Island (Jules Verne, Project Gutenberg #1268): character-level LM",
        files=_github_files(
            "rasbt/python-machine-learning-book-3rd-edition",
            "bf62496f44a92a21d23250d5ed13d2d2e617e0e2",
            "ch16/",
            {"1268-0.txt": "355bfdc3f9b5e384b1918e817dd086ce0df97f4d294c69f032fb70b95c1e737c"},
        ),
        splits={"train": ("1268-0.txt",)},
        reader=readers.read_gutenberg,  # UTF-8 + BOM, CRLF; the body between the START/END lines only
    ),
    DatasetSpec(
        name="tiny_shakespeare",
        task="lm",
        description="tiny-shakespeare (karpathy/char-rnn): character-level LM",
        files=_github_files(
            "karpathy/char-rnn",
            "6f9487a6fe5b420b7ca9afb0d7c078e37c1d1b4e",
            "data/tinyshakespeare/",
            {"input.txt": "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"},
        ),
        splits={"train": ("input.txt",)},
        reader=readers.read_corpus,  # one string; held-out parts are cut by position (seqlab.pipelines.lm)
    ),
    DatasetSpec(
        name="conll2003",
        task="tag",
        description="CoNLL-2003 English NER (IOB1; word POS chunk NER); research use only",
        files=_github_files(
            "synalp/NER",
            "c0ea07c81ec3512b5047dcd804b0ac2b10a3bdfc",
            "corpus/CoNLL-2003/",
            {
                "eng.train": "eac0822f501353f265383ddf1edb0dcd42a1b6eefd3e383d7074db98c38eb41c",
                "eng.testa": "aedc4ccbd1ae9795feaa0e86fe72d195b0258abed9d705b630d1c889276fac1e",
                "eng.testb": "0632f32c090ef31c223135b7fee3187a7cf8e65c4015c7866bb7783428cdd9a6",
            },
        ),
        splits={"train": ("eng.train",), "dev": ("eng.testa",), "test": ("eng.testb",)},
        reader=conll.read_conll2003,  # NER column by default, IOB1 -> BIO; column="pos"/"chunk" for the others
    ),
    DatasetSpec(
        name="ud_english_ewt",
        task="tag",
        description="Universal Dependencies English EWT v2.16 (CoNLL-U): POS tagging / parsing",
        files=_github_files(
            *_UD_EWT,
            "",
            {
                "en_ewt-ud-train.conllu": "3fb78e2b55482c8ee00caa653af436c88c9e5bc9a73ce26e4ae3ddc79d2b7e7b",
                "en_ewt-ud-dev.conllu": "531a54ff90d6ab12201c5a50c3e78e6ddac4de69abc4bce5d275d3cd29efe2b6",
                "en_ewt-ud-test.conllu": "e266e515a0a7547657ed3d90d9ba46487d6bd251f27ad4269d4e8a427c8555cd",
            },
        ),
        splits={s: (f"en_ewt-ud-{s}.conllu",) for s in ("train", "dev", "test")},
        reader=conll.read_conllu,  # UPOS of the syntactic words (multiword tokens split, empty nodes skipped)
    ),
    DatasetSpec(
        name="ud_korean_gsd",
        task="tag",
        description="Universal Dependencies Korean GSD v2.10 (CoNLL-U): POS tagging / parsing",
        files=_github_files(
            *_UD_GSD,
            "",
            {
                "ko_gsd-ud-train.conllu": "2ed449cf0a91283c526fab93e0cb89736eb4fecaa9d0ed7b45ecf4fb14e3faa0",
                "ko_gsd-ud-dev.conllu": "e5fb7a0fef26f7172751b2791112bbc9ae560940e4f1250b6a33f25716b5bbca",
                "ko_gsd-ud-test.conllu": "875b8cf2223767c44c641c63a87fe266725c3e5ff0d7080732f7d5ba98eb4a19",
            },
        ),
        splits={s: (f"ko_gsd-ud-{s}.conllu",) for s in ("train", "dev", "test")},
        reader=conll.read_conllu,  # UPOS per eojeol
    ),
    DatasetSpec(
        name="korean_ner_kmou",
        task="tag",
        description="KMOU Korean NER, 2016 KLP split (morpheme-level; non-commercial use only)",
        files=_github_files(
            "kmounlp/NER",
            "1e557de738b8e6215c7cacac116e735518c0f680",
            "2016klp/",
            {
                "ner.train": "ae8d0b9ecc49a36ec8fd30ebed5accf2e4da23e8e432d0e4e494be049412c1cf",
                "ner.dev": "0b6afc8e02a5bb3439b697da7aa6bc274b1128f84c14f6bde85c7d0934b145d6",
                "ner.test": "35396b5d88d9c3feb74a5e43097482e4379ff522bc66ed0d2a1e40a4e34a5645",
            },
        ),
        splits={s: (f"ner.{s}",) for s in ("train", "dev", "test")},
        reader=conll.read_kmou,  # morphemes; B_PS / I / O -> B-PS / I-PS / O
    ),
    DatasetSpec(
        name="chatbot_data_ko",
        task="seq2seq",
        description="Chatbot_data_for_Korean v1.0: 11,823 Korean question/answer pairs",
        files=_github_files(
            "songys/Chatbot_data",
            "4cf20d13fc46f5037fd1c531cd566e2dd9f72974",
            "",
            {"ChatbotData.csv": "287eb129695b577321c80ad397bb3c2279164d4ca577874d129fd3db5b30afe2"},
        ),
        splits={"train": ("ChatbotData.csv",)},  # no published split: the seq2seq task carves one
        reader=readers.read_chatbot,
    ),
    DatasetSpec(
        name="tatoeba_kor_eng",
        task="seq2seq",
        description="Tatoeba/ManyThings English-Korean sentence pairs (2023-02-20), CC BY 2.0 FR",
        files=_github_files(
            "r0cd7b/nlp_with_rnns_and_attention",
            "875d03899a2c217633fa28e8917a8b26382c5269",
            "kor-eng/",
            {
                "kor.txt": "6c9d8de3e500306997e4083274fb0038ef521651ffb2b7923e4e607a59d09dbc",
                "_about.txt": "14edaa774978b74d57a316ed402880c69af8de5c0087e6705b9eb5557621c65e",
            },
        ),
        splits={"train": ("kor.txt",)},  # no published split: the seq2seq task carves one
        reader=readers.read_tatoeba,
    ),
    DatasetSpec(
        name="stock_prices",
        task="forecast",
        description="Daily OHLCV (Yahoo layout): Samsung Electronics, SK hynix, NAVER (KRX)",
        files=(
            *_github_files(
                *_STOCK_SAMSUNG,
                "",
                {"005930.KS.csv": "2ba5cf0ded75b8c730a23cd633948b0b275e6164c1ca0d5b7b4bd75a095a8ef6"},
            ),
            *_github_files(
                *_STOCK_SKYLIC,
                "",
                {
                    "000660.KS.csv": "db8441bc1d91031d9d692d5b1e18ab0a9dd7498390ae64f4c34185b02d5c7ff4",
                    "035420.KS.csv": "7397034ec1aff659b354fef613ab23d11778fa063a6dbbb25fc1c07f1975beeb",
                },
            ),
        ),
        # one "split" per ticker; the forecast task makes its own time-ordered train/val/test cut
        splits={"samsung": ("005930.KS.csv",), "sk_hynix": ("000660.KS.csv",), "naver": ("035420.KS.csv",)},
        reader=series.read_stock_csv,  # --data stock_prices:samsung (the split names the ticker)
    ),
)

for _spec in _BUILTIN:
    register(_spec)

# Series that ship inside the installed statsmodels: nothing to download (files=()), and the split's path is
# absolute, so it is found whatever the data dir (pathlib: root / absolute == absolute). One split, "series";
# the forecast task makes its own chronological train/validation/test cut.
for _name, _reader in (("sunspots", series.read_sunspots), ("co2", series.read_co2),
                       ("elnino", series.read_elnino)):
    register(DatasetSpec(name=_name, task="forecast", description=series.PACKAGED[_name].description, files=(),
                         splits={"series": (series.packaged_path(_name),)}, reader=_reader))
