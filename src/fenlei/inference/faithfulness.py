"""Are the explanations faithful? Remove the tokens they rank highest and see the model change.

For each text of a seeded sample, with the tokens its explanation ranks highest toward the
explained label (the top k% of the placed tokens, at least one):

- comprehensiveness: p(label | text) - p(label | text without them). Higher is better: the
  tokens the explanation names are the ones the model relied on.
- sufficiency: p(label | text) - p(label | only them). Lower is better: they alone suffice.

Both are set against removing (keeping) as many tokens chosen at random (seeded), which is
what an explanation that knew nothing would score. Tokens are cut out of the original text by
their character spans and the edited texts re-predicted with ``predict_proba``, so the check
works the same for every family (and never looks inside the model).
"""

from __future__ import annotations

import math
import random
import re
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Protocol

import numpy as np

from fenlei.errors import FenleiError
from fenlei.inference.explanation import Explanation, TokenScore

FRACTIONS = (0.1, 0.2, 0.5)
HEADLINE = 0.2  # the fraction quoted in one line (the benchmark's column)
TABLE_HEADER = ("tokens", "comprehensiveness", "random", "sufficiency", "random")
CHUNK = 32  # texts per explain call: progress can be reported, memory stays bounded


class Explainer(Protocol):
    """What faithfulness needs of a predictor."""

    label_names: list[str]

    def explain(self, texts: Sequence[str], label: str | None = None) -> list[Explanation]: ...

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray: ...


@dataclass
class Faithfulness:
    """Mean drops in the explained label's probability over ``texts`` texts, per fraction of tokens.

    Keys of the dicts are the fractions as strings ("0.2"), so the JSON reads back the same.
    """

    texts: int
    method: str
    ms_per_text: float  # wall time of explaining, per text
    comprehensiveness: dict[str, float] = field(default_factory=dict)
    comprehensiveness_random: dict[str, float] = field(default_factory=dict)
    sufficiency: dict[str, float] = field(default_factory=dict)
    sufficiency_random: dict[str, float] = field(default_factory=dict)
    skipped: int = 0  # texts with no placed token (nothing to remove)
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)

    def rows(self) -> list[list[str]]:
        """The table ``fenlei explain --faithfulness`` prints, one row per fraction."""
        return [
            [
                f"{float(k):.0%}",
                f"{self.comprehensiveness[k]:+.4f}",
                f"{self.comprehensiveness_random[k]:+.4f}",
                f"{self.sufficiency[k]:+.4f}",
                f"{self.sufficiency_random[k]:+.4f}",
            ]
            for k in self.comprehensiveness
        ]


def sample(texts: Sequence[str], n: int, seed: int = 0) -> list[str]:
    """``n`` texts drawn without replacement (all when there are fewer), in file order."""
    keep = [t for t in texts if str(t).strip()]
    if n >= len(keep):
        return list(keep)
    idx = sorted(random.Random(seed).sample(range(len(keep)), n))
    return [keep[i] for i in idx]


def remove_spans(text: str, spans: Sequence[tuple[int, int]]) -> str:
    """``text`` without the characters of ``spans``; the whitespace left behind collapses to one
    space, so that "a  film" does not read differently from "a film"."""
    out, cursor = [], 0
    for start, end in sorted(spans):
        if start >= cursor:
            out.append(text[cursor:start])
            cursor = end
    out.append(text[cursor:])
    return re.sub(r"\s+", " ", "".join(out)).strip()


def placed(exp: Explanation) -> list[TokenScore]:
    """The tokens with a span in the text (the ones that can be cut out), in reading order."""
    n = len(exp.text)
    return sorted((t for t in exp.tokens if 0 <= t.start < t.end <= n), key=lambda t: t.start)


def count(fraction: float, n: int) -> int:
    """Tokens in the top ``fraction`` of ``n``: rounded up, at least one."""
    return max(1, math.ceil(fraction * n - 1e-9))


def edits(exp: Explanation, fractions: Sequence[float], rng: random.Random) -> dict[str, str]:
    """The edited texts of one explanation, keyed ``{comp,suff}{,_random}@fraction``."""
    toks = placed(exp)
    ranked = sorted(range(len(toks)), key=lambda i: toks[i].score, reverse=True)
    out = {}
    for f in fractions:
        k = count(f, len(toks))
        top = set(ranked[:k])
        rand = set(rng.sample(range(len(toks)), k))
        for name, chosen in (("", top), ("_random", rand)):
            cut = [(toks[i].start, toks[i].end) for i in chosen]
            rest = [(t.start, t.end) for i, t in enumerate(toks) if i not in chosen]
            out[f"comp{name}@{f}"] = remove_spans(exp.text, cut)
            out[f"suff{name}@{f}"] = remove_spans(exp.text, rest)
    return out


def faithfulness(
    predictor: Explainer,
    texts: Sequence[str],
    samples: int = 500,
    seed: int = 0,
    fractions: Sequence[float] = FRACTIONS,
    progress=None,
) -> Faithfulness:
    """Comprehensiveness and sufficiency of ``predictor.explain`` on a seeded sample of ``texts``,
    against random tokens. ``progress(done, total)`` is called after each chunk explained."""
    chosen = sample(texts, samples, seed)
    if not chosen:
        raise FenleiError("faithfulness: no non-empty texts to explain; give a file with texts")
    exps: list[Explanation] = []
    t0 = time.perf_counter()
    for i in range(0, len(chosen), CHUNK):
        exps.extend(predictor.explain(chosen[i : i + CHUNK]))
        if progress is not None:
            progress(len(exps), len(chosen))
    ms = 1000 * (time.perf_counter() - t0) / len(chosen)
    names = list(predictor.label_names)
    rng = random.Random(seed)
    usable = [e for e in exps if placed(e)]
    keyed = [edits(e, fractions, rng) for e in usable]
    keys = list(keyed[0]) if keyed else []
    # one predict_proba call: the originals, then every edit of every text (batched inside)
    batch = [e.text for e in usable] + [k[key] for k in keyed for key in keys]
    probs = predictor.predict_proba(batch) if batch else np.zeros((0, len(names)))
    col = np.array([names.index(e.label) for e in usable], dtype=int)
    rows = np.arange(len(usable))
    base = probs[rows, col] if len(usable) else np.zeros(0)
    edited = probs[len(usable) :].reshape(len(usable), len(keys), -1) if keys else None
    result = Faithfulness(
        texts=len(usable),
        method=exps[0].method if exps else "-",
        ms_per_text=ms,
        skipped=len(exps) - len(usable),
        seed=seed,
    )
    fields = {
        "comp": result.comprehensiveness,
        "comp_random": result.comprehensiveness_random,
        "suff": result.sufficiency,
        "suff_random": result.sufficiency_random,
    }
    for f in fractions:
        for prefix, target in fields.items():
            if edited is None:
                target[str(f)] = float("nan")
                continue
            j = keys.index(f"{prefix}@{f}")
            target[str(f)] = float(np.mean(base - edited[rows, j, col]))
    return result
