"""Typed run configuration: dataclasses per section, YAML in/out, dotted ``--set`` overrides.

Every field is checked against its annotation when the config is built (``Literal`` fields
against their choices), so a wrong type or an unknown key fails at once with the key's full
dotted name. A leaf module: it imports no model, reader, augmentation or torch code. Checks
that need a registry (model and objective parameters, augmentation ops) and the defaults that
depend on another section (the objective and metric of a multi-label run) are resolved once,
by ``fenlei.resolve.resolve`` at the start of a run.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from fenlei.config_raw import apply_override, resolve_paths
from fenlei.config_types import check_windows, coerce, in_range, plain, positive
from fenlei.errors import ConfigError, FenleiError

Metric = Literal[
    "accuracy", "macro_f1", "micro_f1", "weighted_f1", "mcc", "roc_auc", "loss", "samples_f1", "hamming_loss"
]


@dataclass
class DataConfig:
    """Where the examples come from and how to read them."""

    name: str | None = None  # a catalog data set (``fenlei data list``); fills train/dev/test
    train: str | None = None  # path to the training file (or aclImdb folder)
    dev: str | None = None  # path to the dev file; empty = a stratified split of train
    test: str | None = None  # path to the test file; optional
    format: str = "auto"  # auto, or a registered reader: tsv | csv | jsonl | aclimdb | cola | thucnews
    text_column: str = "text"  # column (or JSON key) holding the text
    label_column: str = "label"  # column (or JSON key) holding the label
    encoding: str = "utf-8"  # file encoding, e.g. gbk or latin-1 for older corpora
    dev_ratio: float = 0.1  # share of train held out as dev when no dev file is given
    split_seed: int = 42  # seed of that split, separate from the training seed
    unseen_labels: Literal["error", "skip"] = "error"  # labels in dev/test that train never saw
    # Tokens kept per text (longer texts are truncated), special tokens included. auto: the longest
    # training text but at least 256, up to the model family's bound (2,048 tokens for the classic
    # families, the positions of a transformer); the run's config.yaml records the number chosen.
    max_length: int | Literal["auto"] = "auto"
    truncation: Literal["head", "tail", "head+tail"] = "head"  # which tokens of a long text to keep
    # Transformers: split a text longer than this many tokens (special tokens included) into
    # overlapping windows and pool their logits into one prediction (model.window_pooling);
    # the text is still read up to max_length tokens (auto: the longest train text, up to 8,192).
    window: int | None = None
    stride: int | None = None  # body tokens from one window's start to the next; null = window / 2
    unlabeled: str | None = None  # a file of unlabelled texts for UDA (one per line, or a text column)
    labeled_per_class: int = 0  # keep N labelled train examples per class, the rest become unlabelled
    # use at most N of the unlabelled texts (a random sample, data.split_seed); 0 = all. UDA's
    # views are made of every one, so this bounds the cost of slow ops such as backtranslate.
    unlabeled_limit: int = 0
    # Each text has a list of labels (JSONL list, or label_separator); empty = the catalog data
    # set's own scheme (data.name: reuters21578 is multi-label), else false.
    multi_label: bool | None = None
    label_separator: str = "|"  # splits a multi-label cell in TSV/CSV, e.g. sports|politics
    # true | false | auto: read train row by row into an encoded, memory-mapped corpus in the run
    # directory instead of into memory; auto does so for a tsv/csv/jsonl train file over the threshold
    streaming: bool | Literal["auto"] = "auto"
    streaming_threshold_mb: int = 512  # size of the train file above which auto streams

    def __post_init__(self) -> None:
        if self.labeled_per_class < 0:
            raise ConfigError("data.labeled_per_class must be >= 0 (0 = keep every label)")
        if self.unlabeled_limit < 0:
            raise ConfigError("data.unlabeled_limit must be >= 0 (0 = every unlabelled text)")
        if not self.label_separator:
            raise ConfigError("data.label_separator must be a non-empty string, e.g. '|'")
        in_range("data.dev_ratio", self.dev_ratio, 0.0, 0.9, low_open=True)
        if self.max_length != "auto":
            positive("data.max_length", self.max_length)
        positive("data.streaming_threshold_mb", self.streaming_threshold_mb)
        check_windows(self.window, self.stride)


@dataclass
class TokenizerConfig:
    """How text becomes tokens and tokens become ids."""

    # auto: char for Chinese, else word; hf: a pretrained model's own tokenizer
    kind: Literal["auto", "word", "char", "jieba", "hf"] = "auto"
    lowercase: bool = True  # lowercase before looking tokens up
    min_freq: int = 1  # drop tokens seen fewer times in train
    max_size: int | None = 50000  # cap on vocabulary size, specials included; null = no cap

    def __post_init__(self) -> None:
        positive("tokenizer.min_freq", self.min_freq)
        if self.max_size is not None and self.max_size < 3:
            raise ConfigError("tokenizer.max_size must be at least 3 (pad, unk and one token) or null")


@dataclass
class ModelConfig:
    """Which registered model to build; family parameters sit beside these keys."""

    # A registered model (``fenlei models``); empty = tfidf, the family that is strong on data
    # nobody tuned a recipe for (docs/BENCHMARKS.md, "TF-IDF"): whole documents, any language,
    # fitted in seconds to a minute.
    name: str | None = None
    embed_dim: int = 128  # embedding size when no pretrained vectors are given
    vectors: str | None = None  # glove-6b-50d, or a path to word2vec/GloVe vectors
    freeze_embeddings: bool = False  # keep pretrained vectors fixed while training
    # Also add up to N pretrained words that train never saw (file order: most frequent first),
    # so a dev/test/serving word unseen in training still gets its vector instead of <unk>.
    extend_vocab: int = 0
    init: Literal["default", "xavier", "kaiming", "normal"] = "default"  # embeddings untouched
    # Family parameters, e.g. num_filters; checked against the family's own dataclass when the
    # run starts (fenlei.resolve), which also fills in the family's defaults.
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        positive("model.embed_dim", self.embed_dim)
        if self.extend_vocab < 0:
            raise ConfigError("model.extend_vocab must be >= 0 (0 = vocabulary from train only)")


@dataclass
class ObjectiveConfig:
    """The loss, as an objective (DESIGN.md §3); its own parameters sit beside these keys."""

    # A registered objective (``fenlei models`` lists them); empty = the task's default:
    # cross_entropy, or bce for data.multi_label.
    name: str | None = None
    label_smoothing: float = 0.0  # 0 = plain targets
    class_weights: list[float] | Literal["balanced"] | None = None  # one per label, or balanced
    adversarial: float = 0.0  # FGM: L2 size of the embedding perturbation per example; 0 = off
    # The objective's own parameters (rdrop_alpha, teacher, UDA's coeff ...), checked against its
    # dataclass when the run starts (fenlei.resolve).
    params: dict[str, Any] = field(default_factory=dict)
    # Keys read from a former place (the uda: section): objective key -> where it was written.
    moved: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        in_range("objective.label_smoothing", self.label_smoothing, 0.0, 1.0)
        if self.adversarial < 0:
            raise ConfigError(
                "objective.adversarial must be >= 0 (0 = off; it scales with the embedding norms: "
                "1.5 for GloVe 50d words, see the README)"
            )


@dataclass
class OptimConfig:
    """Optimiser and learning-rate schedule; the peak rate is ``train.lr``."""

    name: Literal["adamw", "adam", "sgd"] = "adamw"
    weight_decay: float = 0.0  # decoupled for AdamW, L2 for SGD
    momentum: float = 0.9  # SGD only
    eps: float = 1e-8  # Adam epsilon
    schedule: Literal["constant", "linear", "cosine"] = "constant"  # after warmup
    warmup: float = 0.0  # warmup length: a ratio of all steps if < 1, else a step count

    def __post_init__(self) -> None:
        if self.warmup < 0:
            raise ConfigError("optim.warmup must be >= 0")


@dataclass
class TrainConfig:
    """The loop: length, batch, evaluation, early stopping, seeds."""

    epochs: int = 10  # passes over the training data
    # examples per optimiser step (before accumulation); auto: the model family's own (64, 32 for
    # transformers), halved until an epoch has 50 steps, at least 16; config.yaml records it
    batch_size: int | Literal["auto"] = "auto"
    eval_batch_size: int = 0  # examples per batch when evaluating or predicting; 0 = the model's default
    # peak learning rate; auto: the family's own (1e-3 trained from scratch, 5e-5 for fine-tuning a
    # pretrained transformer, which 1e-3 leaves at chance); config.yaml records the number
    lr: float | Literal["auto"] = "auto"
    seed: int = 42  # seeds python, numpy and torch
    grad_clip: float = 0.0  # max gradient norm; 0 = no clipping
    accumulate: int = 1  # batches per optimiser step
    eval_every: int = 0  # evaluate every N optimiser steps; 0 = once per epoch
    # Dev metric that picks the best checkpoint and early-stops; empty = the task's default
    # (accuracy, or micro_f1 for data.multi_label). samples_f1 and hamming_loss are multi-label only.
    metric: Metric | None = None
    patience: int = 0  # evaluations without improvement before stopping; 0 = never stop early
    min_delta: float = 0.0  # smallest change that counts as an improvement
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    # auto: bf16 (else fp16) autocast on a GPU; on CPU fp32, except bf16 for transformers where the
    # CPU has native bf16 (AVX512-BF16, AMX).
    precision: Literal["auto", "fp32", "fp16", "bf16"] = "auto"
    threads: int = 0  # torch CPU threads; 0 = torch's default
    progress: bool = True  # show a progress bar
    tensorboard: bool = True  # write TensorBoard event files under tb/
    threshold: Literal["global", "per_label"] = "global"  # multi-label: decision thresholds tuned on dev
    ema: float = 0.0  # decay of a moving average of the weights that is evaluated and saved; 0 = off
    report: bool = True  # write report.html and plots/ into the run directory at the end
    # After the dev evaluation, fit once more on train + dev and save that model: test metrics
    # and predictions are the refit's, dev metrics the first fit's (fasttext's sgd / adagrad).
    refit: bool = False
    # Resume points: every N optimiser steps (0 = off) and whenever this many minutes passed since
    # the last one (0 = off), besides the end of training and a stop signal; a kill loses little work.
    checkpoint_every: int = 0
    checkpoint_minutes: float = 10.0
    # torch deterministic algorithms: identical runs under a seed, at some speed cost on GPU.
    deterministic: bool = False

    def __post_init__(self) -> None:
        for key in ("epochs", "batch_size", "accumulate"):
            if getattr(self, key) != "auto":
                positive(f"train.{key}", getattr(self, key))
        if self.lr != "auto" and self.lr <= 0:
            raise ConfigError("train.lr must be > 0")
        nonneg = ("eval_batch_size", "grad_clip", "eval_every", "patience", "min_delta", "threads")
        for key in (*nonneg, "checkpoint_every", "checkpoint_minutes"):
            if getattr(self, key) < 0:
                raise ConfigError(f"train.{key} must be >= 0")
        if not 0.0 <= self.ema < 1.0:
            raise ConfigError(f"train.ema must be in [0, 1) (e.g. 0.99), got {self.ema}")


@dataclass
class AugmentConfig:
    """Offline text augmentation (EDA, vector synonyms, TF-IDF replacement, back-translation);
    deterministic per seed. The backtranslate settings also apply to UDA's views (objective.ops)."""

    # synonym | insert | swap | delete | tfidf | backtranslate (checked when the run starts)
    ops: list[str] = field(default_factory=lambda: ["synonym", "insert", "swap", "delete"])
    rate: float = 0.1  # share of a text's tokens each op changes (EDA's alpha)
    copies: int = 0  # augmented copies of each labelled train text added to train; 0 = off
    neighbours: int = 10  # synonym/insert: draw from this many nearest neighbours in the vectors
    vectors: str | None = None  # vectors for synonym/insert; empty = model.vectors
    # backtranslate: language of the texts; auto = per text (Chinese when mostly CJK characters).
    # It translates English only: other texts raise, unless fallback names ops for them.
    language: str = "auto"
    fallback: list[str] = field(default_factory=list)  # backtranslate: token ops for non-English texts
    translate_threads: int = 1  # backtranslate: concurrent translations (one core each)

    def __post_init__(self) -> None:
        in_range("augment.rate", self.rate, 0.0, 1.0, low_open=True)
        if self.copies < 0:
            raise ConfigError("augment.copies must be >= 0 (0 = no augmented copies)")
        positive("augment.neighbours", self.neighbours)
        positive("augment.translate_threads", self.translate_threads)
        if not self.language.strip():
            raise ConfigError("augment.language must be auto or a language code such as en")
        self.language = self.language.strip().lower()


