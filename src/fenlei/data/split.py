"""Hold out a dev set from train: stratified, deterministic under a seed."""

from __future__ import annotations

import random
from collections import defaultdict

from sklearn.model_selection import train_test_split

from fenlei.data.examples import Examples
from fenlei.errors import DataError


def stratified_split(examples: Examples, dev_ratio: float, seed: int) -> tuple[Examples, Examples]:
    """(train, dev) with about ``dev_ratio`` of each class in dev; rows keep their file order.

    Every class with two or more examples has at least one in dev; a class with a single
    example stays in train. Unlabelled examples are split at random.
    """
    if not 0.0 < dev_ratio < 1.0:
        raise ValueError(f"dev_ratio must be in (0, 1), got {dev_ratio}")
    where = examples.source or "train"
    if len(examples) < 2:
        raise DataError(f"{where}: {len(examples)} examples are too few to split off dev; give data.dev")
    if examples.labels is None:
        _, dev_idx = train_test_split(list(range(len(examples))), test_size=dev_ratio, random_state=seed)
    else:
        dev_idx = _stratified_dev(examples.labels, dev_ratio, seed)
    if not dev_idx:
        raise DataError(f"{where}: every class has one example, so no dev can be split off; give data.dev")
    dev_set = set(dev_idx)
    train = examples.subset([i for i in range(len(examples)) if i not in dev_set])
    train.skipped = dict(examples.skipped)  # the rows skipped while reading belong to the train file
    return train, examples.subset(sorted(dev_set))


def _stratified_dev(labels: list[str], dev_ratio: float, seed: int) -> list[int]:
    by_class: dict[str, list[int]] = defaultdict(list)
    for i, label in enumerate(labels):
        by_class[label].append(i)
    # singletons cannot be in both halves; sklearn refuses them in stratify, so they stay in train
    pool = [i for members in by_class.values() if len(members) > 1 for i in members]
    if not pool:
        return []
    try:
        _, dev = train_test_split(
            pool, test_size=dev_ratio, random_state=seed, stratify=[labels[i] for i in pool]
        )
    except ValueError:
        # too few rows for a stratified draw (dev smaller than the number of classes, ...)
        _, dev = train_test_split(pool, test_size=dev_ratio, random_state=seed)
    dev_set = set(dev)
    rng = random.Random(seed)
    for members in by_class.values():
        in_dev = dev_set.intersection(members)
        if len(members) > 1 and not in_dev:
            # sklearn rounds small classes down to zero dev rows; move one of them over
            dev_set.add(rng.choice(members))
        elif len(in_dev) == len(members):
            # the unstratified fallback may take a whole class; train must still see it
            dev_set.discard(rng.choice(sorted(in_dev)))
    return sorted(dev_set)
