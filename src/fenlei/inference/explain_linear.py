"""Exact explanations of the ``tfidf`` family: each n-gram's weight x TF-IDF value.

The logit of a linear model is the sum of its features' contributions plus the bias, so the
contributions are the explanation, with no approximation (the baseline is the empty text,
whose logit is the bias). Each n-gram's contribution is shared by its occurrences, and each
occurrence's share by the words (word analyzer) or characters (character analyzer) it covers;
the analyzer is re-run with character offsets so the shares land on the text as written.
"""

from __future__ import annotations

import math
import re
from collections import Counter

import numpy as np
import torch

from fenlei.data.batching import collate
from fenlei.inference.explain import EXPLAINERS, Part
from fenlei.inference.explanation import TokenScore

_WHITE_SPACES = re.compile(r"\s\s+")  # scikit-learn's char analyzer folds these into one space


@EXPLAINERS.register("linear")
def explain_linear(predictor, texts: list[str], targets: np.ndarray, steps: int) -> list[Part]:
    """weight x feature for every text (``steps`` unused: nothing is approximated)."""
    model, encoder, task = predictor.model, predictor.encoder, predictor.task
    weight = model.weight.detach().double().cpu()
    idf = model.idf.detach().double().cpu().numpy()
    target = torch.as_tensor(targets, dtype=torch.int64)
    with torch.inference_mode():
        batch = collate(encoder.encode(texts), encoder.pad_id)
        logits = task.explained(model(batch).double().cpu(), target).tolist()
        bases = task.explained(model.bias.detach().double().cpu().expand(len(texts), -1), target).tolist()
    parts = []
    for i, text in enumerate(texts):
        units, grams = ngram_units(text, encoder.settings)
        ids = [encoder.index.get(g) for g, _ in grams]
        counts = Counter(f for f in ids if f is not None)
        feats = sorted(counts)
        tf = np.asarray([counts[f] for f in feats], dtype=np.float64)
        tf = 1.0 + np.log(tf) if model.params.sublinear_tf else tf
        value = tf * idf[feats] if feats else tf
        value = value / max(math.sqrt(float((value * value).sum())), 1e-12)
        rows = torch.as_tensor(value)[:, None] * weight[feats] if feats else weight[:0]
        share = dict(zip(feats, task.explained(rows, target[i].expand(len(feats))).tolist(), strict=True))
        scores = np.zeros(len(units))
        for f, (_, covered) in zip(ids, grams, strict=True):
            if f is not None and covered:
                scores[covered] += share[f] / counts[f] / len(covered)
        tokens = [TokenScore(text[s:e], s, e, float(v)) for (s, e), v in zip(units, scores, strict=True)]
        parts.append((tokens, logits[i], bases[i], False))
    return parts


def ngram_units(text: str, settings: dict) -> tuple[list[tuple[int, int]], list[tuple[str, list[int]]]]:
    """The units a person reads (words, or the non-space characters) as spans of ``text``, and
    the analyzer's n-grams in its own order, each with the units it covers."""
    lowercase = settings.get("lowercase", True)
    low, high = settings.get("ngram_range", (1, 1))
    if settings.get("analyzer") == "char":
        return _char_units(text.lower() if lowercase else text, low, high)
    pattern = re.compile(settings.get("token_pattern", r"(?u)\b\w\w+\b"))
    matches = list(pattern.finditer(text))
    words = [m.group().lower() if lowercase else m.group() for m in matches]
    grams = [(w, [k]) for k, w in enumerate(words)] if low == 1 else []
    for n in range(max(low, 2), min(high, len(words)) + 1):
        grams += [(" ".join(words[k : k + n]), list(range(k, k + n))) for k in range(len(words) - n + 1)]
    return [m.span() for m in matches], grams


def _char_units(text: str, low: int, high: int):
    """Character n-grams over the text with runs of spaces folded, as scikit-learn makes them."""
    folded, where, pos = [], [], 0  # where: the text offset of each folded character
    for m in _WHITE_SPACES.finditer(text):
        folded.append(text[pos : m.start()] + " ")
        where += [*range(pos, m.start()), m.start()]
        pos = m.end()
    folded.append(text[pos:])
    where += list(range(pos, len(text)))
    folded = "".join(folded)
    unit_of = {}
    units = []
    for k, ch in enumerate(text):
        if not ch.isspace():
            unit_of[k] = len(units)
            units.append((k, k + 1))
    grams = []
    for n in range(low, min(high, len(folded)) + 1):
        for k in range(len(folded) - n + 1):
            covered = [unit_of[where[j]] for j in range(k, k + n) if where[j] in unit_of]
            grams.append((folded[k : k + n], covered))
    return units, grams
