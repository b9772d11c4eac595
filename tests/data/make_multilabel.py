"""Make the tiny multi-label data set in tests/data/multilabel/ (deterministic; no arguments).

Every text carries one to three of four topics, each given away by one or two of its keywords
among filler words; the label cell lists the topics joined by ``|`` (data.label_separator).

    python tests/data/make_multilabel.py    # rewrites train.tsv (400 rows), dev.tsv and test.tsv (100 each)
"""

from __future__ import annotations

import random
from pathlib import Path

KEYWORDS = {
    "sports": ["football", "match", "goal", "coach", "league", "tennis"],
    "politics": ["election", "minister", "senate", "vote", "parliament", "policy"],
    "tech": ["software", "computer", "robot", "internet", "chip", "startup"],
    "health": ["doctor", "hospital", "vaccine", "diet", "virus", "clinic"],
}
FILL = ["the", "a", "new", "report", "says", "today", "people", "city", "year", "about", "and", "with", "big"]
SIZES = {"train": 400, "dev": 100, "test": 100}
SEEDS = {"train": 0, "dev": 1, "test": 2}


def make_rows(n: int, seed: int) -> list[tuple[str, str]]:
    """``n`` (label cell, text) rows; the label cell joins the topics (in KEYWORDS order) with ``|``."""
    rng = random.Random(seed)
    topics = list(KEYWORDS)
    rows = []
    for _ in range(n):
        chosen = sorted(rng.sample(topics, rng.choice([1, 1, 2, 2, 3])), key=topics.index)
        words = rng.choices(FILL, k=rng.randint(3, 8))
        for topic in chosen:
            for word in rng.sample(KEYWORDS[topic], rng.randint(1, 2)):
                words.insert(rng.randint(0, len(words)), word)
        rows.append(("|".join(chosen), " ".join(words)))
    return rows


def tsv_text(rows: list[tuple[str, str]]) -> str:
    """The rows as a TSV file with a ``label<TAB>text`` header."""
    return "label\ttext\n" + "".join(f"{label}\t{text}\n" for label, text in rows)


def main(folder: Path = Path(__file__).parent / "multilabel") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in SIZES.items():
        (folder / f"{split}.tsv").write_text(tsv_text(make_rows(n, SEEDS[split])), encoding="utf-8")


if __name__ == "__main__":
    main()
