"""The unpacked recurrence (the CPU and export path) computes what packing does."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from fenlei.models.rnn import make_rnn, run_rnn
from fenlei.models.rnn_unpacked import run_rnn_unpacked


def packed_reference(rnn: nn.RNNBase, x: torch.Tensor, lengths: torch.Tensor):
    """The packed computation, written out here so the test does not depend on run_rnn's choice."""
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    out, hidden = rnn(packed)
    hidden = hidden[0] if isinstance(hidden, tuple) else hidden
    out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
    return out, hidden


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [True, False])
@pytest.mark.parametrize("layers", [1, 2])
def test_unpacked_equals_packed_outputs_states_and_gradients(cell, bidirectional, layers):
    torch.manual_seed(0)
    rnn = make_rnn(cell, 6, 5, layers, bidirectional, dropout=0.3).eval()
    lengths = torch.tensor([7, 3, 1, 5])
    x = torch.randn(4, 7, 6, requires_grad=True)
    ref_out, ref_hidden = packed_reference(rnn, x, lengths)
    ref_grad = torch.autograd.grad(ref_out.sum() + ref_hidden.pow(2).sum(), x)[0]
    out, hidden = run_rnn_unpacked(rnn, x, lengths)
    grad = torch.autograd.grad(out.sum() + hidden.pow(2).sum(), x)[0]
    torch.testing.assert_close(out, ref_out, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(hidden, ref_hidden, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(grad, ref_grad, atol=1e-6, rtol=1e-5)


def test_extra_padding_changes_nothing_on_the_cpu_path():
    torch.manual_seed(1)
    rnn = make_rnn("lstm", 4, 3, 2, True, dropout=0.0).eval()
    lengths = torch.tensor([5, 2])
    x = torch.randn(2, 5, 4)
    padded = torch.cat([x, torch.randn(2, 9, 4)], dim=1)  # junk past every length
    out, hidden = run_rnn(rnn, x, lengths)
    out_padded, hidden_padded = run_rnn(rnn, padded, lengths)
    torch.testing.assert_close(out_padded[:, :5], out)
    assert out_padded[:, 5:].abs().max() == 0
    torch.testing.assert_close(hidden_padded, hidden)


def test_training_applies_dropout_between_layers_only():
    torch.manual_seed(2)
    x, lengths = torch.randn(3, 6, 4), torch.tensor([6, 4, 2])
    stacked = make_rnn("lstm", 4, 3, 2, True, dropout=0.5).train()
    torch.manual_seed(3)
    first, _ = run_rnn_unpacked(stacked, x, lengths)
    torch.manual_seed(4)
    second, _ = run_rnn_unpacked(stacked, x, lengths)
    assert not torch.allclose(first, second)  # the inter-layer dropout draws differ
    single = make_rnn("lstm", 4, 3, 1, True, dropout=0.5).train()  # no layer to drop between
    torch.testing.assert_close(
        run_rnn_unpacked(single, x, lengths)[0], run_rnn_unpacked(single, x, lengths)[0]
    )
