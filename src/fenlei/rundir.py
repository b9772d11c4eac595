"""The run directory, the unit of saving and loading (DESIGN.md §3): every file name it holds
is a constant here, and this is the only code that knows its layout.

A run directory is *finished* when it holds metrics.json, which train writes last; a run that
failed holds FAILED instead. A Predictor needs config.yaml, labels.json and model.safetensors
(plus the encoder's files); a report also reads history.csv and predictions.tsv.
"""

from __future__ import annotations

import csv
import json
import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml

from fenlei.errors import FenleiError, RunDirError

if TYPE_CHECKING:
    import torch

    from fenlei.config import Config
    from fenlei.data.labels import LabelMap
    from fenlei.task import Task

CONFIG = "config.yaml"  # the resolved config
LABELS = "labels.json"
MODEL = "model.safetensors"
METRICS = "metrics.json"  # written last: its presence means the run finished
HISTORY = "history.csv"
PREDICTIONS = "predictions.tsv"  # test (else dev) texts with gold, decision and probabilities
THRESHOLDS = "thresholds.json"  # a multi-label run's tuned decision thresholds
PROFILE = "profile.json"  # the data profile (fenlei.data.profile), computed before training
FAITHFULNESS = "faithfulness.json"  # `fenlei explain --faithfulness`: how faithful explanations are
FAILED = "FAILED"
REPORT = "report.html"
PLOTS = "plots"
TENSORBOARD = "tb"
CHECKPOINTS = "checkpoints"
AUGMENT = "augment"  # cached augmented copies and views, reused by a resumed run
CORPUS = "corpus"  # a streamed train set, encoded on disk
TOKENIZER = "tokenizer.json"  # the encoder's settings
VOCAB = "vocab.json"  # a vocabulary encoder's tokens
HF_DIR = "hf"  # a Hugging Face folder (tokenizer, and a transformer's weights)
ONNX = "model.onnx"
ONNX_INT8 = "model.int8.onnx"
ONNX_META = "onnx.json"
API = "api.json"  # a TextClassifier's own parameters
# Inside checkpoints/: the best weights, and the resume point (a folder swapped in atomically).
BEST = "best.safetensors"
LAST = "last"
STATE = "state.json"
STATE_TENSORS = "state.safetensors"

PREDICTOR_FILES = (CONFIG, LABELS, MODEL)
# What a copy of a finished run can leave out: training scratch, not needed to predict.
SCRATCH = (CHECKPOINTS, TENSORBOARD, AUGMENT, CORPUS)
# The run's records, not what a predictor loads: left out of a model's size.
RECORDS = (METRICS, HISTORY, PREDICTIONS, PROFILE, FAITHFULNESS, REPORT, PLOTS, FAILED, ONNX, ONNX_META)
# history.csv columns that are bookkeeping, not a loss part or a metric.
HISTORY_KEYS = ("step", "epoch", "split", "lr", "n")


