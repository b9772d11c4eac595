"""bf16 inference forwards for CPUs that multiply bf16 matrices in hardware (Intel AMX).

``BF16_FORWARDS[name](model)`` prepares a family's forward from its loaded torch model; calling
it with a padded batch gives float32 logits. A family without one runs its own forward under
autocast. The tables and weights are cast once at load, so no step pays for casts.

TextCNN's convolutions are one GEMM: every (width k, offset j) slice of every filter bank is a
column block of W [C, sum(k) * F], so Y = X @ W gives each position's share of every window it
is in, and a window's pre-activation is the sum of k shifted blocks of Y. On a 2-core AMX CPU
(THUCNews recipe) this runs at about 1.0 TFLOP/s against fp32's 0.24, and 2x the texts/s of
torch's own bf16 convolution under autocast on short titles (docs/BENCHMARKS.md).
"""

from __future__ import annotations

from collections.abc import Callable

from fenlei.errors import FenleiError
from fenlei.registry import Registry

# token positions per GEMM: Y (positions x sum(k) * filters in bf16, ~13 MB for THUCNews's
# recipe) stays near the caches; 2x as many ran 1.5x slower here
CHUNK_POSITIONS = 2560

Bf16Forward = Callable[[object], Callable[[dict], object]]
BF16_FORWARDS: Registry[Bf16Forward] = Registry("bf16 forward", FenleiError)


def native_bf16() -> bool:
    """Whether this CPU multiplies bf16 matrices in hardware (AMX tiles), where bf16 pays."""
    import torch

    try:
        return bool(torch.cpu._is_amx_tile_supported())
    except AttributeError:  # a torch without the probe: assume not
        return False


@BF16_FORWARDS.register("textcnn")
class TextCNNBf16:
    """models/textcnn.py in bf16: the token (and static copy, n-gram) tables, then one GEMM for
    all filter banks, shifted sums, max (and mean) over each text's windows, the model's own head."""

    def __init__(self, model) -> None:
        import torch

        bf = torch.bfloat16
        self.model = model
        p = model.params
        self.sizes, self.filters = tuple(p.filter_sizes), p.num_filters
        self.pad_id = model.pad_id

        def zero_pad_row(table: torch.Tensor, row: int) -> torch.Tensor:
            # padded positions read a zero row, so no mask multiplies the inputs
            out = table.detach().to(bf).clone()
            out[row] = 0
            return out

        self.tables = [zero_pad_row(model.embedding.weight, model.pad_id)]
        if model.static is not None:
            self.tables.append(zero_pad_row(model.static.weight, model.pad_id))
        self.grams = None
        if model.ngram_embedding is not None:
            self.grams = zero_pad_row(model.ngram_embedding.weight, p.ngram_buckets)
        convs = zip(self.sizes, model.convs, strict=True)
        blocks = [conv.weight[:, :, j].T for k, conv in convs for j in range(k)]
        self.weight = torch.cat(blocks, dim=1).detach().to(bf).contiguous()  # [C, sum(k) * F]
        self.biases = [conv.bias.detach().to(bf) for conv in model.convs]
        self.mean = p.pooling == "max_mean"

    def __call__(self, batch: dict):
        import torch

        ids, lengths = batch["input_ids"], batch["lengths"]
        width = len(self.sizes) * self.filters * (1 + self.mean)
        out = torch.empty(ids.shape[0], width, dtype=torch.bfloat16)
        # texts of one length at a time (a length-sorted batch holds a few): no window is padding,
        # so nothing is masked and no padded position is multiplied
        for length in torch.unique(lengths).tolist():
            same = (lengths == length).nonzero().squeeze(1)
            step = max(1, CHUNK_POSITIONS // max(length, 1))
            for rows in same.split(step):
                out[rows] = self._features(ids[rows, :length], lengths[rows], length)
        return self.model.head(out.float())

    def _features(self, ids, lengths, length: int):
        """[N, features] pooled features of N texts that all have ``length`` tokens."""
        import torch
        import torch.nn.functional as F

        n = ids.shape[0]
        if length < max(self.sizes):  # the model's one window over a text shorter than the filter
            ids = F.pad(ids, (0, max(self.sizes) - length), value=self.pad_id)
        parts = [F.embedding(ids, table) for table in self.tables]
        if self.grams is not None:
            grams = F.embedding(self.model.ngram_ids(ids, lengths), self.grams)  # [N, orders, T, D]
            parts.append(grams[:, 0] if grams.shape[1] == 1 else grams.sum(1))
        x = torch.cat(parts, dim=-1) if len(parts) > 1 else parts[0]
        y = (x.reshape(-1, x.shape[-1]) @ self.weight).reshape(n, x.shape[1], -1)
        pooled, means, col, f = [], [], 0, self.filters
        for k, bias in zip(self.sizes, self.biases, strict=True):
            windows = max(length - k + 1, 1)
            h = y[:, :windows, col : col + f]
            for j in range(1, k):  # a window's share from its j-th token (zero rows past the end)
                h = h + y[:, j : j + windows, col + j * f : col + (j + 1) * f]
            col += k * f
            pooled.append(torch.relu(h.amax(1) + bias))  # max then bias: the same, on fewer numbers
            if self.mean:
                means.append(torch.relu(h + bias).sum(1) / windows)
        return torch.cat(pooled + means, dim=-1)
