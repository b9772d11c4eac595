"""Fine-tuned BERT-family encoders (BERT, RoBERTa, MiniLM, DistilBERT, ELECTRA, XLM-R ...).

``pooling: cls`` wraps ``AutoModelForSequenceClassification`` as it is, so the exported
Hugging Face folder predicts exactly what fenlei predicts. ``pooling: mean`` averages the
last hidden states over real tokens (what sentence encoders such as MiniLM were trained
for) and puts fenlei's own dropout + linear head on top.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from fenlei.errors import ModelError
from fenlei.models import register_model
from fenlei.models.base import ModelParams, TextModel, check_choice, check_dropout, length_mask
from fenlei.models.window_pooling import POOLINGS, pool_windows
from fenlei.rundir import HF_DIR
from fenlei.tuning.space import Choice, Float, Int

_LAYER_RE = re.compile(r"\.layers?\.(\d+)\.")


# the loop of every fine-tuning recipe in configs/: 3 epochs (at train.lr auto: 5e-5), AdamW, linear
# decay after 10% warm-up, gradients clipped at 1 (the Hugging Face Trainer's defaults, but the clip)
FINE_TUNING = [
    "train.epochs=3", "train.grad_clip=1.0", "optim.name=adamw",
    "optim.weight_decay=0.01", "optim.eps=1e-8", "optim.schedule=linear", "optim.warmup=0.1",
]  # fmt: skip


@dataclass
class TransformerParams(ModelParams):
    """Parameters of ``transformer``.

    pretrained: encoder to fine-tune: a packaged short name (minilm-l6), a local Hugging Face
        folder, or a hub id already in the local cache.
    pooling: cls (the model's own classification head) | mean (mean of the last hidden states).
    dropout: dropout before the classifier; null = the encoder's own setting.
    head_lr_mult: learning-rate multiplier of the new classification layer.
    layer_decay: layer-wise LR decay: layer i from the top learns at lr * layer_decay**i; 1 = off.
    freeze_encoder: train the head only.
    window_pooling: with data.window, how a document's window logits become one: mean | max |
        attention (weights from a learned score of each window's representation, uniform at start).
    """

    pretrained: str = "minilm-l6"
    pooling: str = "cls"
    dropout: float | None = None
    head_lr_mult: float = 1.0
    layer_decay: float = 1.0
    freeze_encoder: bool = False
    window_pooling: str = "mean"
    search_space: ClassVar[dict] = {
        "train.lr": Float(1e-5, 1e-4, log=True),
        "train.epochs": Int(1, 5),
        "layer_decay": Float(0.7, 1.0),
        "head_lr_mult": Choice(1.0, 10.0),
    }

    def __post_init__(self) -> None:
        if not isinstance(self.pretrained, str) or not self.pretrained:
            raise ModelError("model.pretrained must name an encoder, e.g. minilm-l6 or a local folder")
        check_choice("pooling", self.pooling, ("cls", "mean"))
        check_choice("window_pooling", self.window_pooling, POOLINGS)
        if self.dropout is not None:
            check_dropout("dropout", self.dropout)
        for key in ("head_lr_mult", "layer_decay"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ModelError(f"model.{key} must be a number > 0, got {value!r}")


@register_model("transformer")
class Transformer(TextModel):
    """A pretrained encoder with a sequence-classification head."""

    params_class = TransformerParams
    auto_rank = 4
    default_lr = 5e-5  # what the fine-tuning recipes use; 1e-3 left MiniLM at chance on SST-2
    tokenizer_kinds = ("hf",)
    encoder_type: ClassVar[str] = "hf"
    # On CPU, attention over big padded batches is slow: 32 ran 2.4x faster than 256 for MiniLM.
    eval_batch_size: ClassVar[int] = 32
    batch_size: ClassVar[int] = 32  # what the fine-tuning recipes use
    # 32 texts of 128 tokens a pass: 32 IMDb reviews of 512 tokens took MiniLM's fp32 training
    # step to 8.7 GB of activations (attention scores); 8 of 512, accumulated 4 times, to ~2 GB
    batch_tokens: ClassVar[int | None] = 32 * 128
    # bf16 autocast on CPUs with native bf16: 1.7x faster steps for MiniLM, same accuracy (SST-2).
    cpu_bf16: ClassVar[bool] = True
    pretrained_weights: ClassVar[bool] = True
    takes_vectors: ClassVar[bool] = False  # the encoder brings its own embeddings
    length_bound: ClassVar[int] = 1_000_000  # the position table bounds it
    ddp_find_unused: ClassVar[bool] = True  # e.g. BERT's pooler, which the head may not read
    reads_windows: ClassVar[bool] = True

    @classmethod
    def auto_sets(cls, language: str) -> list[str]:
        """English MiniLM, or the multilingual E5 for Chinese (both packaged, DESIGN.md §6), the
        latter as configs/thucnews-e5.yaml has it: mean pooling (E5 has no pooler) and its 96M-row
        token table frozen (cheaper steps; rare characters keep their converted vectors). The loop
        as the fine-tuning recipes (configs/*-minilm.yaml) have it, not the defaults made for
        training from scratch (lr 1e-3 for 10 epochs, which left MiniLM at chance on SST-2)."""
        encoder = (
            ["model.pretrained=e5-small-multilingual", "model.pooling=mean", "model.freeze_embeddings=true"]
            if language == "zh"
            else ["model.pretrained=minilm-l6"]
        )
        return encoder + FINE_TUNING

    def __init__(
        self,
        params: TransformerParams,
        vocab_size: int,
        num_classes: int,
        *,
        freeze_embeddings: bool = False,
        **_ignored,  # embed_dim, pad_id, embeddings: the encoder brings its own
    ) -> None:
        nn.Module.__init__(self)
        from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification

        from fenlei.models.hub import from_pretrained

        self.params = params
        self.num_classes = num_classes
        config = from_pretrained(AutoConfig, params.pretrained, num_labels=num_classes)
        if params.dropout is not None:  # the head's dropout: BERT-likes' key, else DistilBERT's
            for key in ("classifier_dropout", "seq_classif_dropout"):
                if hasattr(config, key):
                    setattr(config, key, params.dropout)
        with _quiet_transformers():
            if params.pooling == "cls":
                self.hf = from_pretrained(
                    AutoModelForSequenceClassification, params.pretrained, config=config
                )
                self.head = None
            else:
                self.hf = from_pretrained(AutoModel, params.pretrained, config=config)
                hidden = getattr(config, "hidden_size", None) or self.hf.get_input_embeddings().embedding_dim
                self.dropout = nn.Dropout(0.1 if params.dropout is None else params.dropout)
                self.head = nn.Linear(hidden, num_classes)
        if vocab_size > self.hf.get_input_embeddings().num_embeddings:  # a pad token was added
            self.hf.resize_token_embeddings(vocab_size)
        self.embedding = self.hf.get_input_embeddings()
        self.embed_dim = self.embedding.embedding_dim
        if params.window_pooling == "attention":
            hidden = getattr(config, "hidden_size", None) or self.embed_dim
            self.window_scorer = nn.Linear(hidden, 1)
            nn.init.zeros_(self.window_scorer.weight)  # every window weighs the same at the start
            nn.init.zeros_(self.window_scorer.bias)
        self.num_layers = int(getattr(config, "num_hidden_layers", 0) or 0)
        base = self.base_model
        if params.freeze_encoder:
            base.requires_grad_(False)
        elif freeze_embeddings:
            (getattr(base, "embeddings", None) or self.embedding).requires_grad_(False)

    @classmethod
    def tiny_params(cls, workdir: Path) -> dict:
        """A random 2-layer BERT (100 word pieces, 64 positions) written into ``workdir``."""
        folder = Path(workdir) / "tiny-bert"
        if not (folder / "config.json").is_file():
            write_tiny_bert(folder, [f"w{i}" for i in range(95)])
        return {"pretrained": str(folder)}

    @classmethod
    def encoder_source(cls, params: dict) -> tuple[Any, int]:
        """The pretrained encoder's own tokenizer and the longest input its positions allow."""
        from transformers import AutoConfig, AutoTokenizer

        from fenlei.models.hub import from_pretrained

        positions = _max_positions(from_pretrained(AutoConfig, params["pretrained"]))
        return from_pretrained(AutoTokenizer, params["pretrained"]), positions

    @classmethod
    def saved_params(cls, params: dict, run_dir: Path) -> dict:
        """A finished run is rebuilt from its own Hugging Face folder, not from the source encoder."""
        return {**params, "pretrained": str(Path(run_dir) / HF_DIR)}

    def save_run_files(self, run_dir: Path, label_names: list[str]) -> None:
        """The Hugging Face folder next to fenlei's own files."""
        self.save_pretrained(Path(run_dir) / HF_DIR, label_names)

    def input_embeddings(self) -> list[nn.Module]:
        """The word embeddings only: positions and token types are not the input."""
        return [self.embedding]

    @property
    def base_model(self) -> nn.Module:
        """The pretrained encoder without any head."""
        return self.hf.base_model if self.head is None else self.hf

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        ids = batch["input_ids"]
        mask = length_mask(batch["lengths"].to(ids.device), ids.shape[1])
        windows = batch.get("windows")
        scored = windows is not None and self.params.window_pooling == "attention"
        if self.head is None:
            out = self.hf(input_ids=ids, attention_mask=mask.long(), output_hidden_states=scored)
            logits = out.logits
            rep = out.hidden_states[-1][:, 0] if scored else None  # the [CLS] position
        else:
            rep = self._mean_pooled(ids, mask)
            logits = self.classify(rep)
        if windows is None:
            return logits
        scores = self.window_scorer(rep).squeeze(-1) if scored else None
        return pool_windows(logits, windows, self.params.window_pooling, scores)

    def features(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The sentence vector [B, H] the head reads (mean pooling only; contrastive objectives)."""
        if self.head is None:
            raise ModelError(
                "this objective trains the sentence vector the head reads: set model.pooling: mean "
                "(with pooling: cls the head sits inside the Hugging Face model)"
            )
        ids = batch["input_ids"]
        return self._mean_pooled(ids, length_mask(batch["lengths"].to(ids.device), ids.shape[1]))

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        """Logits [B, C] of sentence vectors from ``features``."""
        return self.head(self.dropout(features))

    def _mean_pooled(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        hidden = self.hf(input_ids=ids, attention_mask=mask.long()).last_hidden_state
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)

    def lr_scale(self, name: str) -> float:
        """Learning-rate multiplier of parameter ``name``: head multiplier, else layer-wise decay."""
        p = self.params
        encoder = f"hf.{self.hf.base_model_prefix}." if self.head is None else "hf."
        if not name.startswith(encoder):  # the new classification layer(s)
            return float(p.head_lr_mult)
        if p.layer_decay == 1.0 or not self.num_layers:
            return 1.0
        top = self.num_layers + 1
        if ".embeddings." in name:
            depth = 0
        else:
            match = _LAYER_RE.search(name)
            depth = int(match.group(1)) + 1 if match else top  # pooler and the like sit on top
        return float(p.layer_decay ** (top - depth))

    def save_pretrained(self, folder: Path, label_names: list[str]) -> None:
        """Write a Hugging Face folder (config with id2label/label2id and the weights)."""
        config = self.hf.config
        config.id2label = dict(enumerate(label_names))
        config.label2id = {name: i for i, name in enumerate(label_names)}
        with _quiet_transformers():
            self.hf.save_pretrained(folder)
        if self.head is not None:
            (Path(folder) / "FENLEI_README.md").write_text(
                "This folder holds the fine-tuned encoder only (AutoModel opens it). The run used\n"
                "mean pooling, whose classification head lives in ../model.safetensors; predict\n"
                "with `fenlei predict RUN_DIR`. AutoModelForSequenceClassification would add an\n"
                "untrained head here.\n",
                encoding="utf-8",
            )


# These models start position ids after the padding index, so two positions are never usable.
_OFFSET_POSITIONS = {"roberta": 2, "xlm-roberta": 2, "camembert": 2, "longformer": 2, "bart": 2}


def _max_positions(config) -> int:
    """Longest input the model's position table allows (unbounded for relative positions)."""
    n = getattr(config, "max_position_embeddings", None)
    if not isinstance(n, int) or n <= 0:
        return 1_000_000
    return n - _OFFSET_POSITIONS.get(getattr(config, "model_type", ""), 0)


BERT_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def write_tiny_bert(folder: Path, words: list[str]) -> Path:
    """A Hugging Face folder for tests: random BERT weights (2 layers, hidden size 32, 64
    positions, seed 0) and a WordPiece vocabulary of the special tokens plus ``words``."""
    from transformers import BertConfig, BertModel, BertTokenizer

    vocab = BERT_SPECIALS + [w for w in words if w not in BERT_SPECIALS]
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=64,
    )
    torch.manual_seed(0)
    with _quiet_transformers():
        BertModel(config).save_pretrained(folder)
        BertTokenizer(vocab={w: i for i, w in enumerate(vocab)}).save_pretrained(folder)
    return Path(folder)


class _quiet_transformers:
    """Silence the 'newly initialized head' report and load bars: a new head is the point."""

    def __enter__(self) -> None:
        from transformers.utils import logging

        self._level = logging.get_verbosity()
        self._bars = logging.is_progress_bar_enabled()
        logging.set_verbosity_error()
        logging.disable_progress_bar()  # "Loading weights" bars; fenlei prints its own plan line

    def __exit__(self, *exc) -> None:
        from transformers.utils import logging

        logging.set_verbosity(self._level)
        if self._bars:
            logging.enable_progress_bar()
