"""Search spaces for ``fenlei tune``: one ``Dim`` per config key, declared by the families and
objectives beside their parameters, narrowed by a recipe's ``tune.space``.

A leaf module (no optuna import): the params dataclasses import ``Float``, ``Int`` and
``Choice`` from here, and a space is plain data until a sampler asks for a distribution.
Keys without a dot belong to the section of the dataclass that declares them (``model.`` for a
family, ``objective.`` for an objective); dotted keys (``train.lr``) name any config key.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from typing import Any

from fenlei.errors import ConfigError

Scalar = bool | int | float | str | None


@dataclass(frozen=True)
class Dim:
    """One tunable key: a numeric range (``low``..``high``, log-uniform if ``log``) or ``choices``."""

    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False
    choices: tuple[Any, ...] | None = None

    @property
    def kind(self) -> str:
        """choice | int | float."""
        return "choice" if self.choices is not None else "int" if self.integer else "float"

    def describe(self) -> str:
        """A short text for ``fenlei models``: ``[1e-4, 1e-2] log`` or ``{1, 2, 3}``."""
        if self.choices is not None:
            return "{" + ", ".join(_show(c) for c in self.choices) + "}"
        return f"[{_show(self.low)}, {_show(self.high)}]" + (" log" if self.log else "")

    def distribution(self):
        """The optuna distribution of this key (choices that are lists travel as JSON text)."""
        from optuna.distributions import (
            CategoricalDistribution,
            FloatDistribution,
            IntDistribution,
        )

        if self.choices is not None:
            return CategoricalDistribution([_encode(c) for c in self.choices])
        if self.integer:
            return IntDistribution(int(self.low), int(self.high), log=self.log)
        return FloatDistribution(float(self.low), float(self.high), log=self.log)

    def value(self, sampled: Any) -> Any:
        """The config value of what the sampler drew (decodes a JSON-encoded choice)."""
        if self.choices is not None and isinstance(sampled, str):
            for choice in self.choices:
                if _encode(choice) == sampled:
                    return choice
        return sampled

    def stored(self, value: Any) -> Any:
        """``value`` as the sampler stores it when the space holds it, else None."""
        if value is None or isinstance(value, dict):
            return None
        value = _plain(value)
        if self.choices is not None:
            return _encode(value) if value in self.choices else None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        if not self.low <= value <= self.high or (self.integer and value != int(value)):
            return None
        return int(value) if self.integer else float(value)

    def narrowed(self, key: str, spec: Any) -> Dim:
        """This key as a recipe's ``tune.space`` narrows it: ``[low, high]`` or ``{low, high, log}``
        for a numeric key, a list of choices for a choice key, ``{choices: [...]}`` for either;
        a single value fixes the key."""
        if isinstance(spec, dict):
            unknown = set(spec) - {"low", "high", "log", "choices"}
            if unknown:
                raise ConfigError(
                    f"tune.space.{key}: unknown field {sorted(unknown)[0]!r}; use low/high/log or choices"
                )
            if "choices" in spec:
                return _checked(key, Dim(choices=tuple(_plain(c) for c in spec["choices"])))
            kind = self if self.choices is None else Dim(integer=_all_int(spec))
            return _checked(key, replace(kind, choices=None, **{k: spec[k] for k in spec}))
        if isinstance(spec, (list, tuple)):
            if self.choices is not None:  # a list on a choice key: the choices to keep
                return _checked(key, Dim(choices=tuple(_plain(c) for c in spec)))
            if _is_range(spec):
                return _checked(key, replace(self, low=spec[0], high=spec[1]))
            raise ConfigError(f"tune.space.{key}: a numeric key takes [low, high], got {spec!r}")
        return Dim(choices=(spec,))


def Float(low: float, high: float, log: bool = False) -> Dim:
    """A real-valued key in [low, high]."""
    return _checked("?", Dim(low=low, high=high, log=log))


def Int(low: int, high: int, log: bool = False) -> Dim:
    """An integer key in [low, high]."""
    return _checked("?", Dim(low=low, high=high, log=log, integer=True))


def Choice(*choices: Any) -> Dim:
    """A key that takes one of ``choices`` (lists allowed, e.g. filter widths)."""
    return Dim(choices=tuple(_plain(c) for c in choices))


def declared_space(params_class: type, section: str) -> dict[str, Dim]:
    """The ``search_space`` a params dataclass declares, with its keys made full (``model.dropout``)."""
    space = getattr(params_class, "search_space", {}) or {}
    return {(k if "." in k else f"{section}.{k}"): d for k, d in space.items()}


def merge_spaces(*spaces: dict[str, Dim]) -> dict[str, Dim]:
    """Later spaces win key by key."""
    out: dict[str, Dim] = {}
    for space in spaces:
        out.update(space)
    return out


def apply_recipe(space: dict[str, Dim], narrow: dict[str, Any], keys: list[str] | None) -> dict[str, Dim]:
    """The space after a recipe's ``tune.space`` (narrow or fix declared keys, or add a key with a
    full range) and ``tune.keys`` (tune only these; the rest keep the recipe's values)."""
    out = dict(space)
    for key, spec in (narrow or {}).items():
        if key in out:
            out[key] = out[key].narrowed(key, spec)
        elif isinstance(spec, dict) and ("choices" in spec or {"low", "high"} <= set(spec)):
            out[key] = Dim(integer=_all_int(spec)).narrowed(key, spec)
        elif _is_range(spec):
            out[key] = Dim(integer=_all_int({"low": spec[0], "high": spec[1]})).narrowed(key, spec)
        else:
            raise ConfigError(
                f"tune.space.{key}: not in this model's search space ({', '.join(sorted(out))}); "
                "give a full range ([low, high] or {choices: [...]}) to add it"
            )
    if keys is not None:
        unknown = [k for k in keys if k not in out]
        if unknown:
            raise ConfigError(
                f"tune.keys: {unknown[0]} is not in the search space; keys are {', '.join(sorted(out))}"
            )
        out = {k: out[k] for k in keys}
    return out


def override(key: str, value: Any) -> str:
    """``--set`` text of one sampled value (lists and strings as YAML/JSON)."""
    return f"{key}={json.dumps(value) if not isinstance(value, str) else value}"


def _checked(key: str, dim: Dim) -> Dim:
    if dim.choices is not None:
        if not dim.choices:
            raise ConfigError(f"tune.space.{key}: choices is empty")
        return dim
    for bound in (dim.low, dim.high):
        if isinstance(bound, bool) or not isinstance(bound, (int, float)) or not math.isfinite(bound):
            raise ConfigError(f"tune.space.{key}: low and high take numbers, not {dim.low!r}, {dim.high!r}")
    if dim.low > dim.high:
        raise ConfigError(f"tune.space.{key}: low {dim.low} is above high {dim.high}")
    if dim.log and dim.low <= 0:
        raise ConfigError(f"tune.space.{key}: a log range needs low > 0, got {dim.low}")
    return dim


def _is_range(spec: Any) -> bool:
    return (
        isinstance(spec, (list, tuple))
        and len(spec) == 2
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in spec)
    )


def _all_int(spec: dict) -> bool:
    return all(isinstance(spec.get(k), int) and not isinstance(spec.get(k), bool) for k in ("low", "high"))


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _encode(choice: Any) -> Scalar:
    return choice if isinstance(choice, (bool, int, float, str)) or choice is None else json.dumps(choice)


def _show(value: Any) -> str:
    if isinstance(value, float) and (abs(value) < 1e-2 or abs(value) >= 1e4) and value:
        return f"{value:.0e}"
    return json.dumps(value) if isinstance(value, list) else str(value)


# Keys every family trained by the loop shares; a family's own space may replace any of them.
LOOP_SPACE: dict[str, Dim] = {
    "train.lr": Float(1e-4, 1e-2, log=True),
    "train.epochs": Int(2, 15),
}
