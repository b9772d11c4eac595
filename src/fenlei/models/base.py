"""What every model shares: the base class, the embedding layer and weight initialisation.

Contract (DESIGN.md §3): ``forward(batch) -> logits [B, C]``; no loss inside models.
A batch is a dict of tensors: ``input_ids`` [B, T] (padded with ``pad_id``),
``lengths`` [B] (true lengths, >= 1), and optionally ``labels`` [B]. A family that
``reads_windows`` may also get ``windows`` [B]: then ``input_ids`` has one row per window
(data/windows.py) and ``forward`` still returns one row of logits per text.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from fenlei.data.ngram_hash import ORDER_PRIME, POSITION_PRIMES
from fenlei.errors import ModelError


@dataclass
class ModelParams:
    """Base for each family's typed hyper-parameters (one dataclass per family)."""


class TextModel(nn.Module):
    """Base class of every registered model; subclasses set ``params_class`` and ``tokenizer_kinds``."""

    params_class: ClassVar[type[ModelParams]] = ModelParams
    tokenizer_kinds: ClassVar[tuple[str, ...]] = ("word", "char", "jieba")
    # Inference batch when train.eval_batch_size is 0: large for the cheap classic models.
    eval_batch_size: ClassVar[int] = 256
    # train.batch_size auto: this, made smaller for a small train set (training/auto_defaults.py)
    batch_size: ClassVar[int] = 64
    # padded tokens one forward/backward may hold; a larger batch is split into micro-batches
    # with gradient accumulation (training/auto_defaults.py micro_batches); None = no bound
    batch_tokens: ClassVar[int | None] = None
    # DDP must look for parameters a step leaves without gradient (costs a graph walk per step).
    ddp_find_unused: ClassVar[bool] = False
    closed_form: ClassVar[bool] = False  # fitted by its own ``fit`` (tfidf), not by the training loop
    takes_vectors: ClassVar[bool] = True  # builds an embedding table that model.vectors can fill
    # data.max_length auto: at most this many tokens (a whole IMDb review, not a 5 MB log file)
    length_bound: ClassVar[int] = 2048
    # takes data.window: forward pools the logits of a document's windows (``windows`` in the batch)
    reads_windows: ClassVar[bool] = False
    pretrained_weights: ClassVar[bool] = False  # starts from pretrained weights (no model.init, no vectors)
    encoder_type: ClassVar[str] = "vocab"  # vocab (fenlei tokenizer + vocabulary) | hf (the model's own)
    # fenlei auto: this family's place among the candidates, cheapest first; None = not a candidate
    auto_rank: ClassVar[int | None] = None
    default_lr: ClassVar[float] = 1e-3  # train.lr auto: the peak rate for this family
    # fenlei auto starts it from pretrained word vectors when the language has packaged ones: at
    # its defaults on SST-2, GloVe 50d took TextCNN's dev accuracy from 0.685 to 0.769, TextRNN's
    # from 0.730 to 0.809
    auto_word_vectors: ClassVar[bool] = False

    def __init__(
        self,
        params: ModelParams,
        vocab_size: int,
        num_classes: int,
        *,
        embed_dim: int = 128,
        pad_id: int = 0,
        embeddings: np.ndarray | None = None,
        freeze_embeddings: bool = False,
    ) -> None:
        super().__init__()
        self.params = params
        self.num_classes = num_classes
        self.pad_id = pad_id
        self.embedding = make_embedding(vocab_size, embed_dim, pad_id, embeddings, freeze_embeddings)
        self.embed_dim = self.embedding.embedding_dim

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    tiny: ClassVar[dict] = {}  # parameters of a tiny model of the family, for tests

    @classmethod
    def tiny_params(cls, workdir: Path) -> dict:
        """Parameters of a tiny model of this family (tests build every family from these);
        ``workdir`` is where a pretrained family may write a tiny random checkpoint."""
        return dict(cls.tiny)

    @classmethod
    def encoder_source(cls, params: dict) -> Any:
        """What this family's encoder is built from (data/encoders.py); vocabulary encoders need nothing."""
        return None

    @classmethod
    def auto_sets(cls, language: str) -> list[str]:
        """``--set`` items ``fenlei auto`` adds for data in ``language`` (e.g. which encoder): the
        packaged GloVe for English where the family starts from word vectors (``auto_word_vectors``)."""
        import importlib.util

        from fenlei.data.vectors import PACKAGED

        if cls.auto_word_vectors and language == "en" and importlib.util.find_spec(PACKAGED["glove-6b-50d"]):
            return ["model.vectors=glove-6b-50d"]
        return []

    @classmethod
    def check_config(cls, cfg, custom_loss: bool, streamed: bool) -> None:
        """Raise ConfigError for settings this family cannot train with (``custom_loss``: an
        objective or adversarial training beyond the task's default); may settle ``auto`` params."""
        return None

    @classmethod
    def refits(cls, params: dict) -> bool:
        """Whether ``train.refit`` can fit this family once more on train + dev (its own ``fit``
        does not read dev, so the second fit is the first one on more data)."""
        return False

    @property
    def fits_itself(self) -> bool:
        """Trained by its own ``fit`` (closed form, or a family's native solver), not the loop."""
        return self.closed_form

    @classmethod
    def fill_from_data(cls, params: dict, ngrams) -> dict:
        """``params`` with any ``auto`` value made a number from the train data; ``ngrams`` counts
        its distinct n-grams (training/auto_defaults.py NgramCounter)."""
        return params

    @classmethod
    def saved_params(cls, params: dict, run_dir: Path) -> dict:
        """The params that rebuild a saved run's model (a pretrained family points at the run's copy)."""
        return params

    def save_run_files(self, run_dir: Path, label_names: list[str]) -> None:
        """Files besides model.safetensors a run directory keeps (a Hugging Face folder ...)."""
        return None

    def input_embeddings(self) -> list[nn.Module]:
        """The layers that embed the input (adversarial training perturbs their outputs)."""
        return embedding_modules(self)

    # ------------------------------------------------------------------ explanations
    # how inference/explain.py attributes this family: "gradients" (integrated gradients over
    # attribution_layers), "linear" (weight x feature, exact); None = cannot be attributed
    explainer: ClassVar[str | None] = "gradients"

    def attribution_layers(self) -> list[nn.Module]:
        """The layers whose outputs integrated gradients interpolate (each called once per forward)."""
        return self.input_embeddings()

    def token_contributions(self, layer: nn.Module, path: LayerPath, width: int) -> torch.Tensor:
        """[R, width] the share of each input position in ``layer``'s attribution; by default the
        layer's output has one vector per position ([R, T, D])."""
        return ((path.output - path.base_output) * path.grad).sum(-1)[:, :width]


