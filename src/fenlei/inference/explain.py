"""Token attributions: why a run's model gave a class to a text (``fenlei explain``).

Neural families: Captum's LayerIntegratedGradients over the family's attribution layers (its
input embeddings, n-gram tables included), from a baseline of the same length made of padding
(a transformer keeps its special tokens), toward the task's explained score of the class
(``Task.explained``: the centred logit under softmax, a label's own logit for multi-label).
The family splits each layer's attribution over the input positions
(``TextModel.token_contributions``); the windows of a long document are folded back onto its
tokens; word pieces are summed into the words a person reads and Chinese pieces are split into
characters. The ``tfidf`` family is explained exactly (explain_linear.py).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Sequence

import numpy as np
import torch

from fenlei.data.batching import Batches
from fenlei.data.text import CJK
from fenlei.errors import FenleiError
from fenlei.inference.explanation import Explanation, TokenScore
from fenlei.models import model_class
from fenlei.models.base import LayerPath
from fenlei.registry import Registry

# integrated-gradients steps (Gauss-Legendre): on tiny and real models the scores' sum was
# within 1% of (logit - baseline logit) at 32
DEFAULT_STEPS = 32
ROWS_PER_CALL = 16  # texts (or windows) attributed together
TOKENS_PER_PASS = 1 << 16  # interpolated tokens in one forward/backward (a family may bound it lower)

# family.explainer -> fn(predictor, texts, targets, steps) -> [(tokens, logit, baseline, truncated)]
EXPLAINERS: Registry[Callable] = Registry("explainer", FenleiError)
Part = tuple[list[TokenScore], float, float, bool]


def explain(predictor, texts: Sequence[str], label: str | None = None, steps: int = DEFAULT_STEPS) -> list:
    """One ``Explanation`` per text, toward ``label`` (default: each text's predicted class)."""
    texts = [str(t) for t in texts]
    for i, text in enumerate(texts):
        if not text.strip():
            raise FenleiError(f"text {i + 1} is empty: there is nothing to explain; give it some words")
    names = predictor.label_names
    if label is not None and label not in names:
        raise FenleiError(f"label {label!r} is not one of this run's labels: {', '.join(names)}")
    if steps < 1:
        raise FenleiError(f"steps must be at least 1, got {steps}")
    name = predictor.config.model.name
    how = model_class(name).explainer  # (the ONNX predictor has no explain: the CLI says so)
    if how is None:
        raise FenleiError(f"model {name} cannot be attributed; explain a run of a neural or tfidf family")
    if not texts:
        return []
    probs = predictor.predict_proba(texts)
    targets = np.full(len(texts), names.index(label)) if label is not None else probs.argmax(1)
    from fenlei.inference import explain_linear  # noqa: F401  (registers "linear")

    parts = EXPLAINERS.get(how)(predictor, texts, targets, steps)
    method = "exact-linear" if how == "linear" else "integrated-gradients"
    out = []
    for text, target, row, (tokens, logit, base, truncated) in zip(texts, targets, probs, parts, strict=True):
        delta = logit - base - sum(t.score for t in tokens)
        predicted = names[int(np.argmax(row))]
        out.append(
            Explanation(text, names[int(target)], float(row[target]), predicted, tokens, method, float(delta),
                        float(base), float(logit), truncated)
        )  # fmt: skip
    return out


@EXPLAINERS.register("gradients")
def explain_gradients(predictor, texts: list[str], targets: np.ndarray, steps: int) -> list[Part]:
    """Integrated gradients of every text, batched and length-bucketed like prediction."""
    model, encoder = predictor.model, predictor.encoder
    layers = model.attribution_layers()
    if not layers:
        raise FenleiError(f"model {predictor.config.model.name} has no input layer to attribute")
    budget = getattr(model, "batch_tokens", None) or TOKENS_PER_PASS
    encoded = encoder.encode(texts)
    parts: list[Part | None] = [None] * len(texts)
    for batch in Batches(encoded, None, ROWS_PER_CALL, encoder.pad_id):
        idx = batch.pop("index").numpy()
        scores, logits, bases = _integrate(predictor, layers, batch, targets[idx], steps, budget)
        rows = batch.get("windows", torch.ones(len(idx), dtype=torch.int64)).tolist()
        first = np.concatenate([[0], np.cumsum(rows)[:-1]]).astype(int)
        for j, i in enumerate(idx):
            spans, truncated = encoder.token_spans(texts[i])
            own = scores[first[j] : first[j] + rows[j]]
            per_position = _fold_windows(encoder, own, batch, first[j], spans)
            tokens = _readable(texts[i], spans, per_position, encoder.word_pieces)
            parts[i] = (tokens, logits[j], bases[j], truncated)
    return parts


def _integrate(predictor, layers, batch: dict, targets: np.ndarray, steps: int, budget: int):
    """[R, T] per-position scores of a batch's rows, and the explained score of each text and of
    its baseline."""
    from captum.attr import LayerIntegratedGradients

    model, task = predictor.model, predictor.task
    ids, lengths, windows = batch["input_ids"], batch["lengths"], batch.get("windows")
    device = predictor.device
    ids, lengths_dev = ids.to(device), lengths.to(device)
    base = torch.as_tensor(predictor.encoder.baseline_ids(ids.cpu().numpy(), lengths.numpy())).to(device)
    target = torch.as_tensor(targets, dtype=torch.int64, device=device)

    def forward(input_ids, lengths, windows, target):
        feed = {"input_ids": input_ids, "lengths": lengths}
        if windows is not None:
            feed["windows"] = windows
        return task.explained(model(feed), target)

    seen: dict = {}
    hooks = [layer.register_forward_hook(_recorder(seen, k)) for k, layer in enumerate(layers)]
    try:
        with torch.no_grad():
            seen["run"] = "text"
            logit = forward(ids, lengths_dev, windows, target)
            seen["run"] = "base"
            base_logit = forward(base, lengths_dev, windows, target)
    finally:
        for h in hooks:
            h.remove()
    points = max(2 * ids.shape[0], budget // max(1, ids.shape[1]))
    # cuDNN has no RNN backward in eval mode
    with warnings.catch_warnings(), torch.backends.cudnn.flags(enabled=False):
        warnings.simplefilter("ignore", UserWarning)  # captum's note on several layers: ours are parallel
        where = layers if len(layers) > 1 else layers[0]
        lig = LayerIntegratedGradients(forward, where, multiply_by_inputs=False)  # the path's mean gradient
        grads = lig.attribute(
            ids, base, additional_forward_args=(lengths_dev, windows, target), n_steps=steps,
            internal_batch_size=points,
        )  # fmt: skip
    grads = grads if isinstance(grads, list) else [grads]
    width = ids.shape[1]
    scores = torch.zeros(ids.shape[0], width, device=device)
    for k, (layer, grad) in enumerate(zip(layers, grads, strict=True)):
        (inp, out), (base_inp, base_out) = seen[(k, "text")], seen[(k, "base")]
        path = LayerPath(inp, base_inp, out, base_out, grad.detach())
        scores += model.token_contributions(layer, path, width).float()
    return scores.detach().cpu().numpy(), logit.cpu().tolist(), base_logit.cpu().tolist()


def _recorder(seen: dict, k: int):
    def record(_module, inputs, output):
        seen[(k, seen["run"])] = (inputs[0].detach(), output.detach())

    return record


def _fold_windows(encoder, rows: np.ndarray, batch: dict, first: int, spans: list) -> np.ndarray:
    """[L] scores of a text's positions (``spans``) from its rows' [W, T] scores; a window's
    body positions land on the document's tokens, overlaps added."""
    lengths = batch["lengths"].numpy()
    if len(rows) == 1:
        return rows[0, : len(spans)]
    pre, suf = len(encoder.prefix), len(encoder.suffix)
    body = len(spans) - pre - suf
    out = np.zeros(len(spans), dtype=np.float64)
    for r, start in enumerate(encoder.window_starts(body)):
        n = int(lengths[first + r])
        out[:pre] += rows[r, :pre]
        out[len(spans) - suf :] += rows[r, n - suf : n]
        inner = n - pre - suf
        out[pre + start : pre + start + inner] += rows[r, pre : pre + inner]
    return out


def _readable(text: str, spans: list, scores: np.ndarray, pieces: bool) -> list[TokenScore]:
    """Positions merged into the units a person reads: word pieces of one word summed (``pieces``),
    a piece of several Chinese characters split evenly. Special tokens are in the baseline too,
    so they score 0; another position from no text gives its score to the next word."""
    units: list[list] = []  # [start, end, score]
    pending = 0.0  # a position from no text (a lone "▁"): its score goes to the next word
    for (start, end), score in zip(spans, scores, strict=False):
        if start < 0:
            pending += float(score)
            continue
        if pieces and units and (start < units[-1][1] or _joins(text, units[-1][1], start)):
            # the same word, or a piece overlapping the one before (sentencepiece's lone "▁")
            units[-1][1], units[-1][2] = max(end, units[-1][1]), units[-1][2] + float(score) + pending
        else:
            units.append([start, end, float(score) + pending])
        pending = 0.0
    if units:
        units[-1][2] += pending
    out = []
    for start, end, score in units:
        word = text[start:end]
        if pieces and len(word) > 1 and all(_is_cjk(c) for c in word):
            out += [TokenScore(c, start + k, start + k + 1, score / len(word)) for k, c in enumerate(word)]
        else:
            out.append(TokenScore(word, start, end, score))
    return out


def _joins(text: str, end: int, start: int) -> bool:
    """Whether a piece starting at ``start`` continues the word ending at ``end``."""
    if start != end or start == 0 or start >= len(text):
        return False
    a, b = text[start - 1], text[start]
    return (a.isalnum() or a in "'’") and (b.isalnum() or b in "'’") and not (_is_cjk(a) or _is_cjk(b))


def _is_cjk(ch: str) -> bool:
    return bool(_CJK_RE.match(ch))


_CJK_RE = re.compile(f"[{CJK}]")
