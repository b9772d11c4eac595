"""What an explanation is: per-token scores of one text toward one class, as plain data.

A leaf module (no torch): ``inference/explain.py`` computes explanations, the terminal, HTML,
HTTP and report code only read these dataclasses.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class TokenScore:
    """One token a person reads (a word, a Chinese character or jieba word) and its score.

    ``start``/``end`` are character offsets into the original text (``text[start:end]`` is the
    token as written); -1 when the token could not be placed (a tokenizer that rewrote it).
    ``score`` is the token's contribution to the explained class's logit: positive pushes
    toward the class, negative away from it. Word pieces and n-grams are already summed here.
    """

    token: str
    start: int
    end: int
    score: float


@dataclass
class Explanation:
    """Why the model gave ``label`` for ``text``: every token's score, in reading order.

    label / probability: the class explained (the predicted one unless another was asked for)
        and the model's probability of it; predicted: the top class.
    method: ``integrated-gradients`` (neural families) or ``exact-linear`` (tfidf: weight x
        feature, exact).
    delta: how far the scores' sum misses (logit - baseline logit); IG's approximation error
        (0 for exact-linear).
    truncated: the model read only part of the text (max_length); tokens past it score 0.
    """

    text: str
    label: str
    probability: float
    predicted: str
    tokens: list[TokenScore] = field(default_factory=list)
    method: str = "integrated-gradients"
    delta: float = 0.0
    baseline_logit: float = 0.0
    logit: float = 0.0
    truncated: bool = False

    def top(self, k: int = 5, positive: bool = True) -> list[TokenScore]:
        """The ``k`` tokens that pushed hardest toward the label (``positive``) or away from it."""
        ranked = sorted(self.tokens, key=lambda t: t.score, reverse=positive)
        return [t for t in ranked[:k] if (t.score > 0) == positive and t.score != 0]

    def to_dict(self) -> dict:
        """JSON-ready: the fields as they are (the HTTP answer of ``POST /explain``)."""
        return asdict(self)
