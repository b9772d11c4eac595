"""Knowledge distillation (Hinton et al. 2015): a small model learns a trained model's probabilities.

loss = (1 - alpha) x CE(labels) + alpha x T^2 x KL(teacher_T || student_T), where ``_T`` means
softened at temperature T. The teacher is any finished fenlei run (a fine-tuned transformer,
typically); it labels every training text once, augmented copies included, before training
(the transfer set of Tang et al. 2019), and the objective looks its rows up by batch index.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from fenlei.data.labels import LabelMap
from fenlei.errors import ConfigError
from fenlei.objectives import OBJECTIVES
from fenlei.objectives.supervised import CrossEntropy, supervised_loss


def teacher_probabilities(
    teacher_dir: str, texts: Sequence[str], labels: LabelMap, device: str = "cpu"
) -> np.ndarray:
    """The teacher run's probabilities for ``texts`` [N, K], columns in ``labels``' order."""
    from fenlei.inference.predictor import Predictor

    teacher = Predictor(teacher_dir, device=device)
    if teacher.multi_label:
        raise ConfigError(
            f"objective.teacher {teacher_dir} is a multi-label run; distill needs a single-label teacher"
        )
    names = teacher.label_names
    missing = sorted(set(labels.names) - set(names))
    extra = sorted(set(names) - set(labels.names))
    if missing or extra:
        raise ConfigError(
            f"objective.teacher {teacher_dir} was trained on other labels (missing {missing or 'none'}, "
            f"extra {extra or 'none'}); train the teacher on the same label set"
        )
    probs = teacher.predict_proba(texts)
    return probs[:, [names.index(name) for name in labels.names]]


class Distill:
    """Cross-entropy on the labels blended with the KL to the teacher's softened probabilities."""

    def __init__(self, ce: CrossEntropy, teacher_probs: np.ndarray, alpha: float, temperature: float) -> None:
        self.ce = ce
        self.alpha = alpha
        self.temperature = temperature
        # Soften once: softmax(log p / T) is the teacher's logits divided by T, up to a constant.
        log_p = torch.from_numpy(np.log(np.clip(teacher_probs, 1e-12, 1.0)).astype(np.float32))
        self.targets = torch.log_softmax(log_p / temperature, -1)

    def __call__(self, model: torch.nn.Module, batch: dict) -> dict[str, torch.Tensor]:
        logits = model(batch)
        ce = self.ce.loss(logits, batch["labels"])
        target = self.targets[batch["index"].cpu()].to(logits.device)
        student = F.log_softmax(logits.float() / self.temperature, -1)
        # T^2 keeps the soft part's gradient scale independent of T (Hinton et al. 2015)
        kd = F.kl_div(student, target, log_target=True, reduction="batchmean") * self.temperature**2
        return {"loss": (1.0 - self.alpha) * ce + self.alpha * kd, "logits": logits, "ce": ce, "kd": kd}


@OBJECTIVES.register("distill")
def _distill(cfg, train_label_ids: Sequence[int], num_classes: int, teacher=None, **_) -> Distill:
    if teacher is None:
        raise ConfigError(
            "objective distill needs the teacher's probabilities; train it through fenlei train"
        )
    if len(teacher) != len(train_label_ids):
        raise ConfigError(f"the teacher labelled {len(teacher)} texts but train has {len(train_label_ids)}")
    ce = supervised_loss(cfg, train_label_ids, num_classes)
    return Distill(ce, teacher, cfg.distill_alpha, cfg.distill_temperature)