class RunDir:
    """One run directory: prepare it, write its files, read them back."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    def __str__(self) -> str:
        return str(self.path)

    def __fspath__(self) -> str:
        return str(self.path)

    # ------------------------------------------------------------------ state
    @property
    def finished(self) -> bool:
        """True when training wrote metrics.json."""
        return (self.path / METRICS).is_file()

    @property
    def checkpoints(self) -> Path:
        return self.path / CHECKPOINTS

    def holds_run(self) -> bool:
        """A run finished or started here (metrics.json or checkpoints/)."""
        return (self.path / METRICS).exists() or (self.path / CHECKPOINTS).exists()

    def refuse_if_taken(self) -> None:
        """Raise when a new run would overwrite one that finished or started here."""
        if self.holds_run():
            raise FenleiError(
                f"{self.path}: already holds a run; choose another -o, delete it, "
                "or pass --resume to continue it"
            )

    def prepare(self, resume: bool) -> None:
        """Create the folder for a new run, or clear the marks of an interrupted one to resume it."""
        if self.path.exists() and not self.path.is_dir():
            raise FenleiError(f"{self.path}: -o names a file, not a folder; choose another -o")
        if resume:
            if not self.checkpoints.is_dir():
                raise FenleiError(f"{self.path}: no checkpoints to resume from; train without --resume")
            for stale in (FAILED, METRICS):
                (self.path / stale).unlink(missing_ok=True)
            return
        self.refuse_if_taken()
        if self.path.exists() and any(self.path.iterdir()):
            shutil.rmtree(self.path / TENSORBOARD, ignore_errors=True)
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / FAILED).unlink(missing_ok=True)

    def model_bytes(self) -> int:
        """Bytes of the files a predictor loads (everything but scratch, records and exports)."""
        skip = {*SCRATCH, *RECORDS}
        return sum(
            f.stat().st_size
            for top in self.path.iterdir()
            if top.name not in skip
            for f in ([top] if top.is_file() else top.rglob("*"))
            if f.is_file()
        )

    def mark_failed(self, message: str) -> None:
        """Leave FAILED with ``message``, so that nobody mistakes the run for a finished one."""
        (self.path / FAILED).write_text(message + "\n", encoding="utf-8")

    def check_predictable(self) -> None:
        """Raise a RunDirError naming the files a Predictor needs that are missing."""
        if not self.path.is_dir():
            raise RunDirError(f"{self.path}: run directory not found")
        missing = [name for name in PREDICTOR_FILES if not (self.path / name).is_file()]
        if missing:
            hint = " (training did not finish)" if (self.path / FAILED).exists() else ""
            raise RunDirError(
                f"{self.path}: missing {', '.join(missing)}{hint}; train it again with fenlei train"
            )

    # ------------------------------------------------------------------ writing
    def save_config(self, cfg: Config) -> None:
        cfg.save(self.path / CONFIG)

    def save_labels(self, labels: LabelMap) -> None:
        labels.save(self.path / LABELS)

    def save_model(self, tensors: dict[str, torch.Tensor]) -> None:
        _state_io().save_tensors(self.path / MODEL, tensors)

    def save_decision(self, task: Task, names: list[str]) -> None:
        """thresholds.json when the task tuned a decision rule."""
        state = task.decision_state(names)
        if state is not None:
            _state_io().write_json(self.path / THRESHOLDS, state)

    def write_predictions(self, task: Task, texts, gold, probs: np.ndarray, names: list[str]) -> None:
        """predictions.tsv: one row per text (tabs and line breaks in texts become spaces)."""
        lines = ["\t".join(task.prediction_header(names))]
        for text, g, row in zip(texts, gold, probs, strict=True):
            clean = text.replace("\t", " ").replace("\n", " ")
            lines.append("\t".join([clean, *task.prediction_row(g, row, names)]))
        _state_io().atomic_write_text(self.path / PREDICTIONS, "\n".join(lines) + "\n")

    def finish(self, metrics: dict) -> None:
        """Write metrics.json, which marks the run finished."""
        _state_io().write_json(self.path / METRICS, metrics)

    def write_json(self, name: str, data: Any) -> None:
        """Write one of the run's JSON files (a name constant of this module)."""
        _state_io().write_json(self.path / name, data)

    # ------------------------------------------------------------------ reading
    def read_config(self, overrides: list[str] | None = None) -> Config:
        from fenlei.config import load_config

        return load_config(self.path / CONFIG, overrides)

    def read_config_dict(self) -> dict:
        path = self.path / CONFIG
        if not path.is_file():
            return {}
        return yaml.safe_load(path.read_text(encoding="utf-8")) or {}

    def read_labels(self) -> LabelMap:
        from fenlei.data.labels import LabelMap

        path = self.path / LABELS
        try:
            return LabelMap.load(path)
        except (ValueError, KeyError) as err:
            raise RunDirError(f"{path}: corrupt ({err})") from None

    def read_model(self) -> dict[str, torch.Tensor]:
        from safetensors import SafetensorError

        path = self.path / MODEL
        try:
            return _state_io().read_tensors(path)
        except (OSError, RuntimeError, ValueError, SafetensorError) as err:
            raise RunDirError(f"{path}: cannot be loaded ({err})") from None

    def read_decision(self, task: Task, names: list[str]) -> None:
        """Give ``task`` the decision rule saved with the run (none saved: its default)."""
        path = self.path / THRESHOLDS
        state = None
        if path.is_file():
            try:
                state = json.loads(path.read_text(encoding="utf-8"))
            except ValueError as err:
                raise RunDirError(
                    f"{path}: corrupt ({err}); delete it to use 0.5, or train the run again"
                ) from None
        task.load_decision(state, names, str(path))

    def read_metrics(self) -> dict:
        """metrics.json ({} when the run did not finish)."""
        path = self.path / METRICS
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}

    def read_json(self, name: str) -> dict | None:
        """One of the run's JSON files (a name constant of this module), None when absent."""
        path = self.path / name
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None

    def read_history(self) -> list[dict[str, float | str]]:
        """history.csv as dicts; empty cells are dropped and numbers parsed."""
        path = self.path / HISTORY
        if not path.is_file():
            return []
        rows = []
        with open(path, encoding="utf-8", newline="") as fh:
            for raw in csv.DictReader(fh):
                row: dict[str, float | str] = {}
                for key, value in raw.items():
                    if value in ("", None):
                        continue
                    row[key] = value if key == "split" else _number(value)
                rows.append(row)
        return rows

    def read_predictions(self, task: Task, labels: list[str]) -> Predictions | None:
        """predictions.tsv as arrays (gold labels as the task reads them), None when absent or empty."""
        path = self.path / PREDICTIONS
        if not path.is_file():
            return None
        index = {name: i for i, name in enumerate(labels)}
        texts, gold, probs = [], [], []
        with open(path, encoding="utf-8", newline="") as fh:
            reader = csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
            header = next(reader, None)
            if header is None:
                return None
            p_cols = [header.index(f"p_{name}") for name in labels]
            for row in reader:
                texts.append(row[0])
                probs.append([float(row[c]) for c in p_cols])
                gold.append(task.parse_gold(row[1], index))
        if not texts:
            return None
        return Predictions(texts, np.asarray(gold, dtype=np.int64), np.asarray(probs, dtype=np.float64))

    def record(self) -> RunRecord:
        """Everything a report needs; a run without metrics.json (failed or still training) is an error."""
        from fenlei.task import make_task

        if not self.finished:
            raise FenleiError(
                f"{self.path}: no metrics.json, so this is not a finished run; train it (or resume it) first"
            )
        metrics = self.read_metrics()
        config = self.read_config_dict()
        labels = self._label_names(metrics)
        task = make_task(config.get("data", {}))
        history = self.read_history()
        return RunRecord(
            self.path, config, metrics, history, labels, task, self.read_predictions(task, labels)
        )

    def _label_names(self, metrics: dict) -> list[str]:
        path = self.path / LABELS
        if path.is_file():
            data = json.loads(path.read_text(encoding="utf-8"))
            names = data.get("labels", data) if isinstance(data, dict) else data
            return [str(n) for n in names]
        return [str(n) for n in metrics.get("data", {}).get("labels", [])]

    # ------------------------------------------------------------------ copying
    def copy_to(self, target: Path) -> Path:
        """Copy the run without its training scratch into ``target`` (new or empty)."""
        target = Path(target)
        if target.exists() and any(target.iterdir()):
            raise FenleiError(f"{target}: not empty; save into a new folder")
        if target.exists():
            target.rmdir()
        shutil.copytree(self.path, target, ignore=shutil.ignore_patterns(*SCRATCH))
        return target


