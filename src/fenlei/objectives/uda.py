"""UDA (Xie et al. 2019): supervised CE with training signal annealing + consistency on unlabelled text.

A UDA batch is a labelled batch with two more entries, ``unsup`` (unlabelled texts) and
``unsup_aug`` (their augmented views, same rows), plus the loop's ``progress`` in [0, 1].
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F

from fenlei.errors import ConfigError
from fenlei.objectives import Context, Needs, ObjectiveParams, UnlabeledViews, register_objective
from fenlei.objectives.supervised import CrossEntropy, supervised_loss

_SUP_KEYS_DROPPED = ("unsup", "unsup_aug", "progress")


def tsa_threshold(schedule: str, progress: float, num_classes: int) -> float:
    """Training signal annealing threshold alpha_t x (1 - 1/K) + 1/K at ``progress`` = t/T.

    linear: alpha_t = t/T; log: 1 - exp(-5 t/T); exp: exp(5 (t/T - 1)); none: 1 (nothing masked).
    """
    t = min(max(progress, 0.0), 1.0)
    alpha = {
        "none": 1.0,
        "linear": t,
        "log": 1.0 - math.exp(-5.0 * t),
        "exp": math.exp(5.0 * (t - 1.0)),
    }[schedule]
    return alpha * (1.0 - 1.0 / num_classes) + 1.0 / num_classes


@dataclass
class UDAParams(ObjectiveParams):
    """Parameters of ``uda`` (until 0.1 the ``uda:`` section, which is still read).

    coeff: weight of the consistency loss.
    unsup_ratio: unlabelled texts per labelled text in each step.
    temperature: sharpens p(x) (softmax of logits / T); 1 = no sharpening.
    confidence: consistency only where max p(x) exceeds this; 0 = everywhere.
    tsa: training signal annealing: none | linear | log | exp.
    ops: how the unlabelled views are made (augmentation ops: tfidf, synonym, insert, swap, delete,
        backtranslate; its settings are augment.language, augment.fallback, augment.translate_threads).
    rate: share of tokens the ops change.
    views: augmented views made per unlabelled text; epoch e uses view e mod views.
    align: distribution alignment (ReMixMatch): rescale p(x) so its batch mean matches the
        labelled class prior before sharpening; stops the targets collapsing onto one class.
    """

    coeff: float = 1.0
    unsup_ratio: int = 3
    temperature: float = 0.4
    confidence: float = 0.8
    tsa: Literal["none", "linear", "log", "exp"] = "linear"
    ops: list[str] = field(default_factory=lambda: ["tfidf"])
    rate: float = 0.3
    views: int = 2
    align: bool = False

    def __post_init__(self) -> None:
        from fenlei.data.augment import check_ops

        for key in ("coeff", "temperature", "confidence", "rate"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"objective.{key} must be a number, got {value!r}")
        for key in ("unsup_ratio", "views"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ConfigError(f"objective.{key} must be > 0, got {value!r}")
        if self.coeff < 0:
            raise ConfigError("objective.coeff must be >= 0")
        if not 0.0 < self.temperature <= 1.0:
            raise ConfigError(f"objective.temperature must be in (0.0, 1.0], got {self.temperature}")
        if not 0.0 <= self.confidence < 1.0:
            raise ConfigError(
                f"objective.confidence must be in [0, 1) (no prediction is more confident than 1), "
                f"got {self.confidence}"
            )
        if self.tsa not in ("none", "linear", "log", "exp"):
            raise ConfigError(f"objective.tsa: {self.tsa!r} is not one of none, linear, log, exp")
        if not isinstance(self.align, bool):
            raise ConfigError(f"objective.align: expected true or false, got {self.align!r}")
        check_ops("objective.ops", self.ops)
        if not 0.0 < self.rate <= 1.0:
            raise ConfigError(f"objective.rate must be in (0.0, 1.0], got {self.rate}")

    def unlabeled_views(self) -> UnlabeledViews:
        """The views of the unlabelled texts this objective trains on."""
        return UnlabeledViews(tuple(self.ops), self.rate, self.views, self.unsup_ratio)


class UDA:
    """sup (TSA-masked CE) + coeff x KL(sharpened p(x) || p(x_aug)) on confident unlabelled texts."""

    def __init__(
        self, ce: CrossEntropy, num_classes: int, uda_cfg: UDAParams, prior: torch.Tensor | None = None
    ) -> None:
        self.ce = ce
        self.num_classes = num_classes
        self.coeff = uda_cfg.coeff
        self.temperature = uda_cfg.temperature
        self.confidence = uda_cfg.confidence
        self.tsa = uda_cfg.tsa
        self.align = getattr(uda_cfg, "align", False)
        # Labelled class frequencies: what the aligned targets' batch mean is pulled towards.
        self.prior = prior if prior is not None else torch.full((num_classes,), 1.0 / num_classes)

    def __call__(self, model: torch.nn.Module, batch: dict) -> dict[str, torch.Tensor]:
        sup = {k: v for k, v in batch.items() if k not in _SUP_KEYS_DROPPED}
        labels = sup["labels"]
        logits = model(sup)
        threshold = tsa_threshold(self.tsa, float(batch.get("progress", 1.0)), self.num_classes)
        losses = self.ce.per_example(logits, labels)
        mask = None
        if self.tsa != "none":
            # Examples the model already gets right with p > threshold stop teaching it, so a few
            # labels are not memorised before the unlabelled signal has shaped the model.
            with torch.no_grad():
                p_true = torch.softmax(logits.float(), -1).gather(1, labels[:, None]).squeeze(1)
                mask = (p_true <= threshold).float()
        sup_loss = self.ce.reduce(losses, labels, mask)
        out = {
            "logits": logits,
            "sup": sup_loss,
            "tsa_threshold": torch.tensor(threshold),
            "tsa_masked": torch.tensor(0.0) if mask is None else 1.0 - mask.mean(),
        }
        if not self.coeff or "unsup" not in batch:
            # coeff 0 skips the unlabelled passes entirely: the run equals supervised training.
            out["loss"] = sup_loss
            return out
        with torch.no_grad():
            p_ori = torch.softmax(model(batch["unsup"]).float(), -1)
            if self.align:
                p_ori = p_ori * (self.prior.to(p_ori.device) / p_ori.mean(0).clamp(min=1e-6))
                p_ori = p_ori / p_ori.sum(-1, keepdim=True)
            # softmax(logits / T) == p^(1/T) renormalised, so sharpening works on aligned p too.
            p_sharp = torch.softmax(torch.log(p_ori.clamp(min=1e-12)) / self.temperature, -1)
            keep = (p_ori.amax(-1) > self.confidence).float()
        log_aug = F.log_softmax(model(batch["unsup_aug"]).float(), -1)
        kl = (p_sharp * (torch.log(p_sharp.clamp(min=1e-12)) - log_aug)).sum(-1)
        unsup = (kl * keep).mean()  # masked rows count as zero, as in the UDA code
        out.update(loss=sup_loss + self.coeff * unsup, unsup=unsup, unsup_kept=keep.mean())
        return out


@register_objective("uda", UDAParams, Needs(unlabeled=True, streaming=False))
def _uda(cfg, params: UDAParams, ctx: Context) -> UDA:
    """UDA (Xie et al. 2019): consistency between unlabelled texts and their augmented views."""
    k = ctx.num_classes
    counts = torch.bincount(torch.as_tensor(list(ctx.train_label_ids), dtype=torch.long), minlength=k)
    prior = (counts.float() + 1.0) / (counts.sum() + k)  # add-one: no class gets zero mass
    ce = supervised_loss(cfg, ctx.train_label_ids, k)
    return UDA(ce, k, params, prior=prior)
