"""Augmentation operations (EDA's four, UDA's TF-IDF replacement) and what they learn from a corpus.

Token ops (``OPS``) change one text's tokens; whole-text ops (``TEXT_OPS``, back-translation)
get all their texts at once.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from fenlei.data.text import CJK
from fenlei.data.vectors import PACKAGED, Vectors, load_vectors
from fenlei.errors import ConfigError
from fenlei.registry import Registry

_CJK_RE = re.compile(f"[{CJK}]")
# Chinese works per character; latin/digit runs stay whole ("NBA", "2024") and whitespace runs are
# tokens too, so joining with "" gives back the original spacing.
_ZH_RE = re.compile(rf"[{CJK}]|[A-Za-z]+|\d+|\s+|\S")
_WORD_RE = re.compile(r"[^\W_]")
# Function words carry little meaning of their own and their vector neighbours are noise
# ("not" -> "but"), so synonym/insert leave them alone; negations stay put on purpose.
_EN_STOP = (
    "a an the and or but if of at by for with about to from in on into over under is am are was were"
    " be been being have has had do does did it its this that these those i me my we our you your he"
    " him his she her they them their what which who whom there here when where why how all any both"
    " each few more most some such no nor not only own same so than too very can will just should"
    " now 's n't -lrb- -rrb-"
)
_ZH_STOP = "的了是在和与及而也就都很之其这那个们着过吗呢吧啊我你他她它"
STOPWORDS = frozenset(_EN_STOP.split()) | frozenset(_ZH_STOP)
HEAD_WORDS = 30_000  # vector files list frequent words first: these are the neighbour candidates
CHUNK = 1024  # query rows per matrix product; bounds memory at CHUNK x candidates floats


def split(text: str) -> tuple[list[str], str]:
    """Tokens of ``text`` and the separator that joins them back: per character for Chinese."""
    if _CJK_RE.search(text):
        return _ZH_RE.findall(text), ""
    return text.split(), " "


def is_word(token: str) -> bool:
    """False for punctuation and whitespace, which no op ever changes, moves or removes."""
    return _WORD_RE.search(token) is not None


@dataclass
class Fitted:
    """What the ops learned from the corpus; parts no requested op needs stay empty."""

    rate: float
    neighbours: dict[str, list[str]] = field(default_factory=dict)
    idf: dict[str, float] = field(default_factory=dict)
    max_idf: float = 0.0
    fill: list[str] = field(default_factory=list)  # tfidf replacement words
    fill_cdf: np.ndarray = field(default_factory=lambda: np.zeros(0))


Op = Callable[[list[str], np.random.Generator, Fitted], list[str]]
OPS: Registry[Op] = Registry("augmentation", ConfigError)


@dataclass(frozen=True)
class TextOpSettings:
    """Settings of the whole-text ops (back-translation), read from the ``augment`` section."""

    language: str = "auto"  # language of the texts; auto: detected per text
    fallback: tuple[str, ...] = ()  # token ops for texts a whole-text op cannot handle; empty: raise
    threads: int = 1  # concurrent translations
    progress: bool = False  # a progress bar on long work


class TextOp(Protocol):
    """A whole-text op: gets every text drawn for it in one call, so it can batch and cache."""

    def __call__(self, texts: list[str], copy: int) -> list[str]: ...

    def settings(self) -> dict: ...


Fallback = Callable[[list[str], int], list[str]]  # (texts, copy) -> texts, an Augmenter
# name -> factory(settings, fallback or None); a factory raises when its op cannot run as configured
TEXT_OPS: Registry[Callable[[TextOpSettings, Fallback | None], TextOp]] = Registry(
    "augmentation", ConfigError
)


def _how_many(tokens: list[str], rate: float) -> int:
    return max(1, round(rate * sum(map(is_word, tokens))))


@OPS.register("synonym")
def synonym(tokens: list[str], rng: np.random.Generator, fit: Fitted) -> list[str]:
    """Replace n random words that have vector neighbours by one of those neighbours."""
    slots = [i for i, t in enumerate(tokens) if t in fit.neighbours]
    out = list(tokens)
    for i in rng.permutation(len(slots))[: _how_many(tokens, fit.rate)]:
        near = fit.neighbours[tokens[slots[i]]]
        out[slots[i]] = near[rng.integers(len(near))]
    return out


@OPS.register("insert")
def insert(tokens: list[str], rng: np.random.Generator, fit: Fitted) -> list[str]:
    """Insert a neighbour of a random word at a random position, n times."""
    sources = [t for t in tokens if t in fit.neighbours]
    if not sources:
        return tokens
    out = list(tokens)
    for _ in range(_how_many(tokens, fit.rate)):
        near = fit.neighbours[sources[rng.integers(len(sources))]]
        out.insert(int(rng.integers(len(out) + 1)), near[rng.integers(len(near))])
    return out


@OPS.register("swap")
def swap(tokens: list[str], rng: np.random.Generator, fit: Fitted) -> list[str]:
    """Swap two random words, n times (punctuation keeps its place)."""
    slots = [i for i, t in enumerate(tokens) if is_word(t)]
    if len(slots) < 2:
        return tokens
    out = list(tokens)
    for _ in range(_how_many(tokens, fit.rate)):
        a = int(rng.integers(len(slots)))
        b = (a + 1 + int(rng.integers(len(slots) - 1))) % len(slots)  # any slot but a
        out[slots[a]], out[slots[b]] = out[slots[b]], out[slots[a]]
    return out


@OPS.register("delete")
def delete(tokens: list[str], rng: np.random.Generator, fit: Fitted) -> list[str]:
    """Drop each word with probability ``rate``, always keeping at least one."""
    slots = [i for i, t in enumerate(tokens) if is_word(t)]
    if not slots:
        return tokens
    drop = rng.random(len(slots)) < fit.rate
    if drop.all():
        drop[rng.integers(len(slots))] = False
    gone = {slots[k] for k in np.flatnonzero(drop)}
    return [t for i, t in enumerate(tokens) if i not in gone]


@OPS.register("tfidf")
def tfidf(tokens: list[str], rng: np.random.Generator, fit: Fitted) -> list[str]:
    """UDA: replace uninformative (low TF-IDF) words more often, by uninformative corpus words."""
    slots = [i for i, t in enumerate(tokens) if is_word(t)]
    if not slots or not fit.fill:
        return tokens
    words = [tokens[i] for i in slots]
    tf = Counter(words)
    # Words the corpus never saw count as informative (max IDF), so they are kept.
    score = np.array([tf[w] * fit.idf.get(w, fit.max_idf) for w in words]) / len(words)
    weight = score.max() - score
    total = weight.sum()
    if total > 0:  # scaled so the mean probability is rate, as in UDA's TfIdfWordRep
        prob = np.minimum(weight * (fit.rate * len(words) / total), 1.0)
    else:  # every word equally informative: nothing to prefer
        prob = np.full(len(words), fit.rate)
    hits = np.flatnonzero(rng.random(len(words)) < prob)
    out = list(tokens)
    picks = np.searchsorted(fit.fill_cdf, rng.random(hits.size) * fit.fill_cdf[-1], side="right")
    for k, p in zip(hits, picks, strict=True):
        out[slots[k]] = fit.fill[min(int(p), len(fit.fill) - 1)]
    return out


def fit_idf(fitted: Fitted, corpus: Iterable[str]) -> None:
    """IDF of every corpus word and the replacement distribution, p(w) ~ max IDF - IDF(w)."""
    df: Counter[str] = Counter()
    n = 0
    for text in corpus:
        df.update({t for t in split(text)[0] if is_word(t)})
        n += 1
    if not df:
        return
    fitted.idf = {w: math.log(n / c) for w, c in df.items()}
    fitted.max_idf = max(fitted.idf.values())
    fitted.fill = sorted(df)
    weight = np.array([fitted.max_idf - fitted.idf[w] for w in fitted.fill])
    if weight.sum() <= 0:  # every word equally rare: draw uniformly
        weight = np.ones(len(fitted.fill))
    fitted.fill_cdf = np.cumsum(weight)


def _head_words(path: Path, n: int) -> set[str]:
    """First words of a text vectors file, read without parsing the numbers."""
    if path.suffix == ".bin" or not path.is_file():
        return set()  # a binary file's words cannot be read cheaply; corpus words will do
    words: set[str] = set()
    with open(path, encoding="utf-8", errors="replace") as fh:
        for lineno, line in enumerate(fh):
            parts = line.split(" ", 1)
            if lineno == 0 and len(line.split()) == 2:
                continue  # word2vec header "count dim"
            if lineno > n:
                break
            words.add(parts[0])
    return words


def _candidates(spec: str, queries: set[str]) -> Vectors:
    """Vectors of the query words and of the file's most frequent words, nothing else."""
    wanted = queries | {q.lower() for q in queries}
    if spec in PACKAGED:  # a memory map: loading it whole and picking rows is quickest
        full = load_vectors(spec)
        rows = list(range(min(HEAD_WORDS, len(full.words))))
        rows += [i for i in range(len(rows), len(full.words)) if full.words[i] in wanted]
        return Vectors([full.words[i] for i in rows], full.matrix[rows], spec)
    return load_vectors(spec, keep=wanted | _head_words(Path(spec).expanduser(), HEAD_WORDS))


