"""The training texts a run learns from: labelled (plus augmented copies) and unlabelled (plus views).

Augmentation runs before the run directory exists (so a bad setting fails first) into a
scratch folder; ``save_cache`` then moves those files into ``run_dir/augment/`` where a
resumed run finds them instead of augmenting again.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from fenlei.config import Config
from fenlei.data.loading import Splits
from fenlei.data.semi import unlabeled_texts
from fenlei.objectives import UnlabeledViews
from fenlei.rundir import AUGMENT as AUGMENT_DIR


@dataclass
class TrainData:
    """Labelled train texts with their label ids, and unlabelled texts with augmented views."""

    splits: Splits
    texts: list[str]
    ids: list[int]
    unlabeled: list[str] = field(default_factory=list)
    views: list[list[str]] = field(default_factory=list)  # views[v][i] is a view of unlabeled[i]
    view_ratio: int = 0  # unlabelled texts per labelled text in a batch (when there are views)
    notes: dict[str, int] = field(default_factory=dict)
    cache: Path | None = None  # scratch folder holding the augmentation cache files

    @property
    def vocab_texts(self) -> list[str]:
        """Texts the vocabulary is built from: unlabelled text is text too, whatever the labels."""
        return self.texts + self.unlabeled


def prepare_train_data(
    cfg: Config, splits: Splits, run_dir: Path, resume: bool, views: UnlabeledViews | None = None
) -> TrainData:
    """Hide labels / read unlabelled text, and make the augmented copies the config asks for and
    the unlabelled ``views`` the objective asks for (None: it learns from labelled text only)."""
    splits, unlabeled = unlabeled_texts(cfg, splits, cfg.objective.name, views is not None)
    data = TrainData(splits, list(splits.train.texts), list(splits.train_ids))
    # Unlabelled text is trained on only with views, but its words belong in the vocabulary anyway.
    data.unlabeled = unlabeled
    if not (cfg.augment.copies or views):
        return data
    from fenlei.data.augment import augment_cached, build_augmenter
    from fenlei.data.augment_ops import TextOpSettings

    existing = run_dir / AUGMENT_DIR
    data.cache = existing if resume and existing.is_dir() else Path(tempfile.mkdtemp(prefix="fenlei-aug-"))
    corpus = data.texts + data.unlabeled
    vectors = cfg.augment.vectors or cfg.model.vectors
    a = cfg.augment
    text = TextOpSettings(a.language, tuple(a.fallback), a.translate_threads, cfg.train.progress)
    if cfg.augment.copies:
        augmenter = build_augmenter(
            a.ops,
            a.rate,
            corpus=corpus,
            seed=cfg.train.seed,
            vectors=vectors,
            neighbours=a.neighbours,
            text=text,
        )
        copies = augment_cached(augmenter, data.texts, data.cache / "train.json", a.copies)
        base_texts, base_ids = list(data.texts), list(data.ids)
        for copy in copies:
            data.texts += copy
            data.ids += base_ids
        data.notes["train_augmented_copies"] = len(base_texts) * len(copies)
    if views:
        augmenter = build_augmenter(
            list(views.ops),
            views.rate,
            corpus=corpus,
            seed=cfg.train.seed,
            vectors=vectors,
            neighbours=cfg.augment.neighbours,
            text=text,
        )
        data.views = augment_cached(augmenter, data.unlabeled, data.cache / "unlabeled.json", views.views)
        data.view_ratio = views.ratio
    return data


def save_cache(data: TrainData, run_dir: Path) -> None:
    """Move the augmentation cache into the run directory (no-op when it is already there)."""
    target = run_dir / AUGMENT_DIR
    if data.cache is None or data.cache.resolve() == target.resolve():
        return
    target.mkdir(parents=True, exist_ok=True)
    for item in data.cache.iterdir():
        shutil.move(str(item), target / item.name)
    shutil.rmtree(data.cache, ignore_errors=True)
    data.cache = target
