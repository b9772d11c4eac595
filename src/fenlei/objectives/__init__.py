"""Objectives: ``objective(model, batch) -> {"loss", "logits", parts...}`` (DESIGN.md §3).

Each objective registers with its own typed parameters (a dataclass, like a model family's)
and declares what it needs from the run: unlabelled texts with augmented views, a teacher
run, a label scheme, whether it can train from a streamed corpus. The pipeline reads those
declarations; nothing outside this package compares objective names. The loop calls whatever
objective the config names and never changes for a new one.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from fenlei.errors import ConfigError
from fenlei.registry import Registry

if TYPE_CHECKING:
    import torch

    from fenlei.data.labels import LabelMap
    from fenlei.task import Task

log = logging.getLogger("fenlei")


class Objective(Protocol):
    """Anything that maps (model, batch) to a dict holding at least ``loss`` and ``logits``."""

    def __call__(self, model: torch.nn.Module, batch: dict) -> dict[str, torch.Tensor]: ...


@dataclass
class ObjectiveParams:
    """Base of each objective's typed parameters (one dataclass per objective)."""


@dataclass(frozen=True)
class UnlabeledViews:
    """What an objective that learns from unlabelled text asks the data to provide."""

    ops: tuple[str, ...]  # augmentation ops that make the views
    rate: float  # share of tokens each op changes
    views: int  # views made per unlabelled text
    ratio: int  # unlabelled texts per labelled text in each batch


@dataclass(frozen=True)
class Needs:
    """What an objective needs from the run besides labelled batches."""

    unlabeled: bool = False  # unlabelled texts and their views (params.unlabeled_views())
    teacher: bool = False  # a finished run whose probabilities are soft targets (params.teacher)
    streaming: bool = True  # can train from a streamed, on-disk corpus (no train texts in memory)
    labels: str = "single_label"  # the task it trains (task.py): single_label | multi_label


@dataclass
class Context:
    """What building an objective may use: the training set and where the run trains."""

    task: Task
    labels: LabelMap
    train_label_ids: Sequence  # label ids (or multi-hot rows) of the training texts
    texts: Sequence[str] | None = None  # the training texts, copies included; None when streamed
    device: str = "cpu"
    say: Callable[[str], None] = field(default=lambda _line: None)  # one line for the console

    @property
    def num_classes(self) -> int:
        return len(self.labels)


Builder = Callable[[Any, Any, Context], Objective]  # (ObjectiveConfig, params, context)


@dataclass(frozen=True)
class ObjectiveSpec:
    """A registered objective: its builder, parameters and needs."""

    name: str
    build: Builder
    params_class: type[ObjectiveParams] = ObjectiveParams
    needs: Needs = Needs()
    description: str = ""

    def param_names(self) -> set[str]:
        return {f.name for f in dataclasses.fields(self.params_class)}


OBJECTIVES: Registry[ObjectiveSpec] = Registry("objective", ConfigError)


def check_numbers(params: ObjectiveParams, *keys: str) -> None:
    """Raise a ConfigError naming ``objective.<key>`` for each of ``keys`` that is not a number."""
    for key in keys:
        value = getattr(params, key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"objective.{key} must be a number, got {value!r}")


def register_objective(
    name: str, params: type[ObjectiveParams] = ObjectiveParams, needs: Needs = Needs()
) -> Callable[[Builder], Builder]:
    """Decorator registering ``build(cfg, params, ctx) -> Objective`` under ``name``."""

    def add(build: Builder) -> Builder:
        doc = (build.__doc__ or "").strip().splitlines()
        OBJECTIVES.register(name)(ObjectiveSpec(name, build, params, needs, doc[0] if doc else ""))
        return build

    return add


def _load_builtins() -> None:
    # Importing the modules registers them; done lazily so that importing fenlei stays cheap.
    from fenlei.objectives import bce, contrastive, distill, rdrop, supervised, uda  # noqa: F401


def objective_spec(name: str) -> ObjectiveSpec:
    """The registered objective ``name`` (a ConfigError lists the known ones)."""
    _load_builtins()
    return OBJECTIVES.get(name)


def list_objectives() -> list[str]:
    """Names of every registered objective."""
    _load_builtins()
    return OBJECTIVES.names()


def make_objective_params(cfg) -> ObjectiveParams:
    """The named objective's typed parameters from ``cfg.params`` (an ObjectiveConfig).

    A key that belongs to another registered objective (a saved config lists every objective's
    settings) is checked by that objective's dataclass and otherwise left unused; any other
    unknown key raises naming ``objective.<key>``.
    """
    spec = objective_spec(cfg.name)
    own = spec.param_names()
    mine: dict[str, Any] = {}
    foreign: dict[str, dict[str, Any]] = {}
    for key, value in cfg.params.items():
        if key in own:
            mine[key] = value
            continue
        owner = next((s for s in map(OBJECTIVES.get, OBJECTIVES.names()) if key in s.param_names()), None)
        if owner is None:
            known = ", ".join(sorted(own)) or "(none)"
            raise ConfigError(
                f"objective.{key}: not a parameter of objective {cfg.name!r}; its parameters are: {known}"
            )
        foreign.setdefault(owner.name, {})[key] = value
    for owner, values in foreign.items():
        _typed(OBJECTIVES.get(owner), values, cfg.moved)  # bad values fail even where unused
    params = _typed(spec, mine, cfg.moved)
    moved = sorted(k for k in mine if k in cfg.moved)
    if moved:
        where = ", ".join(f"{cfg.moved[k]} -> objective.{k}" for k in moved)
        log.warning(f"note: the uda: section is now part of objective: ({where})")
        cfg.moved = {}
    return params


def _typed(spec: ObjectiveSpec, values: dict[str, Any], moved: dict[str, str]) -> ObjectiveParams:
    try:
        return spec.params_class(**values)
    except ConfigError as err:
        message = str(err)
        for key, old in moved.items():  # name the key as the user wrote it
            message = message.replace(f"objective.{key} ", f"{old} ").replace(f"objective.{key}:", f"{old}:")
        raise ConfigError(message) from None
    except (TypeError, ValueError) as err:
        raise ConfigError(f"objective {spec.name!r}: {err}") from None


def build_objective(cfg, ctx: Context, params: ObjectiveParams | None = None) -> Objective:
    """Create the objective ``cfg`` (a resolved ObjectiveConfig) names for this training set."""
    from fenlei.objectives.adversarial import Adversarial

    spec = objective_spec(cfg.name)
    params = params if params is not None else make_objective_params(cfg)
    objective = spec.build(cfg, params, ctx)
    return Adversarial(objective, cfg.adversarial) if cfg.adversarial else objective
