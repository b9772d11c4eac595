"""The label scheme of a run: single-label (one class per text) or multi-label (a set per text).

Everything that differs between the two lives here, behind one interface: how label cells are
read, label fitting and encoding, the dev split, train-set checks, probabilities from logits,
decisions (argmax, or tuned per-label thresholds), metrics, the default objective and metric,
the rows of predictions.tsv and a Predictor's answer. Callers ask the task; nobody else
branches on ``data.multi_label`` (DESIGN.md §3).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from fenlei.data.examples import Examples
from fenlei.data.label_cells import LabelCells, ListCells, SingleCells
from fenlei.data.labels import LabelMap, check_class_count
from fenlei.errors import ConfigError, RunDirError
from fenlei.registry import Registry

if TYPE_CHECKING:
    import torch

MULTI_LABEL_METRICS = ("samples_f1", "hamming_loss")  # train.metric names that need multi-label
SINGLE_LABEL_METRICS = ("mcc",)


class Task(ABC):
    """What a label scheme decides; one instance per run (it holds the tuned decision rule)."""

    name: ClassVar[str]
    multi_label: ClassVar[bool]  # as reported in served metadata and saved configs
    default_objective: ClassVar[str]
    default_metric: ClassVar[str]
    activation: ClassVar[str]  # softmax | sigmoid: what ``probabilities`` applies (numpy paths ask)
    # Why train cannot be streamed from an on-disk corpus for this task (None: it can).
    unstreamable: ClassVar[str | None] = None
    # Why ``fenlei audit`` (confident learning: one given label per text) cannot check this task.
    unauditable: ClassVar[str | None] = None

    def __init__(self, separator: str = "|") -> None:
        self.separator = separator

    @property
    @abstractmethod
    def cells(self) -> LabelCells:
        """How readers parse this task's label cells."""

    @abstractmethod
    def check_config(self, cfg) -> None:
        """Raise a ConfigError for settings this label scheme cannot serve (metric, data keys)."""

    @abstractmethod
    def objective_error(self, objective: str) -> str:
        """The message for an objective that trains the other label scheme."""

    def prepare(self, examples: Examples, known: Sequence[str] | None = None) -> Examples:
        """``examples`` without rows this task cannot use (counted in ``skipped``)."""
        return examples

    @abstractmethod
    def check_train(self, examples: Examples) -> None:
        """Raise a DataError when the training labels cannot be what the user meant."""

    def check_class_count(self, examples: Examples) -> None:
        """Refuse a label column with too many classes before the dev split is drawn."""
        return None

    @abstractmethod
    def fit_labels(self, labels: Sequence) -> LabelMap:
        """The label map of the training labels."""

    @abstractmethod
    def encode(
        self, labels: LabelMap, raw: Sequence | None, *, unseen: str = "error", source: str = ""
    ) -> tuple[list, list[int]]:
        """Label ids of ``raw`` (ints, or multi-hot rows) and the indices kept under ``unseen``."""

    @abstractmethod
    def split_dev(self, examples: Examples, dev_ratio: float, seed: int) -> tuple[Examples, Examples]:
        """(train, dev), stratified by label (or label set), deterministic under ``seed``."""

    # ------------------------------------------------------------------ outputs
    @abstractmethod
    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """Probabilities from logits, in fp32."""

    @abstractmethod
    def explained(self, logits: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        """[B] the score of class ``label`` [B] that token attributions explain."""

    def tune(self, y_true: np.ndarray, probs: np.ndarray, policy: str) -> None:
        """Fit the decision rule on dev (multi-label thresholds); argmax needs nothing."""
        return None

    @abstractmethod
    def score(self, y_true: np.ndarray, probs: np.ndarray, names: Sequence[str]) -> dict:
        """Metrics of ``probs`` against gold labels, at the current decision rule."""

    @abstractmethod
    def predict_labels(self, probs: np.ndarray, classes: np.ndarray) -> np.ndarray:
        """The decided labels per text (a value of ``classes``, or a list of them)."""

    @abstractmethod
    def answer(self, text: str, row: np.ndarray, names: Sequence[str], top_k: int) -> dict:
        """A Predictor's (and the server's) answer for one text."""

    @abstractmethod
    def prediction_header(self, names: Sequence[str]) -> list[str]:
        """Columns of predictions.tsv."""

    @abstractmethod
    def prediction_row(self, gold, row: np.ndarray, names: Sequence[str]) -> list[str]:
        """The predictions.tsv cells after the text: gold, decision, probabilities."""

    @abstractmethod
    def parse_gold(self, cell: str, index: dict[str, int]) -> int | np.ndarray:
        """The gold label of one predictions.tsv row (its second cell)."""

    @abstractmethod
    def indicator(self, y_true: np.ndarray, num_labels: int) -> np.ndarray:
        """Gold labels as a 0/1 matrix [N, C] (one-vs-rest for single-label)."""

    @abstractmethod
    def curve_classes(self, num_labels: int) -> list[int]:
        """The label columns that get a ROC / PR curve."""

    def decision_state(self, names: Sequence[str]) -> dict | None:
        """The tuned decision rule as JSON data (thresholds.json), or None when there is none."""
        return None

    def load_decision(self, state: dict | None, names: Sequence[str], where: str) -> None:
        """Restore what ``decision_state`` saved (None: the default rule)."""
        return None

    def section_note(self, section: str) -> str | None:
        """Why a report section does not apply to this task, or None when it does."""
        return None


TASKS: Registry[type[Task]] = Registry("task", ConfigError)


def make_task(data_cfg) -> Task:
    """The task a DataConfig (or its dict in a saved config.yaml) describes; ``multi_label``
    empty means the catalog data set's own scheme (``data.name``), else single-label."""
    get = data_cfg.get if isinstance(data_cfg, dict) else lambda k, d=None: getattr(data_cfg, k, d)
    multi = get("multi_label", None)
    if multi is None and get("name", None):
        from fenlei.data.catalog import DATASETS

        multi = get("name") in DATASETS and DATASETS.get(get("name")).multi_label
    return TASKS.get("multi_label" if multi else "single_label")(get("label_separator", "|") or "|")


@TASKS.register("single_label")
class SingleLabel(Task):
    """One class per text: softmax, argmax, accuracy."""

    name = "single_label"
    multi_label = False
    default_objective = "cross_entropy"
    default_metric = "accuracy"
    activation = "softmax"

    @property
    def cells(self) -> LabelCells:
        return SingleCells()

    def check_config(self, cfg) -> None:
        if cfg.train.metric in MULTI_LABEL_METRICS:
            raise ConfigError(
                f"train.metric: {cfg.train.metric} is a multi-label metric; set data.multi_label: true"
            )

    def objective_error(self, objective: str) -> str:
        return (
            f"objective.name: {objective} is the multi-label loss; set data.multi_label: true "
            "(single-label runs use cross_entropy)"
        )

    def check_train(self, examples: Examples) -> None:
        from fenlei.data.multilabel import check_single_label

        check_single_label(examples, self.separator)

    def fit_labels(self, labels: Sequence) -> LabelMap:
        return LabelMap.fit(labels)

    def check_class_count(self, examples: Examples) -> None:
        if examples.labels is not None:
            check_class_count(examples.labels, examples.source)

    def encode(self, labels, raw, *, unseen="error", source=""):
        return labels.encode(raw, unseen=unseen, source=source)

    def split_dev(self, examples, dev_ratio, seed):
        from fenlei.data.split import stratified_split

        return stratified_split(examples, dev_ratio, seed)

    def probabilities(self, logits):
        import torch

        return torch.softmax(logits.float(), -1)

    def explained(self, logits, label):  # softmax ignores a shift of every logit: the centred one
        return (logits.float() - logits.float().mean(-1, keepdim=True)).gather(1, label[:, None]).squeeze(1)

    def score(self, y_true, probs, names):
        from fenlei.evaluation.metrics import classification_metrics

        return classification_metrics(y_true, probs, names)

    def predict_labels(self, probs, classes):
        return classes[probs.argmax(1)] if len(probs) else classes[:0]

    def answer(self, text, row, names, top_k):
        order = [int(row.argmax())] if top_k == 1 else np.argsort(-row)[: min(top_k, len(names))]
        best = float(row[order[0]])  # argmax: a full sort per text cost as much as the forward pass
        top = [{"label": names[i], "probability": float(row[i])} for i in order]
        return {"text": text, "label": names[order[0]], "probability": best, "top": top}

    def prediction_header(self, names):
        return ["text", "label", "prediction", "confidence", *(f"p_{n}" for n in names)]

    def prediction_row(self, gold, row, names):
        p = int(row.argmax())
        return [names[gold], names[p], f"{row[p]:.6f}", *(f"{x:.6f}" for x in row)]

    def parse_gold(self, cell, index):
        return index[cell]

    def indicator(self, y_true, num_labels):
        return np.eye(num_labels, dtype=np.int64)[y_true]

    def curve_classes(self, num_labels):
        return [1] if num_labels == 2 else list(range(num_labels))


@TASKS.register("multi_label")
class MultiLabel(Task):
    """A set of labels per text: a sigmoid per label, thresholds tuned on dev, micro-F1."""

    name = "multi_label"
    multi_label = True
    default_objective = "bce"
    default_metric = "micro_f1"
    activation = "sigmoid"
    unstreamable = "data.multi_label is set, which needs the whole train set in memory"
    unauditable = "data.multi_label is set: fenlei audit checks single-label data; give one label per row"

    def __init__(self, separator: str = "|") -> None:
        super().__init__(separator)
        self.thresholds: np.ndarray | None = None  # None: 0.5 for every label
        self.policy = "global"

    @property
    def cells(self) -> LabelCells:
        return ListCells(self.separator)

    def check_config(self, cfg) -> None:
        if cfg.train.metric in SINGLE_LABEL_METRICS:
            raise ConfigError(
                f"train.metric: {cfg.train.metric} is single-label only; for multi-label use micro_f1, "
                "macro_f1, samples_f1, hamming_loss, roc_auc, accuracy (subset accuracy) or loss"
            )
        if cfg.data.labeled_per_class or cfg.data.unlabeled:
            raise ConfigError(
                "data.labeled_per_class / data.unlabeled (semi-supervised UDA) are single-label only; "
                "remove them or set data.multi_label: false"
            )

    def objective_error(self, objective: str) -> str:
        return (
            f"objective.name: {objective!r} is a single-label (softmax) loss; with "
            "data.multi_label: true set objective.name: bce (or leave it unset)"
        )

    def prepare(self, examples, known=None):
        from fenlei.data.multilabel import drop_unsplit

        return drop_unsplit(examples, self.separator, known)

    def check_train(self, examples):
        """Nothing to check: label lists were validated while reading."""

    def fit_labels(self, labels):
        return LabelMap.fit([name for row in labels for name in row])

    def encode(self, labels, raw, *, unseen="error", source=""):
        from fenlei.data.multilabel import encode_multi

        return encode_multi(labels, raw, unseen=unseen, source=source)

    def split_dev(self, examples, dev_ratio, seed):
        from fenlei.data.multilabel import split_dev

        return split_dev(examples, dev_ratio, seed)

    def probabilities(self, logits):
        import torch

        return torch.sigmoid(logits.float())

    def explained(self, logits, label):  # each label has its own sigmoid: its own logit
        return logits.float().gather(1, label[:, None]).squeeze(1)

    def tune(self, y_true, probs, policy):
        from fenlei.evaluation.thresholds import tune_thresholds

        self.thresholds = tune_thresholds(y_true, probs, policy)
        self.policy = policy

    def score(self, y_true, probs, names):
        from fenlei.evaluation.metrics import multilabel_metrics

        return multilabel_metrics(y_true, probs, names, self.thresholds)

    def _chosen(self, row: np.ndarray) -> list[int]:
        """Label indices at or above their thresholds, most probable first."""
        thr = self._threshold_row(len(row))
        return [int(i) for i in np.argsort(-row) if row[i] >= thr[i]]

    def _threshold_row(self, n: int) -> np.ndarray:
        from fenlei.evaluation.thresholds import DEFAULT_THRESHOLD

        return np.full(n, DEFAULT_THRESHOLD) if self.thresholds is None else self.thresholds

    def predict_labels(self, probs, classes):
        out = np.empty(len(probs), dtype=object)
        for i, row in enumerate(probs):
            out[i] = [classes[j] for j in self._chosen(row)]
        return out

    def answer(self, text, row, names, top_k):
        order = np.argsort(-row)[: min(top_k, len(names))]
        return {
            "text": text,
            "labels": [{"label": names[i], "probability": float(row[i])} for i in self._chosen(row)],
            "top": [{"label": names[i], "probability": float(row[i])} for i in order],
        }

    def prediction_header(self, names):
        return ["text", "labels", "predicted", *(f"p_{n}" for n in names)]

    def prediction_row(self, gold, row, names):
        from fenlei.evaluation.thresholds import decide

        hot = decide(row[None, :], self._threshold_row(len(row)))[0]
        gold_txt = self.separator.join(names[i] for i in np.flatnonzero(gold))
        predicted = self.separator.join(names[i] for i in np.flatnonzero(hot))
        return [gold_txt, predicted, *(f"{x:.6f}" for x in row)]

    def parse_gold(self, cell, index):
        hot = np.zeros(len(index), dtype=np.int64)
        for name in filter(None, cell.split(self.separator)):
            hot[index[name]] = 1
        return hot

    def indicator(self, y_true, num_labels):
        return np.asarray(y_true, dtype=np.int64).reshape(len(y_true), num_labels)

    def curve_classes(self, num_labels):
        return list(range(num_labels))

    def decision_state(self, names):
        thresholds = self._threshold_row(len(names))
        return {
            "policy": self.policy,
            "thresholds": {n: float(t) for n, t in zip(names, thresholds, strict=True)},
        }

    def load_decision(self, state, names, where):
        if state is None:
            self.thresholds = None
            return
        try:
            data = state["thresholds"]
            self.thresholds = np.array([float(data[name]) for name in names])
        except (ValueError, KeyError, TypeError) as err:
            raise RunDirError(
                f"{where}: corrupt ({err}); delete it to use 0.5, or train the run again"
            ) from None
        self.policy = state.get("policy", "global")

    def section_note(self, section):
        return _MULTI_LABEL_NOTES.get(section)


_MULTI_LABEL_NOTES = {
    "confusion-matrix": "Multi-label run: one confusion matrix per label is its per-label "
    "precision/recall below.",
    "calibration": "Calibration needs single-label predictions (predictions.tsv).",
    "mcc": "MCC per batch needs single-label predictions (predictions.tsv).",
    "mistakes": "Mistake tables need single-label predictions (predictions.tsv).",
}
