"""Offline text augmentation: EDA operations, vector-neighbour synonyms, UDA's TF-IDF replacement,
back-translation.

Used to add augmented copies of the labelled texts and to make UDA's noisy views of the
unlabelled ones. The token operations live in ``augment_ops``, back-translation in ``backtranslate``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from fenlei.data import backtranslate  # noqa: F401  (registers the backtranslate op)
from fenlei.data.augment_ops import (
    OPS,
    TEXT_OPS,
    Fitted,
    TextOp,
    TextOpSettings,
    fit_idf,
    fit_neighbours,
    split,
)
from fenlei.errors import ConfigError, DataError

OP_NAMES = ("synonym", "insert", "swap", "delete", "tfidf")  # the token ops
_NEED_VECTORS = ("synonym", "insert")
_FORMAT = 1  # bump when the cache file layout or an op's output changes


def check_ops(key: str, ops: Sequence[str]) -> None:
    """Config check: ``ops`` is a non-empty list of known operation names."""
    known = [*OP_NAMES, *TEXT_OPS.names()]
    if not ops:
        raise ConfigError(f"{key} must name at least one of {', '.join(known)}")
    for op in ops:
        if op not in known:
            raise ConfigError(f"{key}: unknown augmentation {op!r}; choose from {', '.join(known)}")


def check_fallback(key: str, ops: Sequence[str]) -> None:
    """Config check: ``ops`` (possibly empty) are token ops, which can augment any language."""
    for op in ops:
        if op not in OP_NAMES:
            raise ConfigError(
                f"{key}: {op!r} cannot be a fallback; choose token ops from {', '.join(OP_NAMES)}"
            )


def _digest(texts: Sequence[str]) -> str:
    return hashlib.sha256(json.dumps(list(texts), ensure_ascii=False).encode()).hexdigest()


def _text_key(text: str) -> int:
    # Python's hash() changes per process, so a fixed digest keeps outputs reproducible across runs.
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


class Augmenter:
    """Maps texts to augmented versions; deterministic given (seed, copy, text)."""

    def __call__(self, texts: Sequence[str], copy: int = 0) -> list[str]:  # pragma: no cover
        raise NotImplementedError

    def settings(self) -> dict:
        """Everything that decides the output, so a cache made with other settings is not reused."""
        return {"augmenter": type(self).__name__}


class OpAugmenter(Augmenter):
    """Applies one of ``ops`` to each text, chosen by a generator seeded from (seed, copy, text)."""

    def __init__(
        self,
        ops: Sequence[str],
        fitted: Fitted,
        seed: int,
        settings: dict,
        text_ops: dict[str, TextOp] | None = None,
    ) -> None:
        self.ops = list(ops)
        self.seed = seed
        text_ops = text_ops or {}
        self._text_ops = {k: text_ops[op] for k, op in enumerate(self.ops) if op in text_ops}
        self._fns = [None if op in text_ops else OPS.get(op) for op in self.ops]
        self._fitted = fitted
        self._settings = settings

    def __call__(self, texts: Sequence[str], copy: int = 0) -> list[str]:
        out = list(texts)
        drawn: dict[int, list[int]] = defaultdict(list)  # whole-text op -> rows it was drawn for
        for i, text in enumerate(out):
            tokens, sep = split(text)
            if not tokens:
                continue
            # Seeding from the text itself, not its position, gives the same output whatever else is
            # in the call (identical texts get identical views within one copy).
            rng = np.random.default_rng([self.seed % 2**63, copy, _text_key(text)])
            k = 0 if len(self._fns) == 1 else int(rng.integers(len(self._fns)))
            fn = self._fns[k]
            if fn is None:
                drawn[k].append(i)
            else:
                out[i] = sep.join(fn(tokens, rng, self._fitted))
        # A whole-text op gets all its texts in one call, so it can batch (and cache) the work.
        for k, rows in drawn.items():
            news = self._text_ops[k]([out[i] for i in rows], copy)
            for i, new in zip(rows, news, strict=True):
                out[i] = new
        return out

    def settings(self) -> dict:
        return dict(self._settings)


def build_augmenter(
    ops: Sequence[str],
    rate: float,
    *,
    corpus: Sequence[str],
    seed: int,
    vectors: str | None = None,
    neighbours: int = 10,
    text: TextOpSettings | None = None,
) -> Augmenter:
    """Fit what the ops need on ``corpus`` (IDF statistics, word list, vector neighbours); ``text``
    configures the whole-text ops (language, fallback ops, threads, progress).

    Words outside ``corpus`` have no neighbours and count as informative for tfidf, so pass
    the texts that will be augmented (or a superset of them).
    """
    check_ops("augmentation ops", ops)
    text = text or TextOpSettings()
    if not 0.0 < rate <= 1.0:
        raise ConfigError(f"augmentation rate must be in (0, 1], got {rate}")
    fitted = Fitted(rate)
    settings: dict = {"ops": list(ops), "rate": rate, "seed": seed, "corpus": _digest(corpus)}
    if "tfidf" in ops:
        fit_idf(fitted, corpus)
    if any(op in _NEED_VECTORS for op in ops):
        if not vectors:
            raise ConfigError(
                "augmentation ops synonym/insert need word vectors; set augment.vectors or model.vectors "
                "(for a transformer model, augment.vectors: glove-6b-50d)"
            )
        fit_neighbours(fitted, corpus, vectors, neighbours)
        settings.update(vectors=vectors, neighbours=neighbours)
    text_ops = _text_ops(
        ops, rate, corpus=corpus, seed=seed, vectors=vectors, neighbours=neighbours, text=text
    )
    if text_ops:
        settings["text_ops"] = {op: fn.settings() for op, fn in text_ops.items()}
    return OpAugmenter(ops, fitted, seed, settings, text_ops)


def _text_ops(ops: Sequence[str], rate: float, *, text: TextOpSettings, **fit) -> dict[str, TextOp]:
    """The whole-text ops among ``ops``, each with the augmenter of ``text.fallback`` (or None)."""
    names = [op for op in dict.fromkeys(ops) if op in TEXT_OPS]
    if not names:
        return {}
    check_fallback("augment.fallback", text.fallback)
    # Same seed as the ops themselves, so a text that falls back gets what the fallback ops alone give.
    fallback = build_augmenter(text.fallback, rate, **fit) if text.fallback else None
    return {op: TEXT_OPS.get(op)(text, fallback) for op in names}


class BackTranslation(Augmenter):
    """Wraps any callable list[str] -> list[str] (e.g. an MT model round trip) as an Augmenter.

    Its cache key is the callable's qualified name: rename it when the model behind it changes.
    Every copy calls ``translate`` again, so copies only differ if it samples.
    """

    def __init__(self, translate: Callable[[list[str]], list[str]]) -> None:
        self.translate = translate

    def __call__(self, texts: Sequence[str], copy: int = 0) -> list[str]:
        texts = list(texts)
        out = list(self.translate(texts))
        if len(out) != len(texts):
            raise DataError(
                f"back-translation returned {len(out)} texts for {len(texts)}; "
                "the translate callable must return one text per input, in order"
            )
        return out

    def settings(self) -> dict:
        fn = self.translate
        name = f"{getattr(fn, '__module__', '')}.{getattr(fn, '__qualname__', type(fn).__name__)}"
        return {"augmenter": "BackTranslation", "translate": name}


def _read_cache(path: Path, header: dict) -> list[list[str]]:
    """Copies stored in ``path`` for exactly this header; [] when absent, stale or unreadable."""
    try:
        with open(path, encoding="utf-8") as fh:
            stored = json.loads(fh.readline())
            if {k: stored.get(k) for k in header} != header:
                return []
            rows = [json.loads(line) for line in fh]
    except (OSError, ValueError, AttributeError):
        return []  # a cache is disposable: anything odd means compute again
    n, copies = header["texts"], stored.get("copies", 0)
    if len(rows) != n or any(not isinstance(r, list) or len(r) != copies for r in rows):
        return []
    return [[row[c] for row in rows] for c in range(copies)]


def _write_cache(path: Path, header: dict, result: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(json.dumps({**header, "copies": len(result)}, ensure_ascii=False) + "\n")
        for i in range(header["texts"]):
            fh.write(json.dumps([copy[i] for copy in result], ensure_ascii=False) + "\n")
    os.replace(tmp, path)  # readers never see a half-written file


def augment_cached(
    augmenter: Augmenter, texts: Sequence[str], path: Path, copies: int = 1
) -> list[list[str]]:
    """``copies`` augmented versions of every text (result[c][i]), read from ``path`` (JSON/JSONL in
    the run dir) when it holds the same texts/settings, else computed and written atomically.

    The file is JSON lines: a header with format, settings (seed included), text count and
    digest, then one list of copies per text. Missing copies are computed and appended.
    """
    texts = list(texts)
    path = Path(path)
    header = {
        "format": _FORMAT,
        "settings": augmenter.settings(),
        "texts": len(texts),
        "digest": _digest(texts),
    }
    header = json.loads(json.dumps(header))  # as it reads back (tuples become lists)
    result = _read_cache(path, header)
    if len(result) >= copies:
        return result[:copies]
    result += [augmenter(texts, copy=c) for c in range(len(result), copies)]
    _write_cache(path, header, result)
    return result
