"""The audit's TSV files: suspects, conflicts, and (--apply) the train file without the suspects.

Tabs and line breaks inside a text become spaces (a TSV row is one line), as in predictions.tsv.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import numpy as np

from fenlei.auditing.duplicates import Conflict
from fenlei.auditing.ranking import Ranking

_CELL = str.maketrans({"\t": " ", "\n": " ", "\r": " "})


def cell(value: object) -> str:
    """One TSV cell: tabs and line breaks become spaces."""
    return str(value).translate(_CELL)


def _write(path: Path, header: list[str], rows) -> Path:
    lines = ["\t".join(header)] + ["\t".join(cell(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


SUSPECT_HEADER = ["text", "given", "predicted", "score", "p_given", "p_predicted", "line"]


def suspect_rows(ranking: Ranking, probs: np.ndarray, texts, given, names, lines, limit: int | None = None):
    """Rows of suspects.tsv (SUSPECT_HEADER), most suspect first; ``limit`` rows at most."""
    chosen = ranking.suspects if limit is None else ranking.suspects[:limit]
    for i in chosen:
        g, p = int(given[i]), int(ranking.predicted[i])
        yield [
            texts[i],
            names[g],
            names[p],
            f"{ranking.scores[i]:.4f}",
            f"{probs[i, g]:.4f}",
            f"{probs[i, p]:.4f}",
            lines[i],
        ]


def write_suspects(path: Path, ranking: Ranking, probs, texts, given, names, lines) -> Path:
    return _write(path, SUSPECT_HEADER, suspect_rows(ranking, probs, texts, given, names, lines))


CONFLICT_HEADER = ["group", "kind", "similarity", "label", "text", "line"]


def conflict_rows(conflicts: list[Conflict], texts, labels, lines, limit: int | None = None):
    """Rows of conflicts.tsv (CONFLICT_HEADER): one per text, grouped, largest groups first."""
    for g, conflict in enumerate(conflicts[:limit] if limit is not None else conflicts, 1):
        for i in conflict.rows:
            yield [g, conflict.kind, f"{conflict.similarity:.3f}", labels[i], texts[i], lines[i]]


def write_conflicts(path: Path, conflicts: list[Conflict], texts, labels, lines) -> Path:
    return _write(path, CONFLICT_HEADER, conflict_rows(conflicts, texts, labels, lines))


def write_cleaned(path: Path, data_cfg, texts, labels, drop: np.ndarray) -> int:
    """The train rows whose ``drop`` is False, as a UTF-8 TSV with the config's column names;
    returns how many rows were left out."""
    keep = np.flatnonzero(~drop)
    header = [data_cfg.label_column, data_cfg.text_column]
    _write(path, header, ([labels[i], texts[i]] for i in keep))
    return int(drop.sum())


def train_command(config: str | Path | None, sets: list[str], cleaned: Path, data_cfg) -> str:
    """The ``fenlei train`` command line that trains the audited config on the cleaned file."""
    extra = [f"data.train={cleaned}"]
    if data_cfg.format not in ("auto", "tsv"):
        extra.append("data.format=tsv")
    if data_cfg.encoding.lower().replace("-", "") not in ("utf8", "utf8sig"):
        extra.append("data.encoding=utf-8")
    words = ["fenlei", "train"] + ([str(config)] if config is not None else [])
    kept = [
        s
        for s in sets
        if not s.replace(" ", "").startswith(("data.train=", "data.format=", "data.encoding="))
    ]
    for item in [*kept, *extra]:
        words += ["--set", item]
    return " ".join(shlex.quote(w) for w in words)