@dataclass
class LayerPath:
    """One attribution layer along the integrated-gradients path: its input and output for the
    text and for the baseline, and the gradient averaged along the path (same shape as output)."""

    input: torch.Tensor
    base_input: torch.Tensor
    output: torch.Tensor
    base_output: torch.Tensor
    grad: torch.Tensor


def spread_ngrams(scores: torch.Tensor, n: int, width: int) -> torch.Tensor:
    """[R, width] token shares of the n-grams starting at each position (``scores`` [R, P]):
    each n-gram's score split evenly over its ``n`` tokens."""
    out = scores.new_zeros(scores.shape[0], width + n + scores.shape[1])
    for k in range(n):
        out[:, k : k + scores.shape[1]] += scores / n
    return out[:, :width]


def embedding_modules(module: nn.Module) -> list[nn.Module]:
    """Every ``nn.Embedding`` / ``nn.EmbeddingBag`` inside ``module``, in registration order."""
    return [m for m in module.modules() if isinstance(m, (nn.Embedding, nn.EmbeddingBag))]


def make_embedding(
    vocab_size: int,
    dim: int,
    pad_id: int,
    vectors: np.ndarray | None = None,
    freeze: bool = False,
) -> nn.Embedding:
    """An embedding table, filled from ``vectors`` (rows aligned to the vocab) when given."""
    if vectors is not None:
        if vectors.shape[0] != vocab_size:
            raise ModelError(
                f"pretrained vectors have {vectors.shape[0]} rows but the vocabulary has {vocab_size}"
            )
        dim = int(vectors.shape[1])
    emb = nn.Embedding(vocab_size, dim, padding_idx=pad_id)
    if vectors is not None:
        with torch.no_grad():
            emb.weight.copy_(torch.as_tensor(vectors, dtype=torch.float32))
            emb.weight[pad_id].zero_()
    emb.weight.requires_grad_(not freeze)
    return emb


INIT_SCHEMES = ("default", "xavier", "kaiming", "normal")


