"""Resume policy: which config a resumed run continues with, and what may change on resume."""

from __future__ import annotations

from pathlib import Path

from fenlei.config import Config, load_config
from fenlei.errors import FenleiError
from fenlei.resolve import resolve
from fenlei.rundir import CONFIG, RunDir

# Keys a resumed run may change: they do not alter what was trained so far.
RESUME_FREE = {
    "train": {
        "epochs",
        "patience",
        "progress",
        "threads",
        "tensorboard",
        "report",
        "checkpoint_every",
        "checkpoint_minutes",
        "device",
        "eval_batch_size",
    },
}


def config_for_resume(run_dir: Path, config: str | Path | None, overrides: list[str]) -> Config:
    """The config a resumed run continues with: its saved config.yaml plus ``overrides``.

    A config file given as well must agree with the saved one except on RESUME_FREE keys.
    """
    rd = RunDir(run_dir)
    if not (rd / CONFIG).is_file():
        raise FenleiError(f"{run_dir}: no {CONFIG}, so this is not a run to resume; train without --resume")
    saved = rd.read_config(overrides)
    if config is None:
        return saved
    given = load_config(config, overrides)
    # both resolved, so that defaults filled in at the start of the first run compare equal
    a, b = resolve(saved, in_memory=True).cfg.to_dict(), resolve(given, in_memory=True).cfg.to_dict()
    changed = [
        f"{section}.{key}"
        for section in a
        for key in a[section]
        if a[section][key] != b.get(section, {}).get(key) and key not in RESUME_FREE.get(section, ())
    ]
    if changed:
        raise FenleiError(
            f"{config} differs from the config {run_dir} was trained with in {', '.join(changed)}; "
            "resume without a config (the saved one is used) or start a new run"
        )
    return given
