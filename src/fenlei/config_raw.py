"""Raw config data as read from YAML, before it is typed: ``--set`` overrides and the paths
that a recipe gives relative to its own folder. A leaf, like ``fenlei.config``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from fenlei.errors import ConfigError


def apply_override(raw: dict[str, Any], item: str) -> None:
    """Apply one ``section.key=value`` override to nested raw config data (value parsed as YAML);
    ``section.key.sub=value`` sets one entry of a mapping key (``tune.space.train.lr=[1e-4, 1e-3]``)."""
    if "=" not in item:
        raise ConfigError(f"--set {item!r}: expected section.key=value, e.g. train.lr=3e-5")
    key, _, text = item.partition("=")
    parts = key.strip().split(".")
    if len(parts) < 2 or not all(parts):
        raise ConfigError(f"--set {item!r}: the key must be section.key, e.g. train.epochs=5")
    try:
        value = yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError:
        value = text
    section = raw.setdefault(parts[0], {})
    if not isinstance(section, dict):
        raise ConfigError(f"{parts[0]}: expected a mapping")
    if len(parts) > 2:  # one entry of a mapping key, whose own keys are dotted: tune.space.train.lr=[...]
        mapping = section.setdefault(parts[1], {})
        if not isinstance(mapping, dict):
            raise ConfigError(f"--set {item!r}: {parts[0]}.{parts[1]} is not a mapping")
        mapping[".".join(parts[2:])] = value
        return
    section[parts[1]] = value


# Paths in a config file are relative to the file, so recipes run from any directory.
_PATH_KEYS = {"data": ("train", "dev", "test", "unlabeled")}


def resolve_paths(raw: dict[str, Any], base: Path) -> dict[str, Any]:
    """Make a recipe's relative data and vector paths absolute, relative to the recipe's folder."""
    for section, keys in _PATH_KEYS.items():
        sec = raw.get(section)
        if not isinstance(sec, dict):
            continue
        for key in keys:
            value = sec.get(key)
            if isinstance(value, str) and value and not Path(value).expanduser().is_absolute():
                sec[key] = str((base / value).resolve())
    for section in ("model", "augment"):  # vectors: a packaged name stays, a file path resolves
        sec = raw.get(section)
        vec = sec.get("vectors") if isinstance(sec, dict) else None
        looks_like_path = isinstance(vec, str) and ("/" in vec or vec.endswith((".vec", ".txt", ".bin")))
        if looks_like_path and not Path(vec).expanduser().is_absolute():
            sec["vectors"] = str((base / vec).resolve())
    return raw