def init_weights(model: nn.Module, scheme: str = "default", std: float = 0.02) -> None:
    """Re-initialise Linear/Conv/RNN weights by ``scheme``; embeddings keep their values."""
    if scheme not in INIT_SCHEMES:
        raise ModelError(f"model.init: unknown scheme {scheme!r}; choose one of {', '.join(INIT_SCHEMES)}")
    if scheme == "default":
        return
    for module in model.modules():
        if isinstance(module, (nn.Embedding, nn.EmbeddingBag)):
            continue  # pretrained or not, embeddings are left alone
        for name, p in module.named_parameters(recurse=False):
            if "weight" in name and p.dim() >= 2:
                if scheme == "xavier":
                    nn.init.xavier_uniform_(p)
                elif scheme == "kaiming":
                    nn.init.kaiming_uniform_(p, nonlinearity="relu")
                else:
                    nn.init.normal_(p, 0.0, std)
            elif "bias" in name:
                nn.init.zeros_(p)


def length_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """``[B, max_len]`` bool mask, True at real tokens (positions before each length)."""
    return torch.arange(max_len, device=lengths.device).unsqueeze(0) < lengths.unsqueeze(1)


def check_int(key: str, value: object, minimum: int = 1) -> None:
    """Raise ModelError naming ``model.<key>`` unless ``value`` is an integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        bound = "> 0" if minimum == 1 else f">= {minimum}"
        raise ModelError(f"model.{key} must be an integer {bound}, got {value!r}")


# Hashed n-gram tables at "auto": one bucket per distinct train n-gram (rounded up to a power of
# two), at least 2**14 and at most 2**16 rows. The table is dense and updated whole each step:
# on MR (100k distinct bigrams) 2**17 buckets trained 3x slower than 50,000 and scored 0.754
# against 0.757. Unknown (a streamed corpus, large by definition): the most.
NGRAM_BUCKETS_MIN, NGRAM_BUCKETS_MAX = 1 << 14, 1 << 16


def auto_buckets(distinct: int | None, most: int = NGRAM_BUCKETS_MAX) -> int:
    """Rows of a hashed n-gram table for ``distinct`` train n-grams, at most ``most`` (see
    NGRAM_BUCKETS_MAX)."""
    if distinct is None:
        return most
    size = 1 << max(int(distinct) - 1, 1).bit_length()
    return min(max(size, NGRAM_BUCKETS_MIN), most)


def fill_buckets(params: dict, key: str, ngrams, most: int = NGRAM_BUCKETS_MAX) -> dict:
    """``params`` with ``params[key]`` made a number when it is auto: from the distinct 2- to
    ``params["ngrams"]``-grams of train, at most ``most`` (no n-grams: the minimum, an unused table)."""
    if params.get(key) != "auto":
        return params
    counts = [ngrams.distinct(n) for n in range(2, int(params.get("ngrams", 1)) + 1)]
    distinct = None if None in counts else sum(counts)
    return {**params, key: auto_buckets(distinct, most) if counts else NGRAM_BUCKETS_MIN}


def check_buckets(key: str, value: object) -> None:
    """``auto`` or an integer > 0."""
    if value != "auto":
        check_int(key, value)


def check_dropout(key: str, value: object) -> None:
    """Raise ModelError naming ``model.<key>`` unless ``value`` is a probability in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ModelError(f"model.{key} must be a number in [0, 1), got {value!r}")


def check_choice(key: str, value: object, choices: tuple[str, ...]) -> None:
    """Raise ModelError naming ``model.<key>`` unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ModelError(f"model.{key} must be one of {', '.join(choices)}, got {value!r}")


# Hashing of token n-grams into buckets: data/ngram_hash.py holds the primes (shared with numpy).


def hashed_ngrams(ids: torch.Tensor, lengths: torch.Tensor, n: int, width: int, buckets: int) -> torch.Tensor:
    """``[B, width]`` bucket ids of the n-grams starting at positions 0..width-1 of ``ids`` (which holds
    at least ``width + n - 1`` columns); an n-gram running past its text's length gets ``buckets``,
    the padding row."""
    h = torch.full_like(ids[:, :width], n * ORDER_PRIME)
    for k in range(n):
        h = h + ids[:, k : k + width] * POSITION_PRIMES[k]
    positions = torch.arange(width, device=ids.device).unsqueeze(0)
    valid = positions + n <= lengths.unsqueeze(1)
    return torch.where(valid, h % buckets, torch.full_like(h, buckets))
