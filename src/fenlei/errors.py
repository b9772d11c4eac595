"""The one error type a user can cause, with subclasses by area.

Every message names the file, line or config key involved and says what to do.
The CLI prints ``str(err)`` on one line and exits with code 2.
"""

from __future__ import annotations

# `fenlei compare` sets this for each child run: the CLI writes the run's one-line error there,
# so the comparison table can name the cause while the child's stderr goes to the terminal.
ERROR_FILE_ENV = "FENLEI_ERROR_FILE"


class FenleiError(Exception):
    """Base class for every error a user can cause (bad file, bad config, unknown name)."""


class ConfigError(FenleiError):
    """A config key is unknown, missing or has a bad value."""


class DataError(FenleiError):
    """An input file is missing, malformed or inconsistent."""


class ModelError(FenleiError):
    """A model name is unknown or a model cannot be built from the given settings."""


class TrainingInterrupted(FenleiError):
    """SIGINT/SIGTERM stopped training after a step; the checkpoint to resume from is saved."""


class RunDirError(FenleiError):
    """A run directory is missing files or holds files that cannot be read."""
