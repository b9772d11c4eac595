"""The limits of a search: its time budget, what an epoch costs, and the size and latency a
trial's model may have."""

from __future__ import annotations

import math
import shutil
import statistics
import time
from pathlib import Path

from fenlei.config import Config, load_config
from fenlei.errors import ConfigError, FenleiError
from fenlei.rundir import RunDir
from fenlei.training.auto_defaults import auto_batch_size

PROBE_TEXTS = 1000  # texts of the one-epoch timing run of a family trained from scratch
PROBE_TEXTS_PRETRAINED = 192  # ... and of a pretrained encoder (6 steps of 32), whose steps cost far more


def fit_fits(study, left_s: float) -> bool:
    """Whether a closed-form fit, which no deadline can stop, is likely to end in ``left_s``: the
    median time of the study's finished fits (unknown before the first: yes)."""
    done = [
        float(t.user_attrs["seconds"])
        for t in study.get_trials(deepcopy=False)
        if t.state.is_finished() and "seconds" in t.user_attrs and "error" not in t.user_attrs
    ]
    return not done or statistics.median(done) <= left_s


def check_limits(run_dir: Path, opts, texts: list[str]) -> dict:
    """The trial's model size and single-text latency, and why it is rejected if it is."""
    out: dict = {"size_mb": RunDir(run_dir).model_bytes() / 1e6, "excess": {}}
    reasons = []
    if opts.max_size_mb:
        out["excess"]["size_mb"] = out["size_mb"] - opts.max_size_mb
        if out["size_mb"] > opts.max_size_mb:
            reasons.append(f"{out['size_mb']:.1f} MB > --max-size {opts.max_size_mb:g} MB")
    if opts.max_latency_ms:
        out["latency_ms"] = latency_ms(run_dir, texts)
        out["excess"]["latency_ms"] = out["latency_ms"] - opts.max_latency_ms
        if out["latency_ms"] > opts.max_latency_ms:
            reasons.append(f"{out['latency_ms']:.2f} ms > --max-latency-ms {opts.max_latency_ms:g}")
    if reasons:
        out["rejected"] = "; ".join(reasons)
    return out


def latency_ms(run_dir: Path, texts: list[str]) -> float:
    """Median milliseconds of one ``Predictor.predict`` call on one text (after a warm-up)."""
    from fenlei.inference.predictor import Predictor

    predictor = Predictor(run_dir)
    predictor.predict(texts[:3])
    times = []
    for text in texts[:50]:
        t0 = time.perf_counter()
        predictor.predict([text])
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def texts_for_latency(cfg: Config, splits=None) -> list[str]:
    """Up to 50 dev texts (else train) to time single-text predictions on; ``splits`` when the
    caller has them already, else read from ``cfg``."""
    if splits is None:
        from fenlei.data.loading import load_splits

        splits = load_splits(cfg.data)
    return list(splits.dev.texts[:50]) or list(splits.train.texts[:50])


def duration_text(seconds: float) -> str:
    seconds = max(0.0, float(seconds))
    if seconds >= 3600:
        return f"{seconds / 3600:.1f}h"
    if seconds >= 60:
        return f"{math.ceil(seconds / 60)}m"
    return f"{math.ceil(seconds)}s"


def parse_duration(text: str) -> float:
    """Seconds of ``30m``, ``90s``, ``1.5h`` or a plain number of seconds."""
    units = {"s": 1, "m": 60, "h": 3600}
    text = str(text).strip().lower()
    try:
        value = float(text[:-1]) * units[text[-1]] if text and text[-1] in units else float(text)
    except ValueError:
        raise ConfigError(f"--time {text!r}: give a duration like 90s, 30m or 1.5h") from None
    if not value > 0:
        raise ConfigError(f"--time {text!r}: the budget must be positive")
    return value


def parse_size_mb(text: str) -> float:
    """Megabytes of ``20MB``, ``500kB``, ``1.5GB`` or a plain number of megabytes."""
    units = {"kb": 1e-3, "mb": 1.0, "gb": 1e3}
    t = str(text).strip().lower().replace(" ", "")
    unit = next((u for u in units if t.endswith(u)), None)
    try:
        value = float(t[: -len(unit)]) * units[unit] if unit else float(t)
    except ValueError:
        raise ConfigError(f"--max-size {text!r}: give a size like 20MB or 500kB") from None
    if not value > 0:
        raise ConfigError(f"--max-size {text!r}: the limit must be positive")
    return value


def time_epoch(
    sets, splits, run_dir: Path, cls, say, limit_s: float | None = None
) -> tuple[float, float] | None:
    """Seconds of one epoch on all of train, and of the rest of a run (set-up, evaluation),
    from one epoch on a sample of it (fewer texts for a pretrained encoder); ``limit_s`` stops
    the sample's epoch early (the steps done so far time it: IMDb's 512-token windows took 2 min)."""
    from fenlei.data.examples import Examples
    from fenlei.training.pipeline import train
    from fenlei.tuning.callbacks import Deadline, StepClock

    clock = StepClock()
    watch = [Deadline(time.monotonic() + limit_s)] if limit_s else []
    n = min(len(splits.train), PROBE_TEXTS_PRETRAINED if cls.pretrained_weights else PROBE_TEXTS)
    step = max(1, len(splits.train) // n)
    pick = list(range(0, len(splits.train), step))[:n]  # spread over the file, whatever its order
    tr = Examples([splits.train.texts[i] for i in pick], [splits.train.labels[i] for i in pick], "sample")
    k = min(len(splits.dev), n // 4 or 1)
    dev_pick = list(range(0, len(splits.dev), max(1, len(splits.dev) // k)))[:k]  # a file sorted by label
    dv = Examples([splits.dev.texts[i] for i in dev_pick], [splits.dev.labels[i] for i in dev_pick], "sample")
    try:
        batch = load_config(None, sets).train.batch_size
        if batch == "auto":  # the batch the whole train set gets: a step's cost depends on it
            batch = auto_batch_size(cls.batch_size, len(splits.train))
        # unseen_labels skip: a sample of a set with rare labels (Reuters) has dev labels its train lacks
        one = [*sets, "train.epochs=1", f"train.batch_size={batch}", "data.unseen_labels=skip"]
        cfg = load_config(None, one)
        m = train(cfg, run_dir, train=tr, dev=dv, quiet=True, callbacks=[clock, *watch]).metrics
    except FenleiError as err:
        say(f"  {cls.__name__}: cannot train here ({err})")
        return None
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    per_step = clock.per_step() or m["train"]["seconds"] / max(m["train"]["steps"], 1)
    eval_texts = len(splits.dev) + (len(splits.test) if splits.test is not None else 0)
    # set-up as measured, plus evaluating dev and test: a forward pass costs about a third of a
    # training step's forward and backward
    overhead = m["train"]["total_seconds"] - m["train"]["seconds"] + per_step / batch / 3 * eval_texts
    return per_step * math.ceil(len(splits.train) / batch), overhead
