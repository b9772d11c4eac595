"""DPCNN (Johnson & Zhang 2017): region embedding, then halve the length with pooling until one position."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from fenlei.models import register_model
from fenlei.models.base import ModelParams, TextModel, check_dropout, check_int, length_mask
from fenlei.tuning.space import Float, Int


@dataclass
class DPCNNParams(ModelParams):
    """Parameters of ``dpcnn``.

    num_filters: channels of every convolution (the paper's 250).
    dropout: dropout on the final vector before the output layer.
    """

    num_filters: int = 250
    dropout: float = 0.2
    search_space: ClassVar[dict] = {
        "train.lr": Float(3e-4, 5e-3, log=True),
        "num_filters": Int(100, 300, log=True),
        "dropout": Float(0.1, 0.5),
    }

    def __post_init__(self) -> None:
        check_int("num_filters", self.num_filters)
        check_dropout("dropout", self.dropout)


class _ConvPair(nn.Module):
    """Two pre-activation convolutions of width 3; the caller adds the shortcut."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv1d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # Re-zero past each length after every conv so padding never leaks in through a bias.
        h = self.conv1(F.relu(x)) * mask
        return self.conv2(F.relu(h)) * mask


@register_model("dpcnn")
class DPCNN(TextModel):
    """Deep pyramid CNN; the downsampling block's weights are shared, so any length works."""

    params_class = DPCNNParams
    tiny = {"num_filters": 8, "dropout": 0.1}

    def __init__(self, params: DPCNNParams, vocab_size: int, num_classes: int, **kw) -> None:
        super().__init__(params, vocab_size, num_classes, **kw)
        n = params.num_filters
        self.region = nn.Conv1d(self.embed_dim, n, 3, padding=1)
        self.convs = _ConvPair(n)
        self.block = _ConvPair(n)
        self.dropout = nn.Dropout(params.dropout)
        self.fc = nn.Linear(n, num_classes)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        ids, lengths = batch["input_ids"], batch["lengths"]
        mask = length_mask(lengths, ids.shape[1]).unsqueeze(1).to(torch.float32)
        x = self.region(self.embedding(ids).transpose(1, 2) * mask) * mask
        x = x + self.convs(x, mask)
        while x.shape[-1] > 1:  # depends on the padded shape only, never on tensor values
            # The paper's pooling: one zero appended, then max over 3 with stride 2.
            pooled = F.max_pool1d(F.pad(x, (0, 1)), kernel_size=3, stride=2)
            active = lengths > 1
            lengths = torch.where(active, lengths // 2, lengths)
            mask = length_mask(lengths, pooled.shape[-1]).unsqueeze(1).to(x.dtype)
            pooled = pooled * mask
            y = pooled + self.block(pooled, mask)
            # A text already down to one position stays as it is, so the number of blocks a
            # text goes through depends on its own length, not on how far the batch is padded.
            x = torch.where(active[:, None, None], y, x[:, :, ::2][..., : y.shape[-1]])
        return self.fc(self.dropout(x[:, :, 0]))