@dataclass
class TuneConfig:
    """``fenlei tune``: how a recipe narrows its family's search space (``fenlei models`` shows it).

    space maps a key to ``[low, high]`` or ``{low, high, log}`` (numeric), a list of choices
    (a choice key), ``{choices: [...]}`` or one fixed value; a key outside the family's space
    needs a full range.
    """

    space: dict[str, Any] = field(default_factory=dict)
    keys: list[str] | None = None  # tune only these keys of the space; null = all of them


SECTIONS: dict[str, type] = {
    "data": DataConfig,
    "tokenizer": TokenizerConfig,
    "model": ModelConfig,
    "objective": ObjectiveConfig,
    "optim": OptimConfig,
    "train": TrainConfig,
    "augment": AugmentConfig,
    "tune": TuneConfig,
}
# Sections whose unknown keys are the family's (model) or the objective's own parameters.
_OPEN_SECTIONS = {"model": ModelConfig, "objective": ObjectiveConfig}
# Former sections, still read: their keys now live in another section.
MOVED_SECTIONS = {"uda": "objective"}  # UDA's settings are the uda objective's parameters


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
    tune: TuneConfig = field(default_factory=TuneConfig)

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None, where: str = "config") -> Config:
        """Build and validate from nested plain data (as read from YAML)."""
        raw = raw or {}
        if not isinstance(raw, dict):
            raise ConfigError(f"{where}: expected a mapping of sections ({', '.join(SECTIONS)})")
        raw = dict(raw)  # folding former sections must not change the caller's data
        moved = _fold_moved_sections(raw)
        unknown = sorted(set(raw) - set(SECTIONS))
        if unknown:
            raise ConfigError(f"{unknown[0]}: unknown config section; sections are {', '.join(SECTIONS)}")
        parts = {name: _build_section(name, sec_cls, raw.get(name)) for name, sec_cls in SECTIONS.items()}
        parts["objective"].moved = moved
        return cls(**parts)

    def to_dict(self) -> dict[str, Any]:
        """Nested plain data; model and objective parameters are written beside their section's keys."""
        out = dataclasses.asdict(self)
        out["objective"].pop("moved")
        for section in _OPEN_SECTIONS:
            params = out[section].pop("params")
            out[section].update(params)
        return plain(out)

    def to_yaml(self) -> str:
        """The config as YAML text."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)

    def save(self, path: str | Path) -> None:
        """Write the config as YAML."""
        Path(path).write_text(self.to_yaml(), encoding="utf-8")


def _fold_moved_sections(raw: dict[str, Any]) -> dict[str, str]:
    """Move the keys of former sections into their new one (keys given there win); returns
    {new key: where it was written} so that the run can say where they live now."""
    moved: dict[str, str] = {}
    for old, new in MOVED_SECTIONS.items():
        section = raw.pop(old, None)
        if section is None:
            continue
        if not isinstance(section, dict):
            raise ConfigError(f"{old}: expected a mapping of keys, got {type(section).__name__}")
        target = raw.get(new)
        target = dict(target) if isinstance(target, dict) else {}
        for key, value in section.items():
            if key not in target:
                target[key] = value
                moved[key] = f"{old}.{key}"
        raw[new] = target
    return moved


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
        raw = resolve_paths(raw, path.parent)
    for item in overrides or []:
        apply_override(raw, item)
    return Config.from_dict(raw, where)


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
        if key in fields and key not in ("params", "moved"):
            kwargs[key] = coerce(value, hints[key], f"{name}.{key}")
        elif name in _OPEN_SECTIONS:
            extra[key] = value  # the family's / objective's own parameter: checked by its dataclass
        else:
            known = ", ".join(sorted(fields))
            raise ConfigError(f"{name}.{key}: unknown key; keys of '{name}' are: {known}")
    if name in _OPEN_SECTIONS:
        kwargs["params"] = (
            {**raw.get("params", {}), **extra} if isinstance(raw.get("params"), dict) else extra
        )
    try:
        return cls(**kwargs)
    except FenleiError as err:
        raise ConfigError(str(err)) from None
