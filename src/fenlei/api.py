"""A scikit-learn estimator: ``TextClassifier(model="textcnn", epochs=5).fit(texts, labels)``.

It inherits ``BaseEstimator`` and ``ClassifierMixin``, so ``clone``, ``Pipeline``,
``GridSearchCV`` and ``cross_val_score`` work. The constructor only stores its arguments, as
given; everything is checked and done in ``fit``. Keyword arguments are config keys: a key that
lives in one config section is given bare (``epochs``, ``lr``, ``vectors``, ``num_filters``), a
key that several sections share as ``section__key`` (``objective__name="rdrop"``). Training goes
through the same ``train`` as ``fenlei train``, with the texts in memory, and the fitted model is
a run directory: ``save`` copies it and ``load`` opens any run directory, including one made by
the CLI.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import weakref
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import NotFittedError

from fenlei.errors import ConfigError, FenleiError
from fenlei.rundir import API, RunDir

# Constructor arguments that are not config keys.
_OWN = ("model", "run_dir", "verbose")


class NotFitted(FenleiError, NotFittedError):
    """predict/score/save before fit."""


class TextClassifier(ClassifierMixin, BaseEstimator):
    """A text classifier with fit / predict / predict_proba / score / save / load.

    model: a registered model family (``fenlei models``).
    epochs, lr, batch_size, max_length, seed, device: the config keys most often set.
    run_dir: where the fitted run is written; None = a temporary folder kept until the
        estimator is garbage-collected (``save`` copies it elsewhere).
    verbose: show the plan, progress bar and epoch table.
    **config: any other config key, bare or as ``section__key``.
    """

    def __init__(
        self,
        model: str = "fasttext",
        *,
        epochs: int | None = None,
        lr: float | None = None,
        batch_size: int | None = None,
        max_length: int | None = None,
        seed: int | None = None,
        device: str | None = None,
        run_dir: str | Path | None = None,
        verbose: bool = False,
        **config: Any,
    ) -> None:
        self.model = model
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.max_length = max_length
        self.seed = seed
        self.device = device
        self.run_dir = run_dir
        self.verbose = verbose
        for key, value in config.items():
            setattr(self, key, value)
        self._config_keys = tuple(config)

    # ------------------------------------------------------------------ sklearn protocol
    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor arguments (extra config keys included), as scikit-learn expects."""
        params = super().get_params(deep=False)
        params.update({key: getattr(self, key) for key in self._config_keys})
        return params

    def set_params(self, **params: Any) -> TextClassifier:
        """Change constructor arguments (any config key may be added); fit again to use them."""
        named = set(super().get_params(deep=False))
        for key, value in params.items():
            setattr(self, key, value)
            if key not in named and key not in self._config_keys:
                self._config_keys = (*self._config_keys, key)
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False  # a sequence of texts, not a matrix
        tags.input_tags.string = True
        return tags

    # ------------------------------------------------------------------ training
    def fit(self, X, y, dev: tuple[Any, Any] | None = None) -> TextClassifier:
        """Train on texts ``X`` and labels ``y`` (lists, arrays or pandas Series); ``dev`` =
        (texts, labels) for model selection, else a stratified share of train is held out."""
        from fenlei.config import Config
        from fenlei.data.examples import Examples
        from fenlei.training.pipeline import train

        texts = _texts(X, "texts")
        labels = _labels(y, len(texts))
        int_labels = all(isinstance(v, int) for v in labels)
        raw = self._raw_config()
        train_cfg = raw.setdefault("train", {})
        train_cfg.setdefault("tensorboard", False)
        train_cfg.setdefault("report", False)
        train_cfg.setdefault("progress", self.verbose)
        if any(isinstance(v, list) for v in labels):
            raw.setdefault("data", {}).setdefault("multi_label", True)
        cfg = Config.from_dict(raw, "TextClassifier")
        dev_examples = None
        if dev is not None:
            dev_texts = _texts(dev[0], "dev texts")
            dev_examples = Examples(dev_texts, _cells(_labels(dev[1], len(dev_texts))), "dev")
        self._release()
        if self.run_dir:
            run_dir = Path(self.run_dir)
            if (run_dir / API).is_file():
                shutil.rmtree(run_dir)  # refitting an estimator replaces the run it made before
        else:
            work = Path(tempfile.mkdtemp(prefix="fenlei-fit-"))
            self._cleanup = weakref.finalize(self, shutil.rmtree, work, ignore_errors=True)
            run_dir = work / "run"
        examples = Examples(texts, _cells(labels), "texts")
        result = train(cfg, run_dir, train=examples, dev=dev_examples, quiet=not self.verbose)
        meta = {"params": _plain(self.get_params()), "int_labels": int_labels}
        RunDir(result.run_dir).write_json(API, meta)
        self._open(result.run_dir, int_labels)
        return self

    # ------------------------------------------------------------------ prediction
    def predict_proba(self, X) -> np.ndarray:
        """Probabilities, one row per text, columns in ``classes_`` order."""
        return self._fitted().predict_proba(_texts(X, "texts"))

    def explain(self, X, label: Any = None) -> list:
        """Per-token scores of each text toward ``label`` (default: its predicted class); see
        ``Predictor.explain``."""
        name = None if label is None else str(label)
        return self._fitted().explain(_texts(X, "texts"), name)

    def predict(self, X) -> np.ndarray:
        """The decided label per text (a list of labels per text for multi-label models)."""
        predictor = self._fitted()
        probs = predictor.predict_proba(_texts(X, "texts"))
        return predictor.task.predict_labels(probs, self.classes_)

    def score(self, X, y, sample_weight=None) -> float:
        """Accuracy of ``predict`` on labelled texts (subset accuracy for multi-label)."""
        pred = self.predict(X)
        gold = _labels(y, len(pred))
        hits = np.array([_same(p, g) for p, g in zip(pred, gold, strict=True)], dtype=np.float64)
        return float(np.average(hits, weights=sample_weight)) if len(hits) else 0.0

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Copy the fitted run directory to ``path`` (created; must not hold a run yet)."""
        return RunDir(self._fitted().run_dir).copy_to(Path(path))

    @classmethod
    def load(cls, path: str | Path) -> TextClassifier:
        """Open a saved classifier, or any finished run directory made by ``fenlei train``."""
        rd = RunDir(path)
        meta = rd.read_json(API) or {}
        params = dict(meta.get("params", {}))
        params.pop("run_dir", None)
        if "model" not in params:  # a CLI run: take the model family from its config
            params["model"] = rd.read_config().model.name
        clf = cls(**params, run_dir=str(rd.path))
        clf._open(rd.path, bool(meta.get("int_labels", False)))
        return clf

    # ------------------------------------------------------------------ helpers
    def _open(self, run_dir: Path, int_labels: bool) -> None:
        from fenlei.inference.predictor import Predictor

        self.predictor_ = Predictor(run_dir)
        self.run_dir_ = Path(run_dir)
        names = self.predictor_.label_names
        self.classes_ = (
            np.array([int(n) for n in names], dtype=np.int64) if int_labels else np.array(names, dtype=object)
        )

    def _fitted(self):
        if not hasattr(self, "predictor_"):
            raise NotFitted("this TextClassifier is not fitted yet; call fit(texts, labels) first")
        return self.predictor_

    def _release(self) -> None:
        """Forget the previous fit (and delete its temporary run)."""
        cleanup = getattr(self, "_cleanup", None)
        if cleanup is not None:
            cleanup()
        for name in ("predictor_", "run_dir_", "classes_"):
            self.__dict__.pop(name, None)

    def _raw_config(self) -> dict[str, dict[str, Any]]:
        """Nested config data from the flat keyword arguments that are set."""
        raw: dict[str, dict[str, Any]] = {"model": {"name": self.model}}
        for key, value in self.get_params().items():
            if key in _OWN or value is None and key not in self._config_keys:
                continue
            section, name = _section_of(key, self.model)
            raw.setdefault(section, {})[name] = value
        return raw


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
        s
        for s, cls in SECTIONS.items()
        if key in {f.name for f in dataclasses.fields(cls)} - {"params", "moved"}
    ]
    if not owners and key in _family_params(model):
        owners = ["model"]
    if not owners and key in _objective_params():
        owners = ["objective"]
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


def _objective_params() -> set[str]:
    from fenlei.objectives import list_objectives, objective_spec

    return {key for name in list_objectives() for key in objective_spec(name).param_names()}


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


def _cells(labels: list) -> list:
    """Labels as a reader's label cells would hold them: names, or lists of names."""
    return [y if isinstance(y, list) else str(y) for y in labels]


def _same(pred, gold) -> bool:
    if isinstance(gold, list):
        return sorted(map(str, pred)) == sorted(gold)
    return str(pred) == str(gold)


def _plain(params: dict) -> dict:
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in params.items()}