@dataclass
class Predictions:
    """Gold labels and probabilities of the split the run wrote to predictions.tsv."""

    texts: list[str]
    y_true: np.ndarray  # class index per text; multi-hot rows for multi-label runs
    probs: np.ndarray  # (texts, labels)


@dataclass
class RunRecord:
    """A finished run read back for reports: config, metrics, history and predictions."""

    run_dir: Path
    config: dict
    metrics: dict
    history: list[dict[str, float | str]]
    labels: list[str]
    task: Task
    predictions: Predictions | None

    @property
    def split(self) -> str:
        """The split the headline metrics come from: test when the run had one, else dev."""
        return "test" if "test" in self.metrics else "dev"

    @property
    def metric(self) -> str:
        """The model-selection metric of the run (``train.metric``)."""
        return self.metrics.get("metric") or self.config.get("train", {}).get("metric") or "accuracy"

    def rows(self, split: str) -> list[dict[str, float | str]]:
        """History rows of one split (``train`` or ``dev``)."""
        return [r for r in self.history if r.get("split") == split]

    def loss_parts(self) -> list[str]:
        """Names of the logged loss parts (UDA: sup/unsup..., R-Drop: ce/kl), in file order."""
        train = self.rows("train")
        if not train:
            return []
        keys = [k for k in train[0] if k not in HISTORY_KEYS and k != "loss"]
        return [k for k in keys if any(isinstance(r.get(k), float) for r in train)]


def load_run(run_dir: str | Path) -> RunRecord:
    """A finished run read back for reports (see ``RunDir.record``)."""
    return RunDir(run_dir).record()


def _number(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        return math.nan


def _state_io():
    # imported on use: reading a config or a label map should not cost torch's import
    from fenlei import state_io

    return state_io
