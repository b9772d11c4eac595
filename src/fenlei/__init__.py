"""fenlei: train, compare, explain and serve text classifiers.

The public API is imported lazily so that ``import fenlei`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:
    from fenlei.api import TextClassifier
    from fenlei.auditing.run import audit
    from fenlei.config import Config, load_config
    from fenlei.errors import FenleiError
    from fenlei.inference import load
    from fenlei.inference.predictor import Predictor
    from fenlei.training.pipeline import train
    from fenlei.tuning.auto import auto
    from fenlei.tuning.study import tune

_LAZY = {
    "TextClassifier": "fenlei.api",
    "Config": "fenlei.config",
    "load_config": "fenlei.config",
    "FenleiError": "fenlei.errors",
    "Predictor": "fenlei.inference.predictor",
    "load": "fenlei.inference",
    "train": "fenlei.training.pipeline",
    "evaluate_file": "fenlei.evaluation.evaluate",
    "tune": "fenlei.tuning.study",
    "auto": "fenlei.tuning.auto",
    "audit": "fenlei.auditing.run",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'fenlei' has no attribute {name!r}")


__all__ = [
    "Config",
    "FenleiError",
    "Predictor",
    "TextClassifier",
    "audit",
    "auto",
    "evaluate_file",
    "load",
    "load_config",
    "train",
    "tune",
]
