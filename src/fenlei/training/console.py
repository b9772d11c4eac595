"""What a run prints: the plan line before training (a callback) and the final line after."""

from __future__ import annotations

import time
from pathlib import Path

from fenlei.config import Config
from fenlei.training.callbacks import Callback
from fenlei.training.distributed import SINGLE


def default_run_dir(cfg: Config) -> Path:
    """runs/<data>-<model>-<time> when the user gives no -o."""
    data = cfg.data.name or (Path(cfg.data.train).parent.name if cfg.data.train else "data")
    return Path("runs") / f"{data}-{cfg.model.name}-{time.strftime('%Y%m%d-%H%M%S')}"


class PlanLine(Callback):
    """Prints what is about to train (data sizes, tokenizer, parameters, vectors, processes)."""

    def __init__(
        self,
        cfg: Config,
        splits,
        encoder,
        vec_info: dict,
        dist=SINGLE,
        auto_length: bool = False,
        auto: dict | None = None,
    ) -> None:
        self.cfg, self.splits, self.encoder, self.vec_info, self.dist = cfg, splits, encoder, vec_info, dist
        self.auto_length = auto_length
        self.auto = auto or {}  # settings left at auto and what the train data made of them

    def on_train_begin(self, trainer) -> None:
        from rich.console import Console

        cfg, splits, encoder, vec_info = self.cfg, self.splits, self.encoder, self.vec_info
        console = Console(stderr=True, highlight=False)
        params = sum(p.numel() for p in trainer.model.parameters())
        skipped = ", ".join(f"{k}={v}" for k, v in splits.notes.items()) or "none"
        test = len(splits.test) if splits.test is not None else 0
        length = f", max_length {encoder.max_length}" if encoder.max_length else " (whole texts)"
        if encoder.max_length and self.auto_length:
            length += " (auto: the longest training text, within the model's bound)"
        if encoder.window:
            pooling = cfg.model.params.get("window_pooling", "mean")
            length += (
                f", windows of {encoder.window} every {encoder.stride} tokens ({pooling} of their logits)"
            )
        console.print(
            f"[bold]{cfg.model.name}[/] on {len(splits.train)} train / {len(splits.dev)} dev / "
            f"{test} test texts, {len(splits.labels)} labels; tokenizer {encoder.kind}{length}, "
            f"vocab {encoder.vocab_size}, {params:,} parameters; skipped: {skipped}"
        )
        if self.auto:
            chosen = ", ".join(
                f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}" for k, v in self.auto.items()
            )
            console.print(f"from the train data (auto): {chosen}")
        if vec_info:
            console.print(
                f"vectors {vec_info['vectors']} ({vec_info['vectors_dim']}d): "
                f"{vec_info['vocab_oov_rate']:.1%} of the vocabulary not covered"
            )
        if self.dist.enabled:
            t = cfg.train
            console.print(
                f"distributed: {self.dist.world_size} processes ({self.dist.backend}) x batch {t.batch_size} "
                f"x accumulate {t.accumulate} = {self.dist.world_size * t.batch_size * t.accumulate} texts "
                f"per step; lr {t.lr:g} as configured (not scaled with the world size)"
            )


def final_line(metrics: dict, run_dir: Path) -> str:
    """One line with the headline test (or dev) metrics and where the run is."""
    split = "test" if "test" in metrics else "dev"
    m = metrics[split]
    parts = [f"{k} {m[k]:.4f}" for k in ("accuracy", "macro_f1", "mcc", "roc_auc") if m.get(k) is not None]
    return f"{split}: " + "  ".join(parts) + f"  ({metrics['train']['seconds']:.1f}s) -> {run_dir}"
