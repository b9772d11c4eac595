"""Semi-supervised data: unlabelled texts from a file or from hiding labels, and UDA batches.

``data.labeled_per_class: N`` keeps N labelled examples per class (the standard few-label
benchmark) and turns the rest of train into unlabelled text; ``data.unlabeled`` reads a file
of texts. A UDA batch is a labelled batch plus ``unsup``/``unsup_aug`` sub-batches of
unlabelled texts and their augmented views.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from fenlei.data.batching import Batches, collate
from fenlei.data.loading import Splits
from fenlei.errors import ConfigError, DataError


def keep_per_class(splits: Splits, per_class: int, seed: int) -> tuple[Splits, list[str]]:
    """Splits whose train keeps ``per_class`` random examples of each class, and the other train texts."""
    by_class: dict[int, list[int]] = defaultdict(list)
    for i, label in enumerate(splits.train_ids):
        by_class[label].append(i)
    names = splits.labels.names
    rng = np.random.default_rng(seed)
    kept: list[int] = []
    for label in range(len(names)):
        rows = by_class.get(label, [])
        if len(rows) < per_class:
            raise DataError(
                f"data.labeled_per_class={per_class} but class {names[label]!r} has only {len(rows)} "
                f"training examples; lower data.labeled_per_class to at most {len(rows)}"
            )
        kept.extend(rng.choice(rows, size=per_class, replace=False).tolist())
    kept.sort()
    kept_set = set(kept)
    hidden = [t for i, t in enumerate(splits.train.texts) if i not in kept_set]
    train = splits.train.subset(kept)
    train.skipped = dict(splits.train.skipped)
    ids = [splits.train_ids[i] for i in kept]
    return dataclasses.replace(splits, train=train, train_ids=ids), hidden


def read_unlabeled(cfg, path: str) -> list[str]:
    """Texts of ``data.unlabeled``: one per line, or the ``data.text_column`` of a tsv/csv/jsonl."""
    from fenlei.data.loading import read_split

    texts = read_split(cfg, path, "unlabeled", with_labels=False).texts
    if not texts:
        raise DataError(f"{path}: no texts in data.unlabeled")
    return texts


def unlabeled_texts(cfg, splits: Splits, objective: str, learns_unlabeled: bool) -> tuple[Splits, list[str]]:
    """Apply ``data.labeled_per_class`` and read ``data.unlabeled``: the texts an objective that
    ``learns_unlabeled`` (UDA) trains on besides the labelled ones."""
    d = cfg.data
    hidden: list[str] = []
    if d.labeled_per_class:
        splits, hidden = keep_per_class(splits, d.labeled_per_class, d.split_seed)
    if d.unlabeled:
        if not learns_unlabeled:
            raise ConfigError(
                f"data.unlabeled is only used by an objective that learns from unlabelled text "
                f"(uda), not by {objective}; set objective.name: uda, or remove data.unlabeled"
            )
        hidden = hidden + read_unlabeled(d, d.unlabeled)
    if d.unlabeled_limit and len(hidden) > d.unlabeled_limit:
        # A sample, not the first N: files are often sorted by label or source.
        keep = np.random.default_rng(d.split_seed).choice(len(hidden), d.unlabeled_limit, replace=False)
        hidden = [hidden[i] for i in sorted(keep)]
    if learns_unlabeled and not hidden:
        raise ConfigError(
            f"objective {objective} needs unlabelled text: set data.unlabeled to a file of texts, or "
            "data.labeled_per_class: N to keep N labels per class and use the rest of train unlabelled"
        )
    return splits, hidden


class UDABatches:
    """Labelled batches, each joined by ``ratio`` x as many unlabelled texts and their augmented views.

    Unlabelled rows are drawn without replacement from a per-epoch shuffle (deterministic under
    the seed), cycling when they run out; view ``epoch mod len(views)`` is used each epoch so the
    noise changes between epochs.
    """

    def __init__(
        self,
        labeled: Batches,
        unlabeled: Sequence[np.ndarray],
        views: Sequence[Sequence[np.ndarray]],
        ratio: int,
        *,
        seed: int = 0,
    ) -> None:
        if not views or any(len(v) != len(unlabeled) for v in views):
            raise ValueError("every augmented view must hold one row per unlabelled text")
        self.labeled = labeled
        self.unlabeled = unlabeled
        self.views = views
        self.ratio = ratio
        self.seed = seed
        self.epoch = 0
        # Trainer.evaluate and friends read these off any batch source.
        self.seqs = labeled.seqs
        self.labels = labeled.labels

    def set_epoch(self, epoch: int) -> None:
        """Pick this epoch's labelled order, unlabelled order and augmented view."""
        self.epoch = epoch
        self.labeled.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.labeled)

    def order(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """(labelled rows, unlabelled rows) of each batch, in this epoch's order."""
        labeled = self.labeled.order()
        need = sum(len(b) for b in labeled) * self.ratio
        n = len(self.unlabeled)
        rng = np.random.default_rng((self.seed, self.epoch, 1))
        rounds = -(-need // n)  # ceil: enough shuffles of the unlabelled set to fill the epoch
        pool = np.concatenate([rng.permutation(n) for _ in range(rounds)]) if need else np.zeros(0, int)
        out, start = [], 0
        for rows in labeled:
            take = len(rows) * self.ratio
            out.append((rows, pool[start : start + take]))
            start += take
        return out

    def batch(self, item: tuple[np.ndarray, np.ndarray]) -> dict:
        """The labelled batch dict with ``unsup`` and ``unsup_aug`` sub-batches."""
        rows, unl = item
        batch = self.labeled.batch(rows)
        view = self.views[self.epoch % len(self.views)]
        pad = self.labeled.pad_id
        batch["unsup"] = collate([self.unlabeled[i] for i in unl], pad)
        batch["unsup_aug"] = collate([view[i] for i in unl], pad)
        return batch

    def __iter__(self):
        for item in self.order():
            yield self.batch(item)
