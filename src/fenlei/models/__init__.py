"""Model registry: ``create_model(name, ...)`` and ``list_models()``, timm style."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from fenlei.errors import ModelError
from fenlei.models.base import ModelParams, TextModel, init_weights
from fenlei.registry import Registry

MODELS: Registry[type[TextModel]] = Registry("model", ModelError)


def register_model(name: str):
    """Class decorator adding a TextModel subclass to the registry under ``name``."""
    return MODELS.register(name)


def _load_families() -> None:
    # Importing the family modules registers them; done lazily so importing fenlei stays cheap.
    from fenlei.models import dpcnn, fasttext, rcnn, rnn, textcnn, tfidf, transformer  # noqa: F401


def list_models() -> list[str]:
    """Names of every registered model."""
    _load_families()
    return MODELS.names()


def model_class(name: str) -> type[TextModel]:
    """The TextModel subclass registered as ``name`` (raises ModelError listing known names)."""
    _load_families()
    return MODELS.get(name)


def eval_batch_size(train_cfg, name: str) -> int:
    """``train.eval_batch_size``, or the model family's own default when it is 0."""
    return train_cfg.eval_batch_size or model_class(name).eval_batch_size


def make_params(name: str, params: dict[str, Any] | None = None) -> ModelParams:
    """Build the family's typed params from a dict; unknown keys raise naming ``model.<key>``."""
    cls = model_class(name).params_class
    params = dict(params or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(params) - set(fields))
    if unknown:
        known = ", ".join(sorted(fields)) or "(none)"
        raise ModelError(
            f"model.{unknown[0]}: not a parameter of model {name!r}; its parameters are: {known}"
        )
    try:
        return cls(**params)
    except (TypeError, ValueError) as err:
        raise ModelError(f"model {name!r}: {err}") from None


def create_model(
    name: str,
    vocab_size: int,
    num_classes: int,
    *,
    params: dict[str, Any] | ModelParams | None = None,
    embed_dim: int = 128,
    pad_id: int = 0,
    embeddings: np.ndarray | None = None,
    freeze_embeddings: bool = False,
    init: str = "default",
) -> TextModel:
    """Create a registered model by name with its typed params."""
    cls = model_class(name)
    if init != "default" and (cls.pretrained_weights or cls.closed_form):
        why = "is fitted in closed form" if cls.closed_form else "starts from pretrained weights"
        raise ModelError(f"model.init: {name!r} {why}; leave model.init at default")
    p = params if isinstance(params, ModelParams) else make_params(name, params)
    model = cls(
        p,
        vocab_size,
        num_classes,
        embed_dim=embed_dim,
        pad_id=pad_id,
        embeddings=embeddings,
        freeze_embeddings=freeze_embeddings,
    )
    init_weights(model, init)
    return model


__all__ = ["MODELS", "TextModel", "ModelParams", "create_model", "list_models", "make_params", "model_class"]
