"""TextCNN (Kim 2014): parallel 1-D convolutions, max-over-time pooling, dropout, linear."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from fenlei.errors import ModelError
from fenlei.models import register_model
from fenlei.models.base import (
    LayerPath,
    ModelParams,
    TextModel,
    check_buckets,
    check_choice,
    check_dropout,
    check_int,
    fill_buckets,
    hashed_ngrams,
    length_mask,
    spread_ngrams,
)
from fenlei.tuning.space import Choice, Float, Int

POOLINGS = ("max", "max_mean")


@dataclass
class TextCNNParams(ModelParams):
    """Parameters of ``textcnn``.

    filter_sizes: convolution widths in tokens, one bank of filters per width.
    num_filters: filters per width.
    dropout: dropout on the pooled features before the output layer.
    static_copy: Kim's multichannel variant: a frozen copy of the (pretrained) embeddings is
        fed alongside the fine-tuned ones, so fine-tuning cannot drift words away from their vectors.
    ngrams: 1 = tokens only; 2 (3) adds a channel of the hashed bi(+tri)grams starting at each token.
    ngram_buckets: size of the hashed n-gram embedding table (used when ngrams > 1); auto = one
        row per distinct train n-gram, between 2**14 and 2**16 (models/base.py auto_buckets).
    ngram_dim: n-gram channel size; null means the token embedding size.
    pooling: max (max over time) or max_mean (max and length-masked mean, concatenated).
    word_dropout: while training, the share of token positions whose input vectors are zeroed.
    max_norm: Kim's constraint: output-layer weight rows are rescaled to this L2 norm at most; 0 = off.
    """

    filter_sizes: tuple[int, ...] = (3, 4, 5)
    num_filters: int = 100
    dropout: float = 0.5
    static_copy: bool = False
    ngrams: int = 1
    ngram_buckets: int | str = "auto"
    ngram_dim: int | None = None
    pooling: str = "max"
    word_dropout: float = 0.0
    max_norm: float = 0.0
    search_space: ClassVar[dict] = {
        "train.lr": Float(3e-4, 5e-3, log=True),
        "num_filters": Int(64, 256, log=True),
        "filter_sizes": Choice([2, 3, 4], [3, 4, 5], [2, 3, 4, 5]),
        "dropout": Float(0.1, 0.6),
        "ngrams": Choice(1, 2),
    }

    def __post_init__(self) -> None:
        if isinstance(self.filter_sizes, list):  # YAML has no tuples
            self.filter_sizes = tuple(self.filter_sizes)
        if not isinstance(self.filter_sizes, tuple) or not self.filter_sizes:
            raise ModelError(
                f"model.filter_sizes must be a non-empty list of widths, got {self.filter_sizes!r}"
            )
        for size in self.filter_sizes:
            check_int("filter_sizes", size)
        check_int("num_filters", self.num_filters)
        check_dropout("dropout", self.dropout)
        check_int("ngrams", self.ngrams)
        if self.ngrams > 3:
            raise ModelError(f"model.ngrams must be 1, 2 or 3, got {self.ngrams!r}")
        check_buckets("ngram_buckets", self.ngram_buckets)
        if self.ngram_dim is not None:
            check_int("ngram_dim", self.ngram_dim)
        check_choice("pooling", self.pooling, POOLINGS)
        check_dropout("word_dropout", self.word_dropout)
        norm = self.max_norm
        if isinstance(norm, bool) or not isinstance(norm, (int, float)) or norm < 0:
            raise ModelError(f"model.max_norm must be a number >= 0, got {self.max_norm!r}")


@register_model("textcnn")
class TextCNN(TextModel):
    """Kim's CNN for sentence classification."""

    params_class = TextCNNParams
    auto_rank = 2
    auto_word_vectors = True
    tiny = {"filter_sizes": (2, 3), "num_filters": 8, "dropout": 0.1}

    @classmethod
    def fill_from_data(cls, params: dict, ngrams) -> dict:
        """ngram_buckets auto: from the distinct word n-grams of train (when ngrams > 1)."""
        return fill_buckets(params, "ngram_buckets", ngrams)

    def __init__(self, params: TextCNNParams, vocab_size: int, num_classes: int, **kw) -> None:
        super().__init__(params, vocab_size, num_classes, **kw)
        channels = self.embed_dim
        self.static = None
        if params.static_copy:
            self.static = nn.Embedding.from_pretrained(self.embedding.weight.detach().clone(), freeze=True)
            channels *= 2
        self.ngram_embedding: nn.Embedding | None = None
        if params.ngrams > 1:
            dim = params.ngram_dim or self.embed_dim
            # Row ``ngram_buckets`` is padding: n-grams running past a text's end point there.
            pad = params.ngram_buckets
            self.ngram_embedding = nn.Embedding(params.ngram_buckets + 1, dim, padding_idx=pad)
            with torch.no_grad():  # start at the scale of the token vectors
                std = float(self.embedding.weight[1:].std()) if vocab_size > 1 else 0.1
                self.ngram_embedding.weight.normal_(0.0, std or 0.1)
                self.ngram_embedding.weight[pad].zero_()
            channels += dim
        self.convs = nn.ModuleList(nn.Conv1d(channels, params.num_filters, k) for k in params.filter_sizes)
        self.dropout = nn.Dropout(params.dropout)
        pools = 2 if params.pooling == "max_mean" else 1
        self.fc = nn.Linear(params.num_filters * len(params.filter_sizes) * pools, num_classes)

    def ngram_ids(self, input_ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``[B, ngrams - 1, T]`` bucket ids of the 2..ngrams-gram starting at each position;
        those running past a text's end are the padding row."""
        buckets, t = self.params.ngram_buckets, input_ids.shape[1]
        padded = F.pad(input_ids, (0, self.params.ngrams - 1), value=self.pad_id)
        grams = [hashed_ngrams(padded, lengths, n, t, buckets) for n in range(2, self.params.ngrams + 1)]
        return torch.stack(grams, dim=1)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        ids, lengths = batch["input_ids"], batch["lengths"]
        mask = length_mask(lengths, ids.shape[1]).unsqueeze(-1)
        # Zeroed past each length, so a window overhanging the end sees the same zero padding
        # however long the batch is padded.
        x = self.embedding(ids)
        if self.static is not None:
            x = torch.cat([x, self.static(ids)], dim=-1)
        if self.ngram_embedding is not None:
            x = torch.cat([x, self.ngram_embedding(self.ngram_ids(ids, lengths)).sum(1)], dim=-1)
        if self.training and self.params.word_dropout > 0:
            keep = torch.rand(ids.shape, device=ids.device).unsqueeze(-1) >= self.params.word_dropout
            mask = mask & keep
        x = (x * mask).transpose(1, 2)
        widest = max(self.params.filter_sizes)
        if x.shape[-1] < widest:  # a text shorter than a filter still gets one window
            x = F.pad(x, (0, widest - x.shape[-1]))
        pooled, means = [], []
        for k, conv in zip(self.params.filter_sizes, self.convs, strict=True):
            h = conv(x)
            # Windows starting past the last full one only see padding; a short text keeps one.
            windows = (lengths - k + 1).clamp(min=1)
            valid = length_mask(windows, h.shape[-1]).unsqueeze(1)
            if self.params.pooling == "max_mean":
                summed = F.relu(h).masked_fill(~valid, 0.0).sum(-1)
                means.append(summed / windows.unsqueeze(1).to(summed.dtype))
            h = h.masked_fill(~valid, float("-inf"))
            pooled.append(F.relu(h.amax(dim=-1)))  # relu commutes with max; cheaper after it
        return self.head(torch.cat(pooled + means, dim=-1))

    def head(self, features: torch.Tensor) -> torch.Tensor:
        """Logits of the pooled features: dropout, then the output layer (rows held to Kim's
        max norm when set); the bf16 inference forward (inference/bf16_forward.py) ends here too."""
        features = self.dropout(features)
        if self.params.max_norm > 0:
            w = self.fc.weight
            norms = w.norm(dim=1, keepdim=True).clamp(min=1e-12)
            w = w * (self.params.max_norm / norms).clamp(max=1.0)
            return F.linear(features, w, self.fc.bias)
        return self.fc(features)

    def token_contributions(self, layer: nn.Module, path: LayerPath, width: int) -> torch.Tensor:
        """The n-gram table's output is [R, orders, T, D]: each order's n-grams over their tokens."""
        if layer is not self.ngram_embedding:
            return super().token_contributions(layer, path, width)
        per_gram = ((path.output - path.base_output) * path.grad).sum(-1)  # [R, orders, T]
        orders = range(2, self.params.ngrams + 1)
        return sum(spread_ngrams(per_gram[:, i], n, width) for i, n in enumerate(orders))
