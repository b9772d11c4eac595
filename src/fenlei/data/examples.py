"""Examples: the plain data that readers produce and everything downstream consumes."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Examples:
    """Parallel lists of texts and (string) labels read from one source.

    ``labels`` is None for unlabelled text. ``skipped`` counts rows dropped by policy
    (for example empty texts) so callers can report them.
    """

    texts: list[str]
    labels: list[str] | None
    source: str = ""
    skipped: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.labels is not None and len(self.labels) != len(self.texts):
            raise ValueError("texts and labels differ in length")

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, indices: list[int]) -> Examples:
        """A new Examples holding the rows at ``indices`` in that order."""
        texts = [self.texts[i] for i in indices]
        labels = None if self.labels is None else [self.labels[i] for i in indices]
        return Examples(texts, labels, self.source)
