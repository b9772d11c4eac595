"""TF-IDF + a linear classifier, fitted in closed form by scikit-learn (the NBSVM-style baseline).

Word 1-2-grams (character 1-3-grams for Chinese), sublinear tf, L2-normalised rows, then
logistic regression (or a linear SVM whose scores are calibrated into probabilities on dev);
multi-label is one-vs-rest. The regularisation C is chosen on dev from a small grid unless
given. The fitted model is a plain torch module (idf, weights, bias; safetensors like every
family), so the Predictor, evaluation, the server and the Python API run it as they run the
others; its forward rebuilds scikit-learn's TF-IDF vector from the encoder's feature ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from fenlei.errors import ModelError
from fenlei.evaluation.metrics import is_better
from fenlei.models import register_model
from fenlei.models.base import ModelParams, TextModel, check_choice, check_int, length_mask
from fenlei.tuning.space import Choice, Float, Int

# C candidates tried on dev, in this order, when model.C is empty: TF-IDF features want far less
# regularisation than scikit-learn's default C=1 on long documents (IMDb's dev accuracy still
# rose at 32), more on short sentences. The search stops at the first C that scores below the
# best so far (dev scores rise, then fall, along C).
C_GRID = (0.5, 2.0, 8.0, 32.0, 128.0)


@dataclass
class TfidfParams(ModelParams):
    """Parameters of ``tfidf``.

    analyzer: auto (characters for Chinese, words otherwise; tokenizer.kind word|char decides
        too) | word | char.
    word_ngrams: n-gram lengths of the word analyzer, [low, high].
    char_ngrams: n-gram lengths of the character analyzer, [low, high].
    min_df: drop n-grams seen in fewer training texts.
    max_features: keep the most frequent n-grams only; null = all.
    sublinear_tf: 1 + log(tf) instead of the raw count.
    classifier: logreg (logistic regression) | svm (linear SVM, scores calibrated on dev).
    C: inverse regularisation strength; null = chosen on dev from C_GRID by train.metric.
    nb: NB feature scaling (NBSVM; Wang & Manning 2012) for binary decisions (two classes, or
        each label of a multi-label task); more classes ignore it. IMDb: 0.913 with it, 0.908 without.
    """

    analyzer: str = "auto"
    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] = (1, 3)
    min_df: int = 1
    max_features: int | None = None
    sublinear_tf: bool = True
    classifier: str = "logreg"
    C: float | None = None
    nb: bool = True
    search_space: ClassVar[dict] = {  # closed form: no train.lr or train.epochs to tune
        "word_ngrams": Choice([1, 1], [1, 2], [1, 3]),
        "min_df": Int(1, 3),
        "sublinear_tf": Choice(True, False),
        "nb": Choice(True, False),
        "C": Float(0.1, 100.0, log=True),
    }

    def __post_init__(self) -> None:
        check_choice("analyzer", self.analyzer, ("auto", "word", "char"))
        for key in ("word_ngrams", "char_ngrams"):
            value = tuple(getattr(self, key)) if isinstance(getattr(self, key), (list, tuple)) else None
            if not value or len(value) != 2 or not all(isinstance(v, int) and v >= 1 for v in value):
                raise ModelError(
                    f"model.{key} must be [low, high] with 1 <= low <= high, got {getattr(self, key)!r}"
                )
            if value[0] > value[1]:
                raise ModelError(f"model.{key} must be [low, high] with low <= high, got {list(value)}")
            setattr(self, key, value)
        check_int("min_df", self.min_df)
        if self.max_features is not None:
            check_int("max_features", self.max_features)
        check_choice("classifier", self.classifier, ("logreg", "svm"))
        if self.C is not None and (
            isinstance(self.C, bool) or not isinstance(self.C, (int, float)) or self.C <= 0
        ):
            raise ModelError(f"model.C must be a number > 0 (or null: chosen on dev), got {self.C!r}")


@register_model("tfidf")
class Tfidf(TextModel):
    """Sublinear TF-IDF features and one linear layer (weights and bias from scikit-learn)."""

    params_class = TfidfParams
    auto_rank = 0
    tiny = {"C": 4.0}
    tokenizer_kinds: ClassVar[tuple[str, ...]] = ("word", "char")
    encoder_type: ClassVar[str] = "tfidf"
    closed_form: ClassVar[bool] = True  # fitted by ``fit``, not by the training loop
    explainer: ClassVar[str | None] = "linear"  # weight x feature: exact
    takes_vectors: ClassVar[bool] = False  # n-gram features, no embedding table

    def __init__(self, params: TfidfParams, vocab_size: int, num_classes: int, **_ignored) -> None:
        nn.Module.__init__(self)
        self.params = params
        self.num_classes = num_classes
        self.vocab_size = vocab_size  # the n-grams plus one "no feature" id
        self.weight = nn.Parameter(torch.zeros(vocab_size, num_classes))
        self.bias = nn.Parameter(torch.zeros(num_classes))
        self.register_buffer("idf", torch.ones(vocab_size))  # plain tf until ``fit`` sets it

    @classmethod
    def encoder_source(cls, params: dict) -> dict:
        """The TF-IDF settings the encoder is fitted with."""
        keys = ("analyzer", "word_ngrams", "char_ngrams", "min_df", "max_features", "sublinear_tf")
        return {k: params[k] for k in keys}

    def input_embeddings(self) -> list[nn.Module]:
        """No embedding layer: adversarial training has nothing to perturb."""
        return []

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        ids = batch["input_ids"]
        b, t = ids.shape
        mask = length_mask(batch["lengths"].to(ids.device), t)
        # Sorted within each text (padding last), equal (text, n-gram) pairs are neighbours, and
        # one unique_consecutive counts every n-gram of every text at once. The encoder sorts
        # already; sorting again makes any id order give the same vector.
        ids, order = ids.masked_fill(~mask, self.vocab_size).sort(dim=1)
        mask = mask.gather(1, order)
        rows = torch.arange(b, device=ids.device).unsqueeze(1).expand(b, t)[mask]
        keys, counts = torch.unique_consecutive(rows * self.vocab_size + ids[mask], return_counts=True)
        row, feat = keys // self.vocab_size, keys % self.vocab_size
        tf = counts.to(self.idf.dtype)
        tf = 1.0 + torch.log(tf) if self.params.sublinear_tf else tf
        value = tf * self.idf[feat]
        norm = torch.zeros(b, dtype=value.dtype, device=ids.device).index_add_(0, row, value * value).sqrt()
        value = value / norm.clamp(min=1e-12)[row]
        out = torch.zeros(b, self.num_classes, dtype=value.dtype, device=ids.device)
        return out.index_add_(0, row, value.unsqueeze(1) * self.weight[feat]) + self.bias

    # ------------------------------------------------------------------ the closed-form fit
    def fit(
        self,
        encoder,
        train_texts,
        train_ids,
        dev_texts,
        dev_ids,
        task,
        metric: str,
        train_cfg=None,
        report=None,
        train_seqs=None,
    ) -> dict:
        """Fit on train (C chosen on dev unless given) and take scikit-learn's weights; returns
        what was chosen, for metrics.json."""
        x_train, x_dev = encoder.matrix(train_texts), encoder.matrix(dev_texts)
        y_train, y_dev = np.asarray(train_ids), np.asarray(dev_ids)
        grid = [self.params.C] if self.params.C is not None else list(C_GRID)
        names = [str(i) for i in range(self.num_classes)]
        tried: dict[str, float] = {}
        best = None
        warm: dict = {}  # each C of the grid starts from the previous fit
        for c in grid:
            weight, bias = self._solve(x_train, y_train, x_dev, y_dev, c, task, warm)
            probs = task.probabilities(torch.from_numpy(x_dev @ weight + bias)).numpy()
            score = float(task.score(y_dev, probs, names).get(metric) or 0.0)
            tried[f"{c:g}"] = score
            if best is not None and is_better(metric, best[0], score):
                break  # past the peak
            if best is None or is_better(metric, score, best[0]):
                best = (score, c, weight, bias)
        _, c, weight, bias = best
        with torch.no_grad():
            self.idf.zero_()
            self.idf[: len(encoder.idf)] = torch.from_numpy(encoder.idf).to(self.idf.dtype)
            self.weight.zero_()
            self.weight[: weight.shape[0]] = torch.from_numpy(weight).to(self.weight.dtype)
            self.bias.copy_(torch.from_numpy(bias).to(self.bias.dtype))
        return {
            "C": c,
            "dev_by_C": tried,
            "features": int(len(encoder.idf)),
            "classifier": self.params.classifier,
        }

    def _solve(
        self, x_train, y_train, x_dev, y_dev, c: float, task, warm: dict
    ) -> tuple[np.ndarray, np.ndarray]:
        """Weights [V, C] and bias [C] of logits = x @ W + b for this task and classifier."""
        from fenlei.models.tfidf_solvers import linear_solution

        p, k = self.params, self.num_classes
        return linear_solution(p.classifier, x_train, y_train, x_dev, y_dev, c, k, task.name, warm, p.nb)
