"""Knowledge distillation (Hinton et al. 2015): a small model learns a trained model's probabilities.

loss = (1 - alpha) x CE(labels) + alpha x T^2 x KL(teacher_T || student_T), where ``_T`` means
softened at temperature T. The teacher is any finished fenlei run (a fine-tuned transformer,
typically); it labels every training text once, augmented copies included, before training
(the transfer set of Tang et al. 2019), and the objective looks its rows up by batch index.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from fenlei.data.labels import LabelMap
from fenlei.errors import ConfigError
from fenlei.objectives import Context, Needs, ObjectiveParams, check_numbers, register_objective
from fenlei.objectives.supervised import CrossEntropy, supervised_loss


def teacher_probabilities(
    teacher_dir: str,
    texts: Sequence[str],
    labels: LabelMap,
    device: str = "cpu",
    task_name: str = "single_label",
) -> np.ndarray:
    """The teacher run's probabilities for ``texts`` [N, K], columns in ``labels``' order."""
    from fenlei.inference.predictor import Predictor

    teacher = Predictor(teacher_dir, device=device)
    if teacher.task.name != task_name:
        raise ConfigError(
            f"objective.teacher {teacher_dir} is a {teacher.task.name} run; distill needs a "
            f"{task_name} teacher"
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


@dataclass
class DistillParams(ObjectiveParams):
    """Parameters of ``distill``.

    teacher: a finished run directory whose probabilities are the soft targets.
    distill_alpha: weight of the teacher's soft targets (1 - it weighs the labels).
    distill_temperature: softens both distributions (Hinton et al. 2015); 1 = the teacher's own.
    """

    teacher: str | None = None
    distill_alpha: float = 0.5
    distill_temperature: float = 2.0

    def __post_init__(self) -> None:
        if self.teacher is not None and not isinstance(self.teacher, str):
            raise ConfigError(f"objective.teacher must be a run directory, got {self.teacher!r}")
        check_numbers(self, "distill_alpha", "distill_temperature")
        if not 0.0 <= self.distill_alpha <= 1.0:
            raise ConfigError(f"objective.distill_alpha must be in [0.0, 1.0], got {self.distill_alpha}")
        if self.distill_temperature <= 0:
            raise ConfigError(
                "objective.distill_temperature must be > 0 (1 = the teacher's own probabilities)"
            )


# Streaming holds no train texts in memory for the teacher to label.
@register_objective("distill", DistillParams, Needs(teacher=True, streaming=False))
def _distill(cfg, params: DistillParams, ctx: Context) -> Distill:
    """Knowledge distillation (Hinton et al. 2015) from a finished run (objective.teacher)."""
    if ctx.texts is None:
        raise ConfigError("objective distill needs the training texts for its teacher to label")
    ctx.say(f"distill: {params.teacher} labels {len(ctx.texts):,} training texts")
    teacher = teacher_probabilities(params.teacher, ctx.texts, ctx.labels, ctx.device, ctx.task.name)
    ce = supervised_loss(cfg, ctx.train_label_ids, ctx.num_classes)
    return Distill(ce, teacher, params.distill_alpha, params.distill_temperature)
