"""A finished run directory read back for reports: config, metrics, history and predictions."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from fenlei.errors import FenleiError

# history.csv columns that are bookkeeping, not a loss part or a metric.
HISTORY_KEYS = ("step", "epoch", "split", "lr", "n")


@dataclass
class Predictions:
    """Gold labels and probabilities of the split the run wrote to predictions.tsv."""

    texts: list[str]
    y_true: np.ndarray  # class index per text; multi-hot rows for multi-label runs
    probs: np.ndarray  # (texts, labels)
    multi_label: bool


@dataclass
class RunRecord:
    """Everything a report needs from one run directory."""

    run_dir: Path
    config: dict
    metrics: dict
    history: list[dict[str, float | str]]
    labels: list[str]
    predictions: Predictions | None

    @property
    def split(self) -> str:
        """The split the headline metrics come from: test when the run had one, else dev."""
        return "test" if "test" in self.metrics else "dev"

    @property
    def metric(self) -> str:
        """The model-selection metric of the run (``train.metric``)."""
        return self.metrics.get("metric") or self.config.get("train", {}).get("metric", "accuracy")

    @property
    def multi_label(self) -> bool:
        """True for a multi-label (sigmoid + BCE) run."""
        return bool(self.config.get("data", {}).get("multi_label"))

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
    """Read a finished run; a run without metrics.json (failed or still training) is an error."""
    run_dir = Path(run_dir)
    metrics_path = run_dir / "metrics.json"
    if not metrics_path.is_file():
        raise FenleiError(
            f"{run_dir}: no metrics.json, so this is not a finished run; train it (or resume it) first"
        )
    metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
    config = _read_yaml(run_dir / "config.yaml")
    labels = _read_labels(run_dir / "labels.json", metrics)
    history = read_history(run_dir / "history.csv")
    data_cfg = config.get("data", {})
    separator = data_cfg.get("label_separator", "|") if data_cfg.get("multi_label") else None
    predictions = read_predictions(run_dir / "predictions.tsv", labels, separator)
    return RunRecord(run_dir, config, metrics, history, labels, predictions)


def read_history(path: Path) -> list[dict[str, float | str]]:
    """history.csv as dicts; empty cells are dropped and numbers parsed."""
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


def read_predictions(path: Path, labels: list[str], separator: str | None = None) -> Predictions | None:
    """predictions.tsv (written by train) as arrays; ``separator`` set means a multi-label run."""
    multi_label = separator is not None
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
        gold_col = 1
        for row in reader:
            texts.append(row[0])
            probs.append([float(row[c]) for c in p_cols])
            if multi_label:
                hot = np.zeros(len(labels), dtype=np.int64)
                for name in filter(None, row[gold_col].split(separator)):
                    hot[index[name]] = 1
                gold.append(hot)
            else:
                gold.append(index[row[gold_col]])
    if not texts:
        return None
    shape = (len(texts), len(labels))
    y_true = np.asarray(gold, dtype=np.int64).reshape(shape if multi_label else (len(texts),))
    return Predictions(texts, y_true, np.asarray(probs, dtype=np.float64), multi_label)


def _read_yaml(path: Path) -> dict:
    if not path.is_file():
        return {}
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def _read_labels(path: Path, metrics: dict) -> list[str]:
    if path.is_file():
        data = json.loads(path.read_text(encoding="utf-8"))
        names = data.get("labels", data) if isinstance(data, dict) else data
        return [str(n) for n in names]
    return [str(n) for n in metrics.get("data", {}).get("labels", [])]


def _number(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        return math.nan
