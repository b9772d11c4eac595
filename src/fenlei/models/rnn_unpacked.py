"""The packed-sequence RNN computed without packing: the CPU path and ``torch.export``'s.

``torch.export`` cannot trace ``pack_padded_sequence``, and on CPU a packed LSTM runs a
per-step loop about 9x slower than the fused kernel over a padded batch (2-layer BiLSTM,
64 x 500 tokens: 8 s against 0.9 s a training step). Padding only ever follows the real
tokens, so the forward direction can run over the padded batch and read its final state at
each text's last token; the backward direction runs over each text reversed *within its own
length* (padding stays at the end) and is un-reversed the same way. The result equals the
packed computation at any batch size and length; in training, dropout between stacked layers
is applied as ``nn.LSTM`` does (its own random draws, so not bit-equal to the packed path).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def run_rnn_unpacked(
    rnn: nn.RNNBase, x: torch.Tensor, lengths: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Same outputs as ``run_rnn`` (``[B, T, D]`` zero past each length, final hidden
    ``[layers*dirs, B, H]``), built from ``aten::lstm``/``aten::gru`` on unpacked input."""
    batch, steps = x.shape[0], x.shape[1]
    positions = torch.arange(steps, device=x.device).unsqueeze(0)  # [1, T]
    last = (lengths - 1).clamp(min=0).to(torch.long)  # [B]
    inside = positions < lengths.unsqueeze(1)  # [B, T]
    # Reversal within each length: t -> len-1-t for real tokens, padding stays where it is.
    reverse = torch.where(inside, last.unsqueeze(1) - positions, positions.expand(batch, -1))
    mask = inside.unsqueeze(-1).to(x.dtype)
    directions = 2 if rnn.bidirectional else 1
    finals = []
    layer_in = x
    for layer in range(rnn.num_layers):
        if layer and rnn.training and rnn.dropout:  # nn.LSTM's dropout on every layer's input but the first
            layer_in = F.dropout(layer_in, rnn.dropout, training=True)
        outs = []
        for direction in range(directions):
            suffix = f"_l{layer}" + ("_reverse" if direction else "")
            weights = [
                getattr(rnn, f"{kind}{suffix}") for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
            ]
            seq = _gather_steps(layer_in, reverse) if direction else layer_in
            out = _single_layer(rnn, seq, weights)
            finals.append(_gather_steps(out, last.unsqueeze(1)).squeeze(1))  # state after the last real token
            if direction:
                out = _gather_steps(out, reverse)
            outs.append(out * mask)
        layer_in = torch.cat(outs, dim=-1) if directions == 2 else outs[0]
    return layer_in, torch.stack(finals)


def _gather_steps(seq: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``seq[b, index[b, t]]`` for every b, t."""
    return torch.gather(seq, 1, index.unsqueeze(-1).expand(-1, -1, seq.shape[-1]))


def _single_layer(rnn: nn.RNNBase, seq: torch.Tensor, weights: list[torch.Tensor]) -> torch.Tensor:
    """One unidirectional layer of ``rnn``'s cell type over a batch-first sequence."""
    h0 = seq.new_zeros(1, seq.shape[0], rnn.hidden_size)
    if isinstance(rnn, nn.LSTM):
        out, _, _ = torch.lstm(seq, (h0, h0), weights, True, 1, 0.0, False, False, True)
    else:
        out, _ = torch.gru(seq, h0, weights, True, 1, 0.0, False, False, True)
    return out
