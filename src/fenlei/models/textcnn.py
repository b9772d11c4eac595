"""TextCNN (Kim 2014): parallel 1-D convolutions, max-over-time pooling, dropout, linear."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from fenlei.errors import ModelError
from fenlei.models import register_model
from fenlei.models.base import ModelParams, TextModel, check_dropout, check_int, length_mask

TINY = {"filter_sizes": (2, 3), "num_filters": 8, "dropout": 0.1}


@dataclass
class TextCNNParams(ModelParams):
    """Parameters of ``textcnn``.

    filter_sizes: convolution widths in tokens, one bank of filters per width.
    num_filters: filters per width.
    dropout: dropout on the pooled features before the output layer.
    static_copy: Kim's multichannel variant: a frozen copy of the (pretrained) embeddings is
        fed alongside the fine-tuned ones, so fine-tuning cannot drift words away from their vectors.
    """

    filter_sizes: tuple[int, ...] = (3, 4, 5)
    num_filters: int = 100
    dropout: float = 0.5
    static_copy: bool = False

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


@register_model("textcnn")
class TextCNN(TextModel):
    """Kim's CNN for sentence classification."""

    params_class = TextCNNParams

    def __init__(self, params: TextCNNParams, vocab_size: int, num_classes: int, **kw) -> None:
        super().__init__(params, vocab_size, num_classes, **kw)
        channels = self.embed_dim
        self.static = None
        if params.static_copy:
            self.static = nn.Embedding.from_pretrained(self.embedding.weight.detach().clone(), freeze=True)
            channels *= 2
        self.convs = nn.ModuleList(nn.Conv1d(channels, params.num_filters, k) for k in params.filter_sizes)
        self.dropout = nn.Dropout(params.dropout)
        self.fc = nn.Linear(params.num_filters * len(params.filter_sizes), num_classes)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        ids, lengths = batch["input_ids"], batch["lengths"]
        mask = length_mask(lengths, ids.shape[1]).unsqueeze(-1)
        # Zeroed past each length, so a window overhanging the end sees the same zero padding
        # however long the batch is padded.
        x = self.embedding(ids)
        if self.static is not None:
            x = torch.cat([x, self.static(ids)], dim=-1)
        x = (x * mask).transpose(1, 2)
        widest = max(self.params.filter_sizes)
        if x.shape[-1] < widest:  # a text shorter than a filter still gets one window
            x = F.pad(x, (0, widest - x.shape[-1]))
        pooled = []
        for k, conv in zip(self.params.filter_sizes, self.convs, strict=True):
            h = conv(x)
            # Windows starting past the last full one only see padding; a short text keeps one.
            valid = length_mask((lengths - k + 1).clamp(min=1), h.shape[-1]).unsqueeze(1)
            h = h.masked_fill(~valid, float("-inf"))
            pooled.append(F.relu(h.amax(dim=-1)))  # relu commutes with max; cheaper after it
        return self.fc(self.dropout(torch.cat(pooled, dim=-1)))
