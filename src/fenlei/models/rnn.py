"""Recurrent classifiers: ``textrnn`` (RNN + pooling) and ``textrnn_att`` (+ attention, Zhou et al. 2016)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from fenlei.models import register_model
from fenlei.models.base import (
    ModelParams,
    TextModel,
    check_choice,
    check_dropout,
    check_int,
    length_mask,
)
from fenlei.models.rnn_unpacked import run_rnn_unpacked
from fenlei.tuning.space import Choice, Float, Int

# Keys both recurrent models accept, so one dict serves the tests of both.


@dataclass
class RNNEncoderParams(ModelParams):
    """The recurrent encoder shared by ``textrnn`` and ``textrnn_att``.

    cell: lstm | gru.
    hidden_size: hidden units per direction.
    num_layers: stacked recurrent layers.
    bidirectional: read the text both ways and concatenate the two states.
    dropout: dropout on embeddings, between stacked layers and on the pooled vector.
    """

    cell: str = "lstm"
    hidden_size: int = 128
    num_layers: int = 2
    bidirectional: bool = True
    dropout: float = 0.5
    search_space: ClassVar[dict] = {
        "train.lr": Float(3e-4, 5e-3, log=True),
        "hidden_size": Int(64, 256, log=True),
        "num_layers": Int(1, 2),
        "dropout": Float(0.1, 0.6),
    }

    def __post_init__(self) -> None:
        check_choice("cell", self.cell, ("lstm", "gru"))
        check_int("hidden_size", self.hidden_size)
        check_int("num_layers", self.num_layers)
        check_choice("bidirectional", self.bidirectional, (True, False))
        check_dropout("dropout", self.dropout)


def make_rnn(
    cell: str, input_size: int, hidden_size: int, num_layers: int, bidirectional: bool, dropout: float
):
    """A batch-first LSTM or GRU; torch warns about inter-layer dropout with one layer, so skip it."""
    rnn_class = nn.LSTM if cell == "lstm" else nn.GRU
    return rnn_class(
        input_size,
        hidden_size,
        num_layers=num_layers,
        bidirectional=bidirectional,
        dropout=dropout if num_layers > 1 else 0.0,
        batch_first=True,
    )


def run_rnn(rnn: nn.RNNBase, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-step outputs ``[B, T, D]`` (zero past each length) and final hidden ``[layers*dirs, B, H]``.

    Padding stays out of the recurrence, so the backward direction starts at each text's real
    last token and extra padding cannot change anything. On CUDA that is packing (cuDNN runs
    packed batches natively); on CPU a packed batch falls off oneDNN's fused kernel onto a
    per-step loop about 9x slower, and ``torch.export`` cannot trace packing at all, so both
    use the unpacked computation, which gives the same result.
    """
    if x.device.type == "cpu" or torch.compiler.is_exporting():
        return run_rnn_unpacked(rnn, x, lengths)
    packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
    out, hidden = rnn(packed)
    if isinstance(hidden, tuple):  # LSTM returns (h, c)
        hidden = hidden[0]
    out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
    return out, hidden


class _RecurrentModel(TextModel):
    """Embedding -> dropout -> RNN; subclasses pool the outputs into one vector."""

    auto_word_vectors = True

    def __init__(self, params: RNNEncoderParams, vocab_size: int, num_classes: int, **kw) -> None:
        super().__init__(params, vocab_size, num_classes, **kw)
        p = params
        self.rnn = make_rnn(p.cell, self.embed_dim, p.hidden_size, p.num_layers, p.bidirectional, p.dropout)
        self.out_dim = p.hidden_size * (2 if p.bidirectional else 1)
        self.dropout = nn.Dropout(p.dropout)
        self.fc = nn.Linear(self.out_dim, num_classes)

    def encode(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Outputs ``[B, T, D]``, final hidden states and the ``[B, T]`` token mask."""
        ids, lengths = batch["input_ids"], batch["lengths"]
        out, hidden = run_rnn(self.rnn, self.dropout(self.embedding(ids)), lengths)
        return out, hidden, length_mask(lengths, ids.shape[1])


@dataclass
class TextRNNParams(RNNEncoderParams):
    """Parameters of ``textrnn``: the encoder's, plus

    pooling: last (final states of each direction) | max | mean over the real tokens.
    """

    pooling: str = "last"
    search_space: ClassVar[dict] = {**RNNEncoderParams.search_space, "pooling": Choice("last", "max", "mean")}

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("pooling", self.pooling, ("last", "max", "mean"))


@register_model("textrnn")
class TextRNN(_RecurrentModel):
    """A (bi)LSTM or GRU classifier."""

    params_class = TextRNNParams
    auto_rank = 3
    tiny = {"hidden_size": 8, "num_layers": 1, "dropout": 0.1}

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        out, hidden, mask = self.encode(batch)
        if self.params.pooling == "last":
            # The top layer's final state per direction: forward ends at the last real token,
            # backward at the first.
            dirs = 2 if self.params.bidirectional else 1
            pooled = torch.cat(list(hidden[-dirs:]), dim=-1)
        elif self.params.pooling == "max":
            pooled = out.masked_fill(~mask.unsqueeze(-1), float("-inf")).amax(dim=1)
        else:
            pooled = out.sum(dim=1) / mask.sum(dim=1, keepdim=True).to(out.dtype)
        return self.fc(self.dropout(pooled))


@dataclass
class TextRNNAttParams(RNNEncoderParams):
    """Parameters of ``textrnn_att``: the encoder's, plus

    attention_size: width of the additive attention's hidden layer.
    """

    attention_size: int = 64

    def __post_init__(self) -> None:
        super().__post_init__()
        check_int("attention_size", self.attention_size)


@register_model("textrnn_att")
class TextRNNAttention(_RecurrentModel):
    """Attention-based BiLSTM: a learned weighted sum of the per-token states."""

    params_class = TextRNNAttParams
    tiny = {"hidden_size": 8, "num_layers": 1, "dropout": 0.1}

    def __init__(self, params: TextRNNAttParams, vocab_size: int, num_classes: int, **kw) -> None:
        super().__init__(params, vocab_size, num_classes, **kw)
        self.attention = nn.Linear(self.out_dim, params.attention_size)
        self.score = nn.Linear(params.attention_size, 1, bias=False)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        out, _, mask = self.encode(batch)
        scores = self.score(torch.tanh(self.attention(out))).squeeze(-1)
        weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=1)
        pooled = torch.tanh(torch.bmm(weights.unsqueeze(1), out).squeeze(1))  # tanh as in Zhou et al.
        return self.fc(self.dropout(pooled))
