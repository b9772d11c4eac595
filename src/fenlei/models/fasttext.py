"""fastText-style classifier: the mean of word and hashed word n-gram embeddings (Joulin et al. 2017)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from fenlei.errors import ModelError
from fenlei.models import register_model
from fenlei.models.base import (
    NGRAM_BUCKETS_MAX,
    LayerPath,
    ModelParams,
    TextModel,
    check_buckets,
    check_choice,
    check_dropout,
    check_int,
    fill_buckets,
    hashed_ngrams,
    spread_ngrams,
)
from fenlei.tuning.space import Choice, Float, Int

SOLVERS = ("auto", "sgd", "adagrad", "loop")
POOLINGS = ("auto", "joint", "split")
NATIVE_SOLVERS = ("sgd", "adagrad")  # trained by models/fasttext_sgd.py, not the loop
# The official tool's table: on IMDb (1.6M distinct bigrams) 2**21 rows scored 0.8990 against
# 0.8980 / 0.8961 for 2**18 / 2**16 (prototype, joint pooling); costs memory (400 bytes a row), not time.
NATIVE_BUCKETS_MAX = 1 << 21


def wants_joint(pooling: str, solver: str, ngram_dim: int | None, embed_dim: int) -> bool:
    """Whether ``pooling`` (auto: joint for a native solver where the n-gram size allows) is joint."""
    if pooling == "auto":
        return solver in NATIVE_SOLVERS and ngram_dim in (None, embed_dim)
    return pooling == "joint"


@dataclass
class FastTextParams(ModelParams):
    """Parameters of ``fasttext``.

    ngrams: longest word n-gram used (1 = words only, 2 = + bigrams, 3 = + trigrams).
    buckets: size of the hashed n-gram embedding table; auto = one row per distinct train
        n-gram, between 2**14 and 2**16 (models/base.py auto_buckets), up to 2**21 for sgd / adagrad.
    ngram_dim: n-gram embedding size; null means the word embedding size.
    hidden: width of one ReLU hidden layer before the output; 0 = linear classifier.
    dropout: dropout on the pooled features (and the hidden layer).
    sparse: the word and n-gram tables take sparse gradients, so a step updates only the rows
        its batch touched (training/optim.py); false for dense gradients (e.g. weight decay on them).
    bias: the linear output has a bias; false gives fastText's own output layer, no bias and zero
        at the start, which plain SGD at fastText's large rate needs (a bias swings whole batches
        from one class to another).
    solver: sgd = fastText's own training (per-text SGD, rate decaying linearly to 0; compiled,
        models/fasttext_sgd.py); adagrad = the same with a rate per row that shrinks as the row is
        updated (better where rare tokens decide, e.g. Chinese titles); loop = fenlei's training
        loop (any objective, dropout, hidden layer, streaming; the default for now: resume points,
        early stopping and fenlei tune's trial budget are the loop's); auto = sgd where the config
        allows, else loop.
    sgd_lr: the starting rate of sgd / adagrad (train.lr is the loop's).
    pooling: joint = one mean over the word and n-gram vectors together (fastText's own model;
        needs ngram_dim = the word size), split = the mean word vector beside the mean n-gram
        vector; auto = joint for sgd / adagrad, split for the loop (its recipes were tuned so).
    """

    ngrams: int = 2
    buckets: int | str = "auto"
    ngram_dim: int | None = None
    hidden: int = 0
    dropout: float = 0.0
    sparse: bool = False
    bias: bool = True
    solver: str = "loop"
    sgd_lr: float = 0.1
    pooling: str = "auto"
    search_space: ClassVar[dict] = {
        "train.lr": Float(1e-3, 5e-2, log=True),
        "train.epochs": Int(2, 20),
        "ngrams": Choice(1, 2, 3),
        "model.embed_dim": Choice(50, 100, 200),
        "dropout": Float(0.0, 0.5),
    }

    def __post_init__(self) -> None:
        check_int("ngrams", self.ngrams)
        if self.ngrams > 3:
            raise ModelError(f"model.ngrams must be 1, 2 or 3, got {self.ngrams!r}")
        check_buckets("buckets", self.buckets)
        if self.ngram_dim is not None:
            check_int("ngram_dim", self.ngram_dim)
        check_int("hidden", self.hidden, minimum=0)
        check_dropout("dropout", self.dropout)
        check_choice("solver", self.solver, SOLVERS)
        check_choice("pooling", self.pooling, POOLINGS)
        if isinstance(self.sgd_lr, bool) or not isinstance(self.sgd_lr, (int, float)) or self.sgd_lr <= 0:
            raise ModelError(f"model.sgd_lr must be a number > 0, got {self.sgd_lr!r}")


@register_model("fasttext")
class FastText(TextModel):
    """Bag of words and hashed n-grams, averaged, then a linear (or one-hidden-layer) classifier."""

    params_class = FastTextParams
    auto_rank = 1
    tiny = {
        "ngrams": 2,
        "buckets": 1000,
        "ngram_dim": 8,
        "hidden": 0,
        "dropout": 0.1,
    }

    @classmethod
    def check_config(cls, cfg, custom_loss: bool, streamed: bool) -> None:
        """solver auto: sgd unless something only the loop trains is asked for (then loop)."""
        from fenlei.models.fasttext_fit import settle_solver

        settle_solver(cfg, custom_loss, streamed)

    @classmethod
    def refits(cls, params: dict) -> bool:
        return params.get("solver") in NATIVE_SOLVERS

    @property
    def fits_itself(self) -> bool:
        return self.params.solver in NATIVE_SOLVERS

    @property
    def joint(self) -> bool:
        """One mean over word and n-gram rows (pooling joint, or auto with a native solver)."""
        p = self.params
        return self.ngram_bag is not None and wants_joint(p.pooling, p.solver, p.ngram_dim, self.embed_dim)

    def fit(
        self, encoder, train_texts, train_ids, dev_texts, dev_ids, task, metric, train_cfg, report, train_seqs
    ):
        """solver sgd / adagrad: fastText's own training, in place, on ``train_seqs`` (the train
        texts' ids, encoded once by the pipeline; models/fasttext_fit.py)."""
        from fenlei.models.fasttext_fit import fit_sgd

        return fit_sgd(self, train_seqs, train_ids, task, train_cfg, report)

    @classmethod
    def fill_from_data(cls, params: dict, ngrams) -> dict:
        """buckets auto: from the distinct word n-grams of train, up to ``ngrams``-grams; for the
        native solvers up to fastText's own 2**21, since a step touches only its text's rows."""
        native = params.get("solver") in NATIVE_SOLVERS
        return fill_buckets(params, "buckets", ngrams, NATIVE_BUCKETS_MAX if native else NGRAM_BUCKETS_MAX)

    def __init__(self, params: FastTextParams, vocab_size: int, num_classes: int, **kw) -> None:
        super().__init__(params, vocab_size, num_classes, **kw)
        if kw.get("embeddings") is None:
            # fastText's own init for the input vectors: with N(0, 1) rows the linear layer
            # memorises random word features at once and SST-2 accuracy drops by ~5 points.
            with torch.no_grad():
                self.embedding.weight.uniform_(-1.0 / self.embed_dim, 1.0 / self.embed_dim)
                self.embedding.weight[self.pad_id].zero_()
        self.embedding.sparse = params.sparse
        features = self.embed_dim
        self.ngram_bag: nn.EmbeddingBag | None = None
        if params.ngrams > 1:
            dim = params.ngram_dim or self.embed_dim
            joint = wants_joint(params.pooling, params.solver, params.ngram_dim, self.embed_dim)
            if joint and dim != self.embed_dim:
                raise ModelError(
                    f"model.pooling joint averages word and n-gram vectors together, so model.ngram_dim "
                    f"({dim}) must equal model.embed_dim ({self.embed_dim}); drop ngram_dim or set "
                    "model.pooling=split"
                )
            # Row ``buckets`` is padding: n-grams running past a text's end point there and
            # EmbeddingBag leaves them out (joint: of the sum that forward divides by the count).
            self.ngram_bag = nn.EmbeddingBag(
                params.buckets + 1,
                dim,
                mode="sum" if joint else "mean",
                padding_idx=params.buckets,
                sparse=params.sparse,
            )
            with torch.no_grad():
                self.ngram_bag.weight.uniform_(-1.0 / dim, 1.0 / dim)
                self.ngram_bag.weight[params.buckets].zero_()
            features += 0 if joint else dim
        self.dropout = nn.Dropout(params.dropout)
        if params.hidden:
            self.classifier = nn.Sequential(
                nn.Linear(features, params.hidden),
                nn.ReLU(),
                nn.Dropout(params.dropout),
                nn.Linear(params.hidden, num_classes),
            )
        else:
            self.classifier = nn.Linear(features, num_classes, bias=params.bias)
            if not params.bias:
                nn.init.zeros_(self.classifier.weight)

    def ngram_ids(self, input_ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``[B, N]`` bucket ids of every 2..ngrams-gram; those past a text's end are the padding row."""
        n_max, buckets = self.params.ngrams, self.params.buckets
        if input_ids.shape[1] < n_max:  # so each order has at least one (padding) slot
            input_ids = F.pad(input_ids, (0, n_max - input_ids.shape[1]), value=self.pad_id)
        t = input_ids.shape[1]
        grams = [hashed_ngrams(input_ids, lengths, n, t - n + 1, buckets) for n in range(2, n_max + 1)]
        return torch.cat(grams, dim=1)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        ids, lengths = batch["input_ids"], batch["lengths"]
        # The padding row is zero and never trained, so padded positions add nothing to the sum.
        summed = self.embedding(ids).sum(1)
        count = lengths.unsqueeze(1).to(summed.dtype)
        if self.ngram_bag is None:
            features = summed / count
        elif self.joint:  # fastText's one mean: (word rows + n-gram rows) / how many there are
            grams = self.ngram_ids(ids, lengths)
            count = count + (grams != self.params.buckets).sum(1, keepdim=True).to(summed.dtype)
            features = (summed + self.ngram_bag(grams)) / count
        else:
            features = torch.cat([summed / count, self.ngram_bag(self.ngram_ids(ids, lengths))], dim=-1)
        return self.classifier(self.dropout(features))

    def token_contributions(self, layer: nn.Module, path: LayerPath, width: int) -> torch.Tensor:
        """The n-gram bag's mean (joint: sum) splits exactly over its n-grams: each one's (row -
        baseline row) / count (joint: / 1), dotted with the path gradient of the bag, then over
        its n tokens."""
        if layer is not self.ngram_bag:
            return super().token_contributions(layer, path, width)
        pad = self.params.buckets
        weight = layer.weight
        count = 1 if self.joint else (path.input != pad).sum(1, keepdim=True).clamp(min=1)
        rows = F.embedding(path.input, weight) - F.embedding(path.base_input, weight)
        per_gram = (rows * path.grad.unsqueeze(1)).sum(-1) / count  # [R, N]
        t = max(width, self.params.ngrams)  # ngram_ids pads a batch narrower than the longest order
        out, start = per_gram.new_zeros(per_gram.shape[0], width), 0
        for n in range(2, self.params.ngrams + 1):  # ngram_ids: each order's t - n + 1 starts in turn
            out += spread_ngrams(per_gram[:, start : start + t - n + 1], n, width)
            start += t - n + 1
        return out
