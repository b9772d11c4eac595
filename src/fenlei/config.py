"""Typed run configuration: dataclasses per section, YAML in/out, dotted ``--set`` overrides.

Every field is checked against its annotation when the config is built, so a wrong type
or an unknown key fails at once with the key's full dotted name, never mid-training.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fenlei.errors import ConfigError, FenleiError


@dataclass
class DataConfig:
    """Where the examples come from and how to read them."""

    name: str | None = None  # a catalog data set (``fenlei data list``); fills train/dev/test
    train: str | None = None  # path to the training file (or aclImdb folder)
    dev: str | None = None  # path to the dev file; empty = a stratified split of train
    test: str | None = None  # path to the test file; optional
    format: str = "auto"  # auto | tsv | csv | jsonl | aclimdb | cola | thucnews
    text_column: str = "text"  # column (or JSON key) holding the text
    label_column: str = "label"  # column (or JSON key) holding the label
    encoding: str = "utf-8"  # file encoding, e.g. gbk or latin-1 for older corpora
    dev_ratio: float = 0.1  # share of train held out as dev when no dev file is given
    split_seed: int = 42  # seed of that split, separate from the training seed
    unseen_labels: str = "error"  # error | skip: labels in dev/test that train never saw
    max_length: int = 256  # tokens kept per text (longer texts are truncated), special tokens included
    truncation: str = "head"  # head | tail | head+tail: which tokens of a long text to keep
    unlabeled: str | None = None  # a file of unlabelled texts for UDA (one per line, or a text column)
    labeled_per_class: int = 0  # keep N labelled train examples per class, the rest become unlabelled
    multi_label: bool = False  # each text has a list of labels (JSONL list, or label_separator)
    label_separator: str = "|"  # splits a multi-label cell in TSV/CSV, e.g. sports|politics
    # true | false | auto: read train row by row into an encoded, memory-mapped corpus in the run
    # directory instead of into memory; auto does so for a tsv/csv/jsonl train file over the threshold
    streaming: bool | str = "auto"
    streaming_threshold_mb: int = 512  # size of the train file above which auto streams

    def __post_init__(self) -> None:
        if self.labeled_per_class < 0:
            raise ConfigError("data.labeled_per_class must be >= 0 (0 = keep every label)")
        if not self.label_separator:
            raise ConfigError("data.label_separator must be a non-empty string, e.g. '|'")
        _choice("data.unseen_labels", self.unseen_labels, ("error", "skip"))
        _range("data.dev_ratio", self.dev_ratio, 0.0, 0.9, low_open=True)
        _positive("data.max_length", self.max_length)
        _choice("data.truncation", self.truncation, ("head", "tail", "head+tail"))
        if isinstance(self.streaming, str) and self.streaming.lower() in ("true", "false"):
            self.streaming = self.streaming.lower() == "true"  # a quoted "true" in YAML
        if isinstance(self.streaming, str) and self.streaming != "auto":
            raise ConfigError(f"data.streaming must be true, false or auto, got {self.streaming!r}")
        _positive("data.streaming_threshold_mb", self.streaming_threshold_mb)
        if self.streaming is True:
            from fenlei.data.streaming import check_streaming_data

            check_streaming_data(self)


@dataclass
class TokenizerConfig:
    """How text becomes tokens and tokens become ids."""

    kind: str = "auto"  # auto | word | char | jieba (auto: char for Chinese, else word)
    lowercase: bool = True  # lowercase before looking tokens up
    min_freq: int = 1  # drop tokens seen fewer times in train
    max_size: int | None = 50000  # cap on vocabulary size, specials included; null = no cap

    def __post_init__(self) -> None:
        _choice("tokenizer.kind", self.kind, ("auto", "word", "char", "jieba", "hf"))
        _positive("tokenizer.min_freq", self.min_freq)
        if self.max_size is not None and self.max_size < 3:
            raise ConfigError("tokenizer.max_size must be at least 3 (pad, unk and one token) or null")


@dataclass
class ModelConfig:
    """Which registered model to build; family parameters sit beside these keys."""

    name: str = "textcnn"  # a registered model (``fenlei models``)
    embed_dim: int = 128  # embedding size when no pretrained vectors are given
    vectors: str | None = None  # glove-6b-50d, or a path to word2vec/GloVe vectors
    freeze_embeddings: bool = False  # keep pretrained vectors fixed while training
    # Also add up to N pretrained words that train never saw (file order: most frequent first),
    # so a dev/test/serving word unseen in training still gets its vector instead of <unk>.
    extend_vocab: int = 0
    init: str = "default"  # default | xavier | kaiming | normal (embeddings untouched)
    params: dict[str, Any] = field(default_factory=dict)  # family parameters, e.g. num_filters

    def __post_init__(self) -> None:
        _positive("model.embed_dim", self.embed_dim)
        if self.extend_vocab < 0:
            raise ConfigError("model.extend_vocab must be >= 0 (0 = vocabulary from train only)")
        _choice("model.init", self.init, ("default", "xavier", "kaiming", "normal"))
        from fenlei.models import make_params

        # Validates unknown keys and bad values now, and fills in the family's defaults.
        self.params = dataclasses.asdict(make_params(self.name, self.params))


@dataclass
class ObjectiveConfig:
    """The loss, as an objective (DESIGN.md §3)."""

    name: str = "cross_entropy"  # a registered objective
    label_smoothing: float = 0.0  # 0 = plain cross-entropy
    class_weights: list[float] | str | None = None  # a list (one per label) or "balanced"
    focal_gamma: float = 2.0  # focal: down-weights easy examples by (1 - p)^gamma
    rdrop_alpha: float = 5.0  # rdrop: weight of the symmetric KL between two dropout passes
    teacher: str | None = None  # distill: a finished run directory whose predictions are the soft targets
    distill_alpha: float = 0.5  # distill: weight of the teacher's soft targets (1 - it weighs the labels)
    distill_temperature: float = 2.0  # distill: softens both distributions (Hinton et al. 2015)
    adversarial: float = 0.0  # FGM: L2 size of the embedding perturbation per example; 0 = off

    def __post_init__(self) -> None:
        _range("objective.label_smoothing", self.label_smoothing, 0.0, 1.0)
        if self.focal_gamma < 0:
            raise ConfigError("objective.focal_gamma must be >= 0 (0 = plain cross-entropy)")
        if self.rdrop_alpha < 0:
            raise ConfigError("objective.rdrop_alpha must be >= 0 (0 = the mean CE of two passes)")
        _range("objective.distill_alpha", self.distill_alpha, 0.0, 1.0)
        if self.adversarial < 0:
            raise ConfigError(
                "objective.adversarial must be >= 0 (0 = off; it scales with the embedding norms: "
                "1.5 for GloVe 50d words, see the README)"
            )
        if self.distill_temperature <= 0:
            raise ConfigError(
                "objective.distill_temperature must be > 0 (1 = the teacher's own probabilities)"
            )
        if self.name == "distill" and not self.teacher:
            raise ConfigError(
                "objective distill needs objective.teacher: the run directory of a trained model "
                "(for example one from fenlei train configs/sst2-minilm.yaml -o runs/teacher)"
            )
        if isinstance(self.class_weights, str) and self.class_weights != "balanced":
            raise ConfigError("objective.class_weights must be a list of numbers, 'balanced' or null")


@dataclass
class OptimConfig:
    """Optimiser and learning-rate schedule; the peak rate is ``train.lr``."""

    name: str = "adamw"  # adamw | adam | sgd
    weight_decay: float = 0.0  # decoupled for AdamW, L2 for SGD
    momentum: float = 0.9  # SGD only
    eps: float = 1e-8  # Adam epsilon
    schedule: str = "constant"  # constant | linear | cosine (after warmup)
    warmup: float = 0.0  # warmup length: a ratio of all steps if < 1, else a step count

    def __post_init__(self) -> None:
        _choice("optim.name", self.name, ("adamw", "adam", "sgd"))
        _choice("optim.schedule", self.schedule, ("constant", "linear", "cosine"))
        if self.warmup < 0:
            raise ConfigError("optim.warmup must be >= 0")


@dataclass
class TrainConfig:
    """The loop: length, batch, evaluation, early stopping, seeds."""

    epochs: int = 10  # passes over the training data
    batch_size: int = 64  # examples per optimiser step (before accumulation)
    eval_batch_size: int = 0  # examples per batch when evaluating or predicting; 0 = the model's default
    lr: float = 1e-3  # peak learning rate
    seed: int = 42  # seeds python, numpy and torch
    grad_clip: float = 0.0  # max gradient norm; 0 = no clipping
    accumulate: int = 1  # batches per optimiser step
    eval_every: int = 0  # evaluate every N optimiser steps; 0 = once per epoch
    metric: str = "accuracy"  # dev metric that picks the best checkpoint and early-stops
    patience: int = 0  # evaluations without improvement before stopping; 0 = never stop early
    min_delta: float = 0.0  # smallest change that counts as an improvement
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    # auto: bf16 (else fp16) autocast on a GPU; on CPU fp32, except bf16 for transformers where the
    # CPU has native bf16 (AVX512-BF16, AMX). Or fp32 | fp16 | bf16.
    precision: str = "auto"
    threads: int = 0  # torch CPU threads; 0 = torch's default
    progress: bool = True  # show a progress bar
    tensorboard: bool = True  # write TensorBoard event files under tb/
    threshold: str = "global"  # multi-label: decision threshold tuned on dev, global | per_label
    ema: float = 0.0  # decay of a moving average of the weights that is evaluated and saved; 0 = off
    report: bool = True  # write report.html and plots/ into the run directory at the end
    # Resume points besides each evaluation: every N optimiser steps (0 = off) and whenever this
    # many minutes passed since the last one (0 = off), so a kill loses little work.
    checkpoint_every: int = 0
    checkpoint_minutes: float = 10.0
    # torch deterministic algorithms (and CUBLAS workspace config on GPU): identical runs under a
    # seed, at some speed cost on GPU.
    deterministic: bool = False

    def __post_init__(self) -> None:
        for key in ("epochs", "batch_size", "accumulate"):
            _positive(f"train.{key}", getattr(self, key))
        if self.lr <= 0:
            raise ConfigError("train.lr must be > 0")
        nonneg = ("eval_batch_size", "grad_clip", "eval_every", "patience", "min_delta", "threads")
        for key in (*nonneg, "checkpoint_every", "checkpoint_minutes"):
            if getattr(self, key) < 0:
                raise ConfigError(f"train.{key} must be >= 0")
        _choice("train.precision", self.precision, ("auto", "fp32", "fp16", "bf16"))
        allowed = ("accuracy", "macro_f1", "micro_f1", "weighted_f1", "mcc", "roc_auc", "loss")
        allowed += ("samples_f1", "hamming_loss")  # multi-label only
        _choice("train.threshold", self.threshold, ("global", "per_label"))
        if not 0.0 <= self.ema < 1.0:
            raise ConfigError(f"train.ema must be in [0, 1) (e.g. 0.99), got {self.ema}")
        _choice("train.metric", self.metric, allowed)


@dataclass
class AugmentConfig:
    """Offline text augmentation (EDA, vector synonyms, TF-IDF replacement); deterministic per seed."""

    ops: list[str] = field(default_factory=lambda: ["synonym", "insert", "swap", "delete"])
    rate: float = 0.1  # share of a text's tokens each op changes (EDA's alpha)
    copies: int = 0  # augmented copies of each labelled train text added to train; 0 = off
    neighbours: int = 10  # synonym/insert: draw from this many nearest neighbours in the vectors
    vectors: str | None = None  # vectors for synonym/insert; empty = model.vectors

    def __post_init__(self) -> None:
        from fenlei.data.augment import check_ops

        check_ops("augment.ops", self.ops)
        _range("augment.rate", self.rate, 0.0, 1.0, low_open=True)
        if self.copies < 0:
            raise ConfigError("augment.copies must be >= 0 (0 = no augmented copies)")
        _positive("augment.neighbours", self.neighbours)


@dataclass
class UDAConfig:
    """Unsupervised data augmentation (Xie et al. 2019); used when objective.name is uda."""

    coeff: float = 1.0  # weight of the consistency loss
    unsup_ratio: int = 3  # unlabelled texts per labelled text in each step
    temperature: float = 0.4  # sharpens p(x) (softmax of logits / T); 1 = no sharpening
    confidence: float = 0.8  # consistency only where max p(x) exceeds this; 0 = everywhere
    tsa: str = "linear"  # training signal annealing: none | linear | log | exp
    ops: list[str] = field(default_factory=lambda: ["tfidf"])  # how the unlabelled views are made
    rate: float = 0.3  # share of tokens the ops change
    views: int = 2  # augmented views made per unlabelled text; epoch e uses view e mod views
    # Distribution alignment (ReMixMatch): rescale p(x) so its batch mean matches the labelled
    # class prior before sharpening; stops the targets collapsing onto one class.
    align: bool = False

    def __post_init__(self) -> None:
        from fenlei.data.augment import check_ops

        _positive("uda.views", self.views)
        if self.coeff < 0:
            raise ConfigError("uda.coeff must be >= 0")
        _positive("uda.unsup_ratio", self.unsup_ratio)
        _range("uda.temperature", self.temperature, 0.0, 1.0, low_open=True)
        _range("uda.confidence", self.confidence, 0.0, 1.0)
        if self.confidence >= 1.0:
            raise ConfigError("uda.confidence must be below 1 (no prediction is more confident than 1)")
        _choice("uda.tsa", self.tsa, ("none", "linear", "log", "exp"))
        check_ops("uda.ops", self.ops)
        _range("uda.rate", self.rate, 0.0, 1.0, low_open=True)


SECTIONS: dict[str, type] = {
    "data": DataConfig,
    "tokenizer": TokenizerConfig,
    "model": ModelConfig,
    "objective": ObjectiveConfig,
    "optim": OptimConfig,
    "train": TrainConfig,
    "augment": AugmentConfig,
    "uda": UDAConfig,
}


@dataclass
class Config:
    """The whole run: one dataclass per section."""

    data: DataConfig = field(default_factory=DataConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    uda: UDAConfig = field(default_factory=UDAConfig)

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None, where: str = "config") -> Config:
        """Build and validate from nested plain data (as read from YAML)."""
        raw = raw or {}
        if not isinstance(raw, dict):
            raise ConfigError(f"{where}: expected a mapping of sections ({', '.join(SECTIONS)})")
        unknown = sorted(set(raw) - set(SECTIONS))
        if unknown:
            raise ConfigError(f"{unknown[0]}: unknown config section; sections are {', '.join(SECTIONS)}")
        parts = {name: _build_section(name, sec_cls, raw.get(name)) for name, sec_cls in SECTIONS.items()}
        config = cls(**parts)
        from fenlei.data.multilabel import resolve_config

        resolve_config(config, raw)  # data.multi_label picks the objective and metric
        return config

    def to_dict(self) -> dict[str, Any]:
        """Nested plain data; model family parameters are written beside the model keys."""
        out = dataclasses.asdict(self)
        params = out["model"].pop("params")
        out["model"].update(params)
        return _plain(out)

    def to_yaml(self) -> str:
        """The resolved config as YAML text."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)

    def save(self, path: str | Path) -> None:
        """Write the resolved config as YAML."""
        Path(path).write_text(self.to_yaml(), encoding="utf-8")


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Read a YAML config (or start from defaults) and apply ``section.key=value`` overrides."""
    raw: dict[str, Any] = {}
    where = "defaults"
    if path is not None:
        path = Path(path)
        where = str(path)
        if not path.is_file():
            raise ConfigError(f"{path}: config file not found")
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as err:
            line = getattr(getattr(err, "problem_mark", None), "line", None)
            at = f" line {line + 1}" if line is not None else ""
            raise ConfigError(f"{path}{at}: not valid YAML ({getattr(err, 'problem', err)})") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: expected a mapping of sections ({', '.join(SECTIONS)})")
        raw = _resolve_paths(raw, path.parent)
    for item in overrides or []:
        apply_override(raw, item)
    return Config.from_dict(raw, where)


def apply_override(raw: dict[str, Any], item: str) -> None:
    """Apply one ``section.key=value`` override to nested raw config data (value parsed as YAML)."""
    if "=" not in item:
        raise ConfigError(f"--set {item!r}: expected section.key=value, e.g. train.lr=3e-5")
    key, _, text = item.partition("=")
    parts = key.strip().split(".")
    if len(parts) != 2 or not all(parts):
        raise ConfigError(f"--set {item!r}: the key must be section.key, e.g. train.epochs=5")
    try:
        value = yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError:
        value = text
    section = raw.setdefault(parts[0], {})
    if not isinstance(section, dict):
        raise ConfigError(f"{parts[0]}: expected a mapping")
    section[parts[1]] = value


# Paths in a config file are relative to the file, so recipes run from any directory.
_PATH_KEYS = {"data": ("train", "dev", "test", "unlabeled")}


def _resolve_paths(raw: dict[str, Any], base: Path) -> dict[str, Any]:
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


def _build_section(name: str, cls: type, raw: Any) -> Any:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{name}: expected a mapping of keys, got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in raw.items():
        if key in fields and key != "params":
            kwargs[key] = _coerce(value, hints[key], f"{name}.{key}")
        elif cls is ModelConfig:
            extra[key] = value  # family parameter: checked by the model's own dataclass
        else:
            known = ", ".join(sorted(fields))
            raise ConfigError(f"{name}.{key}: unknown key; keys of '{name}' are: {known}")
    if cls is ModelConfig:
        kwargs["params"] = (
            {**raw.get("params", {}), **extra} if isinstance(raw.get("params"), dict) else extra
        )
    try:
        return cls(**kwargs)
    except FenleiError as err:
        raise ConfigError(str(err)) from None


def _coerce(value: Any, hint: Any, key: str) -> Any:
    """Check ``value`` against a type hint, converting the lossless cases (int→float, '1e-3'→float)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for opt in options:
            if opt is type(None):
                continue
            try:
                return _coerce(value, opt, key)
            except ConfigError as err:
                errors.append(err)
        raise errors[-1] if len(errors) == 1 else ConfigError(f"{key}: {value!r} is not {_type_name(hint)}")
    if origin in (list, tuple):
        if isinstance(value, (list, tuple)):
            (item_hint, *_) = typing.get_args(hint) or (Any,)
            return [_coerce(v, item_hint, f"{key}[{i}]") for i, v in enumerate(value)]
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


def _plain(obj: Any) -> Any:
    """Tuples become lists so the config dumps as plain YAML."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def _type_name(hint: Any) -> str:
    return str(hint).replace("typing.", "")


def _choice(key: str, value: str, options: tuple[str, ...]) -> None:
    if value not in options:
        raise ConfigError(f"{key}: {value!r} is not one of {', '.join(options)}")


def _positive(key: str, value: int) -> None:
    if value <= 0:
        raise ConfigError(f"{key} must be > 0, got {value}")


def _range(key: str, value: float, lo: float, hi: float, low_open: bool = False) -> None:
    if value > hi or value < lo or (low_open and value == lo):
        raise ConfigError(f"{key} must be in {'(' if low_open else '['}{lo}, {hi}], got {value}")
