"""TextRCNN (Lai et al. 2015): each word seen with its left and right context, then max-pooled."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from fenlei.models import register_model
from fenlei.models.base import ModelParams, TextModel, check_dropout, check_int, length_mask
from fenlei.models.rnn import make_rnn, run_rnn
from fenlei.tuning.space import Float, Int


@dataclass
class TextRCNNParams(ModelParams):
    """Parameters of ``textrcnn``.

    hidden_size: BiLSTM units per direction, and the width of the per-word projection.
    num_layers: stacked BiLSTM layers.
    dropout: dropout on embeddings, between stacked layers and on the pooled vector.
    """

    hidden_size: int = 128
    num_layers: int = 1
    dropout: float = 0.5
    search_space: ClassVar[dict] = {
        "train.lr": Float(3e-4, 5e-3, log=True),
        "hidden_size": Int(64, 256, log=True),
        "dropout": Float(0.1, 0.6),
    }

    def __post_init__(self) -> None:
        check_int("hidden_size", self.hidden_size)
        check_int("num_layers", self.num_layers)
        check_dropout("dropout", self.dropout)


@register_model("textrcnn")
class TextRCNN(TextModel):
    """Recurrent convolutional network: [left context; word; right context] -> tanh -> max over time."""

    params_class = TextRCNNParams
    tiny = {"hidden_size": 8, "num_layers": 1, "dropout": 0.1}

    def __init__(self, params: TextRCNNParams, vocab_size: int, num_classes: int, **kw) -> None:
        super().__init__(params, vocab_size, num_classes, **kw)
        h = params.hidden_size
        self.rnn = make_rnn("lstm", self.embed_dim, h, params.num_layers, True, params.dropout)
        self.project = nn.Linear(2 * h + self.embed_dim, h)
        self.dropout = nn.Dropout(params.dropout)
        self.fc = nn.Linear(h, num_classes)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        ids, lengths = batch["input_ids"], batch["lengths"]
        emb = self.dropout(self.embedding(ids))
        out, _ = run_rnn(self.rnn, emb, lengths)
        h = self.params.hidden_size
        # The forward state carries the words to the left, the backward state those to the right.
        context = torch.cat([out[..., :h], emb, out[..., h:]], dim=-1)
        y = torch.tanh(self.project(context))
        mask = length_mask(lengths, ids.shape[1]).unsqueeze(-1)
        pooled = y.masked_fill(~mask, float("-inf")).amax(dim=1)
        return self.fc(self.dropout(pooled))
