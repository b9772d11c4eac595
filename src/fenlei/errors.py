"""The one error type a user can cause, with subclasses by area.

Every message names the file, line or config key involved and says what to do.
The CLI prints ``str(err)`` on one line and exits with code 2.
"""

from __future__ import annotations

# `fenlei compare` sets this for each child run: the CLI writes the run's one-line error there,
# so the comparison table can name the cause while the child's stderr goes to the terminal.
ERROR_FILE_ENV = "FENLEI_ERROR_FILE"


_MAX_MESSAGE = 2000  # characters of a message kept; the middle of a longer one is cut


class FenleiError(Exception):
    """Base class for every error a user can cause (bad file, bad config, unknown name)."""

    def __str__(self) -> str:
        # The CLI prints this as one line, but messages quote cells, labels and keys from the
        # user's files, which may hold line breaks or be a megabyte long.
        return one_line(super().__str__(), _MAX_MESSAGE)


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


def one_line(text: str, limit: int) -> str:
    """``text`` with line breaks and tabs escaped, at most about ``limit`` characters (middle cut)."""
    text = text.translate(_ESCAPES)
    if len(text) <= limit:
        return text
    keep = limit // 2
    return f"{text[:keep]} ...[{len(text) - 2 * keep:,} characters cut]... {text[-keep:]}"


def brief(value: object, limit: int = 60) -> str:
    """``value`` as text cut to about ``limit`` characters, for quoting user data in a message."""
    text = str(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def brief_list(values, limit: int = 10) -> str:
    """The first ``limit`` values, each cut by ``brief``, joined by commas ("... (N in all)" after)."""
    values = list(values)
    shown = ", ".join(brief(v, 40) for v in values[:limit])
    return shown + (f", ... ({len(values):,} in all)" if len(values) > limit else "")


# what would break the one line the CLI prints (U+2028/9 end a line in some terminals and editors)
_ESCAPES = str.maketrans({"\n": "\\n", "\r": "\\r", "\t": "\\t", "\x00": "\\0", "\u2028": " ", "\u2029": " "})
