"""Resolving a config, once, at the start of a run: what depends on another section or on a registry.

``config.py`` checks each key against its type; here the sections meet: the task (single- or
multi-label) picks the default objective and metric, the model family and the objective
check their own parameters (and fill in their defaults, so config.yaml lists them all), the
objective's needs are checked against the data, and streaming is refused for what cannot be
streamed. Resolving a resolved config changes nothing.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from fenlei.config import Config
from fenlei.errors import ConfigError, ModelError
from fenlei.task import Task, make_task

# model.name when a config names none: TF-IDF + a linear model beat the others at their defaults
# on every set tried (docs/BENCHMARKS.md); a train set too big for memory streams, which TF-IDF's
# vocabulary and idf cannot, so it gets the fastText-style model instead.
DEFAULT_MODEL = "tfidf"
DEFAULT_STREAMED_MODEL = "fasttext"


def _default_model(cfg: Config, in_memory: bool) -> str:
    if in_memory or cfg.data.streaming is False or not (cfg.data.train or cfg.data.name):
        return DEFAULT_MODEL
    from fenlei.data.streaming import use_streaming

    return DEFAULT_STREAMED_MODEL if use_streaming(cfg.data) else DEFAULT_MODEL


@dataclass
class Resolved:
    """A resolved config with what resolving it found out."""

    cfg: Config
    task: Task
    objective: object  # the ObjectiveSpec (objectives/__init__.py)
    objective_params: object  # its typed params
    model_class: type  # the TextModel family
    streamed: bool  # train is read into an on-disk corpus, not into memory


def resolve(cfg: Config, *, in_memory: bool = False) -> Resolved:
    """Fill the cross-section defaults of ``cfg`` in place and run the checks that need a registry.

    ``in_memory``: the training examples are given in Python (no train file to stream).
    """
    from fenlei.data.augment import check_fallback, check_ops
    from fenlei.models import make_params, model_class
    from fenlei.objectives import make_objective_params, objective_spec

    cfg.model.name = cfg.model.name or _default_model(cfg, in_memory)
    task = make_task(cfg.data)
    cfg.data.multi_label = task.multi_label  # config.yaml says which scheme the run used
    cfg.objective.name = cfg.objective.name or task.default_objective
    cfg.train.metric = cfg.train.metric or task.default_metric
    task.check_config(cfg)
    spec = objective_spec(cfg.objective.name)
    if spec.needs.labels != task.name:
        raise ConfigError(task.objective_error(cfg.objective.name))
    params = make_objective_params(cfg.objective)
    cfg.objective.params = dataclasses.asdict(params)
    if spec.needs.teacher and not getattr(params, "teacher", None):
        raise ConfigError(
            f"objective {cfg.objective.name} needs objective.teacher: the run directory of a trained model "
            "(for example one from fenlei train configs/sst2-minilm.yaml -o runs/teacher)"
        )
    try:
        family = model_class(cfg.model.name)
        cfg.model.params = dataclasses.asdict(make_params(cfg.model.name, cfg.model.params))
    except ModelError as err:  # a config key's fault, as the other config checks say
        raise ConfigError(str(err)) from None
    if cfg.train.lr == "auto":
        cfg.train.lr = family.default_lr
    kinds = family.tokenizer_kinds
    if cfg.tokenizer.kind != "auto" and cfg.tokenizer.kind not in kinds:
        raise ConfigError(
            f"tokenizer.kind: model {cfg.model.name!r} takes {', '.join(kinds)}, not {cfg.tokenizer.kind!r}"
        )
    loss_chosen = spec is not objective_spec(task.default_objective) or cfg.objective.adversarial
    if family.closed_form and loss_chosen:
        raise ConfigError(
            f"model {cfg.model.name!r} is fitted in closed form (scikit-learn), not by a loss: leave "
            f"objective.name ({cfg.objective.name}) and objective.adversarial unset"
        )
    # Streaming first: its refusal says what to change even where another check would also fail.
    streamed = not in_memory and _streamed(cfg, task, spec, family)
    try:
        family.check_config(cfg, bool(loss_chosen), streamed)
    except ModelError as err:
        raise ConfigError(str(err)) from None
    if cfg.train.refit and not family.refits(cfg.model.params):
        raise ConfigError(
            f"train.refit: model {cfg.model.name!r} with these settings is trained by the loop, which "
            "has no refit; use it with model.name=fasttext and model.solver sgd or adagrad, or drop it"
        )
    if cfg.model.vectors and not family.takes_vectors:
        why = (
            "a pretrained transformer brings its own embeddings"
            if family.pretrained_weights
            else (f"model {cfg.model.name!r} has no embedding table to fill")
        )
        raise ConfigError(f"model.vectors: {why}; remove it")
    if cfg.data.window is not None and not family.reads_windows:
        raise ConfigError(
            f"data.window splits long texts for transformer families; model {cfg.model.name!r} reads a "
            f"whole text up to data.max_length tokens (auto: the longest train text, up to "
            f"{family.length_bound:,}); remove data.window"
        )
    if cfg.model.extend_vocab and not cfg.model.vectors:
        raise ConfigError("model.extend_vocab needs model.vectors: the words come from the vectors file")
    check_ops("augment.ops", cfg.augment.ops)
    check_fallback("augment.fallback", cfg.augment.fallback)
    if streamed and cfg.train.batch_size == "auto":  # the corpus is batched before it is counted
        cfg.train.batch_size = family.batch_size
    return Resolved(cfg, task, spec, params, family, streamed)


def _streamed(cfg: Config, task: Task, spec, family) -> bool:
    """Whether train is streamed; a ConfigError names a setting that streaming cannot serve."""
    from fenlei.data.encoders import encoder_class
    from fenlei.data.streaming import check_streaming_data, refusal, use_streaming

    if cfg.data.streaming is False or not (cfg.data.train or cfg.data.name):
        return False
    if cfg.data.streaming is not True and not use_streaming(cfg.data):
        return False
    if task.unstreamable:
        raise ConfigError(refusal(cfg.data, task.unstreamable))
    check_streaming_data(cfg.data)
    reasons = [
        (spec.needs.streaming, f"objective.name {cfg.objective.name} needs the train texts in memory"),
        (
            encoder_class(family.encoder_type).streamable,
            f"model {cfg.model.name!r} uses a Hugging Face tokenizer; streaming builds a word vocabulary",
        ),
        (not cfg.augment.copies, "augment.copies makes copies of the train texts in memory"),
        (not cfg.model.extend_vocab, "model.extend_vocab changes the vocabulary after encoding"),
    ]
    for ok, why in reasons:
        if not ok:
            raise ConfigError(refusal(cfg.data, why))
    return True
