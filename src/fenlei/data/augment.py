"""Offline text augmentation: EDA operations, vector-neighbour synonyms, UDA's TF-IDF replacement."""

from __future__ import annotations

from collections.abc import Sequence

from fenlei.errors import ConfigError

OP_NAMES = ("synonym", "insert", "swap", "delete", "tfidf")


def check_ops(key: str, ops: Sequence[str]) -> None:
    """Config check: ``ops`` is a non-empty list of known operation names."""
    if not ops:
        raise ConfigError(f"{key} must name at least one of {', '.join(OP_NAMES)}")
    for op in ops:
        if op not in OP_NAMES:
            raise ConfigError(f"{key}: unknown augmentation {op!r}; choose from {', '.join(OP_NAMES)}")
