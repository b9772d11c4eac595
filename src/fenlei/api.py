"""scikit-learn style Python API: ``TextClassifier(model="textcnn", epochs=5).fit(texts, labels)``.

Keyword arguments are config keys. A key that lives in one config section is given bare
(``epochs``, ``lr``, ``vectors``, ``num_filters``); a key that several sections share is given
as ``section__key`` (``objective__name="rdrop"``). Training goes through the same pipeline as
``fenlei train`` and the fitted model is a run directory, so ``save`` copies it and ``load``
opens any run directory, including one made by the CLI.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from fenlei.errors import ConfigError, FenleiError

API_FILE = "api.json"  # the estimator's own params and label type, beside the run's files


class TextClassifier:
    """A text classifier with fit / predict / predict_proba / score / save / load."""

    def __init__(
        self, model: str = "fasttext", *, run_dir: str | Path | None = None, verbose: bool = False, **config
    ):
        self.model = model
        self.run_dir = run_dir
        self.verbose = verbose
        self.config = dict(config)
        self._raw_config()  # fail now on an unknown or ambiguous key, not at fit time
        self._predictor = None
        self._int_labels = False

    # ------------------------------------------------------------------ sklearn protocol
    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor arguments (config keys included), as scikit-learn expects."""
        return {"model": self.model, "run_dir": self.run_dir, "verbose": self.verbose, **self.config}

    def set_params(self, **params) -> TextClassifier:
        """Change constructor arguments; the model must be fitted again."""
        for key in ("model", "run_dir", "verbose"):
            if key in params:
                setattr(self, key, params.pop(key))
        self.config.update(params)
        self._raw_config()
        return self

    @property
    def classes_(self) -> np.ndarray:
        """Label values in the column order of ``predict_proba``."""
        names = self._fitted().label_names
        if self._int_labels:
            return np.array([int(n) for n in names], dtype=np.int64)
        return np.array(names, dtype=object)

    # ------------------------------------------------------------------ training
    def fit(self, texts, labels, dev: tuple[Any, Any] | None = None) -> TextClassifier:
        """Train on ``texts``/``labels`` (lists, arrays or pandas Series); ``dev`` = (texts, labels)
        for model selection, else a stratified share of train is held out. Returns self."""
        from fenlei.config import Config
        from fenlei.training.pipeline import train

        texts = _texts(texts, "texts")
        labels = _labels(labels, len(texts))
        self._int_labels = all(isinstance(y, int) for y in labels)
        work = Path(tempfile.mkdtemp(prefix="fenlei-fit-"))
        try:
            raw = self._raw_config()
            raw.setdefault("data", {})["train"] = _write_jsonl(work / "train.jsonl", texts, labels)
            if dev is not None:
                dev_texts = _texts(dev[0], "dev texts")
                raw["data"]["dev"] = _write_jsonl(
                    work / "dev.jsonl", dev_texts, _labels(dev[1], len(dev_texts))
                )
            raw["data"].setdefault("test", None)
            train_cfg = raw.setdefault("train", {})
            train_cfg.setdefault("tensorboard", False)
            train_cfg.setdefault("report", False)
            train_cfg.setdefault("progress", self.verbose)
            if any(isinstance(y, list) for y in labels):
                raw["data"].setdefault("multi_label", True)
            cfg = Config.from_dict(raw, "TextClassifier")
            run_dir = Path(self.run_dir) if self.run_dir else work / "run"
            if (run_dir / API_FILE).is_file():
                shutil.rmtree(run_dir)  # refitting an estimator replaces the run it made before
            result = train(cfg, run_dir, quiet=not self.verbose)
            (result.run_dir / API_FILE).write_text(
                json.dumps({"params": _plain(self.get_params()), "int_labels": self._int_labels}, indent=2),
                encoding="utf-8",
            )
            self._open(result.run_dir)
            if not self.run_dir:  # keep the run with the estimator until it is saved elsewhere
                self._owned = result.run_dir
        finally:
            for name in ("train.jsonl", "dev.jsonl"):
                (work / name).unlink(missing_ok=True)
        return self

    # ------------------------------------------------------------------ prediction
    def predict_proba(self, texts) -> np.ndarray:
        """Probabilities, one row per text, columns in ``classes_`` order."""
        return self._fitted().predict_proba(_texts(texts, "texts"))

    def predict(self, texts) -> np.ndarray:
        """The most probable label per text (a list of labels per text for multi-label models)."""
        predictor = self._fitted()
        texts = _texts(texts, "texts")
        if predictor.multi_label:
            return np.array(
                [[x["label"] for x in r["labels"]] for r in predictor.predict(texts)], dtype=object
            )
        probs = predictor.predict_proba(texts)
        return self.classes_[probs.argmax(1)] if len(texts) else self.classes_[:0]

    def score(self, texts, labels) -> float:
        """Accuracy of ``predict`` on labelled texts (subset accuracy for multi-label)."""
        pred = self.predict(texts)
        gold = _labels(labels, len(pred))
        return float(np.mean([_same(p, g) for p, g in zip(pred, gold, strict=True)]))

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Copy the fitted run directory to ``path`` (created; must not hold a run yet)."""
        src = self._fitted().run_dir
        path = Path(path)
        if path.exists() and any(path.iterdir()):
            raise FenleiError(f"{path}: not empty; save into a new folder")
        if path.exists():
            path.rmdir()
        shutil.copytree(src, path, ignore=shutil.ignore_patterns("checkpoints", "tb", "augment"))
        return path

    @classmethod
    def load(cls, path: str | Path) -> TextClassifier:
        """Open a saved classifier, or any finished run directory made by ``fenlei train``."""
        path = Path(path)
        api = path / API_FILE
        meta = json.loads(api.read_text(encoding="utf-8")) if api.is_file() else {}
        params = dict(meta.get("params", {}))
        params.pop("run_dir", None)
        model = params.pop("model", None)
        verbose = params.pop("verbose", False)
        if model is None:  # a CLI run: take the model family from its config
            from fenlei.config import load_config

            model = load_config(path / "config.yaml").model.name
        clf = cls.__new__(cls)
        clf.model, clf.run_dir, clf.verbose, clf.config = model, str(path), verbose, params
        clf._int_labels = bool(meta.get("int_labels", False))
        clf._predictor = None
        clf._open(path)
        return clf

    # ------------------------------------------------------------------ helpers
    def _open(self, run_dir: Path) -> None:
        from fenlei.inference.predictor import Predictor

        self._predictor = Predictor(run_dir)

    def _fitted(self):
        if self._predictor is None:
            raise FenleiError("this TextClassifier is not fitted yet; call fit(texts, labels) first")
        return self._predictor

    def _raw_config(self) -> dict[str, dict[str, Any]]:
        """Nested config data from the flat keyword arguments."""
        raw: dict[str, dict[str, Any]] = {"model": {"name": self.model}}
        for key, value in self.config.items():
            section, name = _section_of(key, self.model)
            raw.setdefault(section, {})[name] = value
        return raw

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in {"model": self.model, **self.config}.items())
        return f"TextClassifier({args})"

    def __del__(self) -> None:
        owned = getattr(self, "_owned", None)
        if owned is not None:
            shutil.rmtree(owned.parent, ignore_errors=True)


def _section_of(key: str, model: str) -> tuple[str, str]:
    """(section, key) for a keyword: ``section__key`` as given, else the one section that has it."""
    from fenlei.config import SECTIONS

    if "__" in key:
        section, _, name = key.partition("__")
        if section not in SECTIONS:
            raise ConfigError(
                f"{key}: unknown config section {section!r}; sections are {', '.join(SECTIONS)}"
            )
        return section, name
    owners = [
        s for s, cls in SECTIONS.items() if key in {f.name for f in dataclasses.fields(cls)} - {"params"}
    ]
    if not owners and key in _family_params(model):
        owners = ["model"]
    if len(owners) == 1:
        return owners[0], key
    if not owners:
        raise ConfigError(
            f"{key}: not a config key of any section or of model {model!r}; see `fenlei models` and "
            "src/fenlei/config.py, or pass section__key"
        )
    options = " or ".join(f"{s}__{key}" for s in owners)
    raise ConfigError(f"{key}: ambiguous, it is a key of {', '.join(owners)}; pass {options}")


def _family_params(model: str) -> set[str]:
    from fenlei.models import model_class

    try:
        return {f.name for f in dataclasses.fields(model_class(model).params_class)}
    except FenleiError:
        return set()


def _texts(texts, what: str) -> list[str]:
    if isinstance(texts, str):
        raise FenleiError(f"{what}: expected a sequence of texts, got one string; wrap it in a list")
    items = texts.tolist() if hasattr(texts, "tolist") else list(texts)
    bad = [i for i, t in enumerate(items) if not isinstance(t, str)]
    if bad:
        i = bad[0]
        raise FenleiError(f"{what}[{i}]: expected a string, got {type(items[i]).__name__} ({items[i]!r})")
    return items


def _labels(labels, n: int) -> list:
    items = labels.tolist() if hasattr(labels, "tolist") else list(labels)
    if len(items) != n:
        raise FenleiError(f"labels: {len(items)} labels for {n} texts; give one label per text")
    out = []
    for y in items:
        if isinstance(y, (bool, np.bool_)):
            y = int(y)
        if isinstance(y, (list, tuple, np.ndarray)):
            out.append([str(v) for v in y])
        elif isinstance(y, (int, np.integer)):
            out.append(int(y))
        else:
            out.append(str(y))
    return out


def _write_jsonl(path: Path, texts: list[str], labels: Iterable) -> str:
    with open(path, "w", encoding="utf-8") as fh:
        for text, label in zip(texts, labels, strict=True):
            value = label if isinstance(label, list) else str(label)
            fh.write(json.dumps({"text": text, "label": value}, ensure_ascii=False) + "\n")
    return str(path)


def _same(pred, gold) -> bool:
    if isinstance(gold, list):
        return sorted(map(str, pred)) == sorted(gold)
    return str(pred) == str(gold)


def _plain(params: dict) -> dict:
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in params.items()}
