"""The fasttext family's own training (model.solver sgd / adagrad): which configs it serves,
and the fit that hands the model's tables to the compiled loop (models/fasttext_sgd.py)."""

from __future__ import annotations

import numpy as np
import torch

from fenlei.errors import ConfigError


def _loop_only(cfg, custom_loss: bool, streamed: bool) -> str | None:
    """Why this config needs the training loop, or None when sgd can train it."""
    p = cfg.model.params
    if custom_loss:
        return f"objective {cfg.objective.name} (or adversarial training) is trained by the loop"
    reasons = {
        "objective.label_smoothing": cfg.objective.label_smoothing,
        "objective.class_weights": cfg.objective.class_weights,
        "model.hidden > 0": p.get("hidden"),
        "model.dropout > 0": p.get("dropout"),
        "data.unlabeled (semi-supervised views)": cfg.data.unlabeled,
        "model.freeze_embeddings": cfg.model.freeze_embeddings,
        "train.ema (a moving average of the weights)": cfg.train.ema,
        "a streamed train set": streamed,
    }
    return next((f"{key} is trained by the loop" for key, value in reasons.items() if value), None)


def settle_solver(cfg, custom_loss: bool, streamed: bool) -> None:
    """Make model.solver auto a choice (sgd or loop) and model.pooling auto one (joint or split);
    raise for sgd/adagrad asked where they cannot go, or joint pooling with its own n-gram size."""
    p = cfg.model.params
    why = _loop_only(cfg, custom_loss, streamed)
    if p["solver"] == "auto":
        p["solver"] = "loop" if why else "sgd"
    elif p["solver"] != "loop" and why:
        raise ConfigError(f"model.solver {p['solver']}: {why}; set model.solver=loop")
    from fenlei.models.fasttext import wants_joint

    dim = p.get("ngram_dim")
    if p.get("pooling") == "joint" and dim not in (None, cfg.model.embed_dim) and not cfg.model.vectors:
        raise ConfigError(
            f"model.pooling joint averages word and n-gram vectors together, so model.ngram_dim ({dim}) "
            f"must equal model.embed_dim ({cfg.model.embed_dim}); drop ngram_dim or set model.pooling=split"
        )
    if p.get("pooling", "auto") == "auto":  # config.yaml records which form the tables have
        p["pooling"] = "joint" if wants_joint("auto", p["solver"], dim, cfg.model.embed_dim) else "split"


EVALUATIONS = 4  # dev evaluations over a run (for the learning curves; each costs a dev pass)


def fit_sgd(model, seqs, ids, task, train_cfg, report=None) -> dict:
    """Train ``model`` (a FastText) in place on ``seqs`` (id arrays); returns notes for metrics.json.
    ``report(epoch, step, loss, evaluate)`` hears of each epoch (trainer.py _solver_epoch)."""
    from fenlei.models.fasttext_sgd import features, train_sgd

    p = model.params
    classes = model.num_classes
    targets = task.indicator(np.asarray(ids), classes).astype(np.float32)
    feats = features(list(seqs), p.ngrams, p.buckets if model.ngram_bag is not None else 1)
    with torch.no_grad():
        model.classifier.weight.zero_()  # fastText's output layer starts at zero
        if model.classifier.bias is not None:
            model.classifier.bias.zero_()
    bias = model.classifier.bias
    table = model.ngram_bag.weight if model.ngram_bag is not None else torch.zeros(1, 0)
    # .numpy() shares the parameters' memory: the compiled loop trains the torch model directly
    arrays = {
        "weight": model.classifier.weight.detach().numpy(),
        "bias": bias.detach().numpy() if bias is not None else np.zeros(0, np.float32),
        "emb": model.embedding.weight.detach().numpy(),
        "table": table.detach().numpy(),
    }
    seconds: list[float] = []
    epochs = int(train_cfg.epochs)
    due = {round(epochs * k / EVALUATIONS) - 1 for k in range(1, EVALUATIONS + 1)}

    def on_epoch(epoch: int, loss: float, s: float) -> None:
        seconds.append(s)
        if report is not None:
            with torch.no_grad():
                report(epoch, (epoch + 1) * len(targets), loss, epoch in due)

    losses = train_sgd(
        arrays,
        feats,
        targets,
        task.activation == "softmax",  # else one sigmoid per label (multi-label)
        float(p.sgd_lr),
        epochs,
        int(train_cfg.seed),
        adagrad=p.solver == "adagrad",
        joint=model.joint,
        on_epoch=on_epoch,
        sync_at=due,
    )
    return {
        "solver": p.solver,
        "lr": p.sgd_lr,
        "epochs": epochs,
        "loss_by_epoch": [round(x, 5) for x in losses],
        "seconds_by_epoch": [round(s, 3) for s in seconds],
    }
