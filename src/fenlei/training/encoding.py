"""The training texts through the model's encoder, and pretrained vectors aligned to its vocabulary."""

from __future__ import annotations

import numpy as np

from fenlei.config import Config
from fenlei.data.encoders import Encoder, EncoderSettings, encoder_class


def fit_encoder(cfg: Config, family, texts: list[str]) -> tuple[Encoder, list]:
    """The family's kind of encoder, fitted on the training texts, and those texts tokenised."""
    d = cfg.data
    source = family.encoder_source(cfg.model.params)
    settings = EncoderSettings(
        cfg.tokenizer, d.max_length, d.truncation, source, family.length_bound, d.window, d.stride
    )
    encoder, tokens = encoder_class(family.encoder_type).fit(texts, settings)
    if d.max_length == "auto" and encoder.max_length:  # config.yaml records the length chosen
        d.max_length = int(encoder.max_length)
    return encoder, tokens


def build_embeddings(cfg: Config, encoder) -> tuple[np.ndarray | None, dict]:
    """Pretrained vectors aligned to the vocabulary (extended first if asked), and coverage numbers."""
    if not cfg.model.vectors:
        return None, {}
    from fenlei.data.vectors import align_vectors, extend_vocab, load_vectors

    extra = cfg.model.extend_vocab
    vectors = load_vectors(cfg.model.vectors, keep=None if extra else set(encoder.vocab.tokens))
    added = 0
    if extra:
        encoder.vocab, added = extend_vocab(encoder.vocab, vectors, extra, lowercase=encoder.lowercase)
    matrix, oov = align_vectors(encoder.vocab, vectors, seed=cfg.train.seed)
    info = {"vectors": cfg.model.vectors, "vectors_dim": int(matrix.shape[1]), "vocab_oov_rate": oov}
    if extra:
        info["vocab_added_from_vectors"] = added
    return matrix, info