def fit_neighbours(fitted: Fitted, corpus: Iterable[str], spec: str, k: int) -> None:
    """The ``k`` nearest neighbours by cosine of every corpus word, among the candidate words."""
    queries = {t for text in corpus for t in split(text)[0] if is_word(t) and t.lower() not in STOPWORDS}
    vecs = _candidates(spec, queries)
    index: dict[str, int] = {}
    for i, w in enumerate(vecs.words):
        index.setdefault(w, i)
    found = [(q, index.get(q, index.get(q.lower()))) for q in sorted(queries)]
    found = [(q, r) for q, r in found if r is not None]
    cands = [i for i, w in enumerate(vecs.words) if is_word(w) and w.lower() not in STOPWORDS]
    if not found or not cands:
        raise ConfigError(
            f"augment.vectors: no corpus word has a vector in {spec}; use vectors in the corpus language "
            "(glove-6b-50d for English, character vectors for Chinese)"
        )
    norms = np.linalg.norm(vecs.matrix, axis=1, keepdims=True)
    unit = (vecs.matrix / np.maximum(norms, 1e-8)).astype(np.float32)
    pool = unit[cands]
    words = [vecs.words[i] for i in cands]
    lower = [w.lower() for w in words]
    top = min(k + 2, len(cands))  # room for the word itself and its other-case twin
    for start in range(0, len(found), CHUNK):
        part = found[start : start + CHUNK]
        best = _top_columns(unit[[r for _, r in part]] @ pool.T, top)
        for (q, _), row in zip(part, best, strict=True):
            near = [words[j] for j in row if lower[j] != q.lower()][:k]
            if near:
                fitted.neighbours[q] = near


def _top_columns(sims: np.ndarray, top: int, block: int = 64) -> np.ndarray:
    """Column indices of each row's ``top`` largest values, largest first.

    A full argpartition over ~35k columns per row is the slow part, so rank column blocks by
    their maximum first: the ``top`` best values always lie in the ``top`` best blocks.
    """
    rows, cols = sims.shape
    blocks = -(-cols // block)
    if blocks > top:
        padded = np.full((rows, blocks * block), -np.inf, dtype=sims.dtype)
        padded[:, :cols] = sims
        best_blocks = np.argpartition(padded.reshape(rows, blocks, block).max(axis=2), -top, axis=1)
        cand = (best_blocks[:, -top:, None] * block + np.arange(block)).reshape(rows, -1)
        vals = np.take_along_axis(padded, cand, axis=1)
    else:
        cand, vals = np.broadcast_to(np.arange(cols), sims.shape), sims
    pick = np.argpartition(vals, -top, axis=1)[:, -top:]
    pick = np.take_along_axis(pick, np.argsort(-np.take_along_axis(vals, pick, axis=1), axis=1), axis=1)
    return np.take_along_axis(cand, pick, axis=1)
