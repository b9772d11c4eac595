"""TF-IDF features (scikit-learn's TfidfVectorizer) as an encoder: texts -> sorted feature ids.

Fitting learns the vocabulary of word (or character) n-grams and their idf on train. A text
is encoded as the ids of its n-grams, with repeats, sorted, so that the ``tfidf`` model can
rebuild scikit-learn's sublinear, L2-normalised TF-IDF vector exactly from the id multiset
and the idf it holds. The run directory keeps the analyzer settings (tokenizer.json) and the
n-grams in id order (vocab.json); the analyzer is rebuilt from its settings at prediction
time, so nothing is pickled. Feature id V (one past the last n-gram) stands for "no feature":
an empty text or one of n-grams train never saw.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from fenlei.data.encoders import ENCODERS, EncoderSettings
from fenlei.data.text import detect_language
from fenlei.errors import RunDirError
from fenlei.rundir import TOKENIZER, VOCAB

# TfidfVectorizer keywords saved with the run (the ones that decide the analyzer's output).
_ANALYZER_KEYS = ("analyzer", "ngram_range", "lowercase", "token_pattern")


@ENCODERS.register("tfidf")
class TfidfEncoder:
    """The n-gram vocabulary and idf of a TfidfVectorizer fitted on train."""

    window = None  # windows are a transformer encoder's (hf_encoder.py)

    encoder_type = "tfidf"
    streamable = False  # the vocabulary and idf need every train text at once

    def __init__(self, settings: dict, features: list[str], idf: np.ndarray | None = None) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.settings = dict(settings)
        self.features = list(features)
        self.index = {f: i for i, f in enumerate(self.features)}
        self.idf = idf  # only while fitting: the model keeps its own copy
        self.analyze = TfidfVectorizer(**_vectorizer_kwargs(self.settings)).build_analyzer()
        self.pad_id = len(self.features)  # "no feature"
        self.max_length = 0  # whole documents: no truncation
        self.kind = f"tfidf-{self.settings['analyzer']}"
        self._vectorizer = None

    @property
    def vocab_size(self) -> int:
        """Feature ids, "no feature" included."""
        return len(self.features) + 1

    @classmethod
    def fit(cls, texts: Sequence[str], settings: EncoderSettings) -> tuple[TfidfEncoder, list[np.ndarray]]:
        """Fit the vectorizer on the training texts (``settings.source``: the model's TF-IDF params)."""
        from sklearn.feature_extraction.text import TfidfVectorizer

        source = dict(settings.source or {})
        analyzer = source.pop("analyzer", "auto")
        if analyzer == "auto":  # characters for Chinese, words otherwise (tokenizer.kind may say which)
            kind = getattr(settings.tokenizer, "kind", "auto")
            chinese = detect_language(list(texts)) == "zh"
            analyzer = kind if kind in ("word", "char") else ("char" if chinese else "word")
        word, char = source.pop("word_ngrams", (1, 2)), source.pop("char_ngrams", (1, 3))
        saved = {
            "analyzer": analyzer,
            "ngram_range": list(word if analyzer == "word" else char),
            "lowercase": bool(getattr(settings.tokenizer, "lowercase", True)),
        }
        if analyzer == "word":  # one-letter words count too ("a", "I"), unlike sklearn's default
            saved["token_pattern"] = r"(?u)\b\w+\b"
        vectorizer = TfidfVectorizer(
            **_vectorizer_kwargs(saved),
            sublinear_tf=bool(source.get("sublinear_tf", True)),
            min_df=source.get("min_df", 1),
            max_features=source.get("max_features"),
            dtype=np.float64,
        )
        vectorizer.fit(list(texts))
        names = vectorizer.get_feature_names_out().tolist()
        encoder = cls(saved, names, vectorizer.idf_.astype(np.float64))
        encoder._vectorizer = vectorizer
        return encoder, encoder.encode(texts)

    def matrix(self, texts: Sequence[str]):
        """The scikit-learn TF-IDF matrix of ``texts`` (sparse, rows L2-normalised); fitting only."""
        if self._vectorizer is None:
            raise RuntimeError("the TF-IDF matrix is only available on the encoder fitted in this process")
        return self._vectorizer.transform(list(texts))

    def encode(self, texts: Sequence[str] | None = None, tokens: list | None = None) -> list[np.ndarray]:
        """Sorted feature ids of each text's n-grams (repeats kept); "no feature" for none."""
        if tokens is not None:
            return tokens
        out = []
        get, none = self.index.get, self.pad_id
        for text in texts:
            ids = [i for i in map(get, self.analyze(str(text))) if i is not None]
            out.append(np.sort(np.asarray(ids, dtype=np.int64)) if ids else np.array([none], dtype=np.int64))
        return out

    def tokenize(self, texts: Sequence[str]) -> list[list[str]]:
        """The n-grams of each text, as the analyzer makes them."""
        return [self.analyze(str(t)) for t in texts]

    def save(self, run_dir: Path) -> None:
        """Write tokenizer.json (the analyzer's settings) and vocab.json (the n-grams in id order)."""
        run_dir = Path(run_dir)
        meta = {"type": "tfidf", **self.settings}
        (run_dir / TOKENIZER).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        vocab = json.dumps({"tokens": self.features}, ensure_ascii=False)
        (run_dir / VOCAB).write_text(vocab + "\n", encoding="utf-8")

    @classmethod
    def load(cls, run_dir: Path) -> TfidfEncoder:
        """Read what ``save`` wrote."""
        run_dir = Path(run_dir)
        try:
            meta = json.loads((run_dir / TOKENIZER).read_text(encoding="utf-8"))
            features = json.loads((run_dir / VOCAB).read_text(encoding="utf-8"))["tokens"]
        except (OSError, ValueError, KeyError) as err:
            raise RunDirError(f"{run_dir}: {TOKENIZER} or {VOCAB} is missing or corrupt ({err})") from None
        return cls({k: meta[k] for k in _ANALYZER_KEYS if k in meta}, features)


def _vectorizer_kwargs(settings: dict) -> dict:
    kwargs = {k: settings[k] for k in _ANALYZER_KEYS if k in settings}
    kwargs["ngram_range"] = tuple(kwargs.get("ngram_range", (1, 1)))
    return kwargs
