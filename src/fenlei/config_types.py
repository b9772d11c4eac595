"""Checking config values against their type hints: the leaf under config.py.

``coerce`` converts only the lossless cases (an int where a float is wanted, YAML's "1e-3"
string), and every message names the full dotted key.
"""

from __future__ import annotations

import types
import typing
from typing import Any, Literal

from fenlei.errors import ConfigError


def coerce(value: Any, hint: Any, key: str) -> Any:
    """Check ``value`` against a type hint, converting the lossless cases (int→float, '1e-3'→float)."""
    origin = typing.get_origin(hint)
    if origin is Literal:
        if isinstance(value, str) and value in typing.get_args(hint):
            return value
        raise ConfigError(f"{key}: {value!r} is not one of {', '.join(typing.get_args(hint))}")
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for opt in options:
            if opt is type(None):
                continue
            try:
                return coerce(value, opt, key)
            except ConfigError as err:
                errors.append(err)
        if len(errors) == 1:
            raise errors[-1]
        raise ConfigError(f"{key} must be {describe(hint)}, got {value!r}")
    if origin in (list, tuple):
        if isinstance(value, (list, tuple)):
            (item_hint, *_) = typing.get_args(hint) or (Any,)
            return [coerce(v, item_hint, f"{key}[{i}]") for i, v in enumerate(value)]
        raise ConfigError(f"{key}: expected a list, got {value!r}")
    if origin is dict:
        if isinstance(value, dict):
            return value
        raise ConfigError(f"{key}: expected a mapping, got {value!r}")
    if hint is Any:
        return value
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"  # a quoted "true" in YAML
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)  # YAML reads 1e-3 (no dot) as a string
            except ValueError:
                pass
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    if hint is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    return value


def plain(obj: Any) -> Any:
    """Tuples become lists so the config dumps as plain YAML."""
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    return obj


def describe(hint: Any) -> str:
    """A type hint in words: ``bool | Literal["auto"]`` is "true, false or auto"."""
    words: list[str] = []
    for option in typing.get_args(hint) or (hint,):
        if option is type(None):
            words.append("null")
        elif option is bool:
            words += ["true", "false"]
        elif typing.get_origin(option) is Literal:
            words += [str(v) for v in typing.get_args(option)]
        else:
            words.append({int: "an integer", float: "a number", str: "a string"}.get(option, "a list"))
    return ", ".join(words[:-1]) + f" or {words[-1]}" if len(words) > 1 else words[0]


def positive(key: str, value: int) -> None:
    """Raise a ConfigError naming ``key`` unless ``value`` > 0."""
    if value <= 0:
        raise ConfigError(f"{key} must be > 0, got {value}")


def in_range(key: str, value: float, lo: float, hi: float, low_open: bool = False) -> None:
    """Raise a ConfigError naming ``key`` unless ``value`` is in [lo, hi] ((lo, hi] if ``low_open``)."""
    if value > hi or value < lo or (low_open and value == lo):
        raise ConfigError(f"{key} must be in {'(' if low_open else '['}{lo}, {hi}], got {value}")


def check_windows(window: int | None, stride: int | None) -> None:
    """data.window and data.stride: positive, a stride only with a window, never past it."""
    if window is not None:
        positive("data.window", window)
        if window < 3:
            raise ConfigError(f"data.window {window} leaves no room for text; use at least 16 tokens")
    if stride is None:
        return
    positive("data.stride", stride)
    if window is None:
        raise ConfigError("data.stride is the step between windows; set data.window too (e.g. 256)")
    if stride > window:
        raise ConfigError(
            f"data.window {window} is smaller than data.stride {stride}: windows would skip tokens; "
            f"set data.stride to at most {window} (e.g. {window // 2}, half overlap)"
        )
