"""The data profile: language, lengths, classes, repeats, conflicts and train/dev/test overlap,
found by hashing (no two texts are ever compared), with one warning line per finding that can
mislead a run. A run writes it as profile.json (``profile_run``); the report and ``fenlei data
profile`` show it."""

from __future__ import annotations

import re
import sys
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import cache

import numpy as np

from fenlei.data.examples import Examples
from fenlei.data.text import CJK, detect_language
from fenlei.rundir import PROFILE, RunDir

# When a finding becomes a warning.
# A leaked text lifts accuracy by at most its share times the error rate: under 1% that is
# below the seed-to-seed spread of most runs; above it a comparison between models can flip.
LEAK_SHARE = 0.01
# Exact repeats weigh a text several times over (and leak into a dev set split off train);
# a little is normal in scraped data, past 5% it changes what the model is fitted to.
DUPLICATE_SHARE = 0.05
# Past 10:1 plain cross-entropy mostly ignores the small class, and accuracy hides it.
MINORITY_SHARE = 0.1
# Under 10 train texts a class gets one or two dev/test texts at usual split sizes: its
# scores are noise and the model barely learns it.
MIN_CLASS_TEXTS = 10
# A split whose median length is twice (or half) train's is another kind of text: what the
# model learned, and the max_length chosen for train, may not carry over.
LENGTH_RATIO = 2.0
# Over a tenth of the texts cut at max_length: the rest of many documents is never seen.
TRUNCATED_SHARE = 0.1
EXAMPLES = 3  # texts (or names) quoted per finding
QUOTE_CHARS = 60  # characters of a quoted text

PERCENTILES = (50, 90, 95, 99)
SPLIT_NAMES = ("train", "dev", "test")
_LATIN = ((0x41, 0x5A), (0x61, 0x7A), (0xC0, 0xD6), (0xD8, 0xF6), (0xF8, 0x24F))  # letters
SPACE, HAN, LATIN = 1, 2, 3  # character classes of _tables (0: other)
_SKIPS = {"empty_text": "empty texts", "unseen_label": "rows with a label train does not have"}


def normalise(text: str) -> str:
    """Text as leakage is matched: NFKC, casefolded, punctuation and symbols out, spaces collapsed."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().translate(_tables()[1]).split())


@cache
def _tables() -> tuple[np.ndarray, dict[int, None]]:
    """Every code point's class (0 other, SPACE, HAN, LATIN); a translate table deleting P* and S*."""
    kind = np.zeros(0x110000, np.uint8)
    for a, b in re.findall(r"\\u(\w{4})-\\u(\w{4})", CJK):
        kind[int(a, 16) : int(b, 16) + 1] = HAN
    for a, b in _LATIN:
        kind[a : b + 1] = LATIN
    kind[[c for c in range(0x3001) if chr(c).isspace()]] = SPACE
    return kind, {c: None for c in range(0x30000) if unicodedata.category(chr(c))[0] in "PS"}


@dataclass
class SplitProfile:
    """One split: size, skips, script, lengths, labels, and (dev/test) overlap with train."""

    texts: int
    skipped: dict[str, int] = field(default_factory=dict)
    language: str | None = None  # None: texts not in memory (a streamed train)
    script: dict[str, float] = field(default_factory=dict)  # cjk/latin/other shares of non-space chars
    chars: dict[str, int] | None = None  # p50 p90 p95 p99 max
    tokens: dict[str, float] | None = None  # the same in Profile.token_unit; "truncated": share at max_length
    labels: dict[str, int] = field(default_factory=dict)  # texts per class (per label), most first
    labels_per_text: dict[str, int] | None = None  # multi-label: {"1": texts, "2": texts, ...}
    unseen_labels: dict[str, int] = field(default_factory=dict)  # labels train lacks: their texts
    in_train: dict | None = None  # dev/test: {"exact": n, "normalised": n, "examples": [...]}


@dataclass
class Profile:
    """The whole profile; ``to_dict`` is plain JSON (profile.json)."""

    language: str
    script: dict[str, float]
    token_unit: str
    max_length: int | None
    multi_label: bool
    splits: dict[str, SplitProfile]
    duplicates: dict[str, int] = field(default_factory=dict)  # train rows repeating an earlier one
    conflicts: dict = field(default_factory=dict)  # {"count": texts, "examples": [{text, labels}]}
    imbalance: dict | None = None  # {"largest": [name, n], "smallest": [name, n], "ratio": s/l}
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Profile:
        """What ``to_dict`` wrote (profile.json) as a Profile again."""
        return cls(**{**data, "splits": {k: SplitProfile(**v) for k, v in data["splits"].items()}})


def profile_data(
    splits_or_examples,
    *,
    tokenize: Callable[[list[str]], list] | None = None,
    token_lengths: Mapping[str, Sequence[int]] | None = None,
    token_unit: str = "tokens",
    max_length: int | None = None,
) -> Profile:
    """Profile train / dev / test: a Splits (skips from its notes; a streamed train gives its size
    and labels only), a mapping name -> Examples (train is the reference), a sequence (train, dev,
    test) or one Examples. Lengths in ``token_unit`` from ``tokenize(texts) -> token lists`` or
    ``token_lengths`` known per split, else in whitespace words (characters for Chinese);
    ``max_length``: the token limit whose cut texts are counted."""
    t0 = time.perf_counter()
    named = _named(splits_or_examples)  # name -> (texts or None, labels or None, skipped)
    lengths = dict(token_lengths or {})
    train_texts, train_labels, _ = named.get("train", (None, None, {}))
    scans = {k: _scan(v[0]) for k, v in named.items() if v[0] is not None}
    language = detect_language(train_texts or [t for v in named.values() for t in v[0] or []])
    unit = token_unit
    if tokenize is None and not lengths:
        unit = "characters" if language == "zh" else "whitespace words"
        lengths = {k: scan[2 if language == "zh" else 1] for k, scan in scans.items()}
    listed = any(isinstance(y, list) for _, labels, _ in named.values() for y in labels or [])
    out = {
        k: _split(*v, scans.get(k), lengths.get(k), tokenize, max_length, listed) for k, v in named.items()
    }
    script = _shares(sum((scan[0] for scan in scans.values()), np.zeros(4, np.int64)))  # all texts
    p = Profile(language, script, unit, max_length, listed, out)
    if train_texts is not None:
        _against_train(p, named)
    elif "train" in named:
        p.notes.append("train is streamed from disk: only its size and labels are profiled")
    if train_labels is not None:
        known = out["train"].labels
        for name, (_, labels, _) in named.items():
            unseen = Counter(n for y in labels or [] for n in set(_names(y)) if n not in known)
            out[name].unseen_labels = dict(unseen.most_common())
        if known:
            (big, n_big), (small, n_small) = next(iter(known.items())), list(known.items())[-1]
            p.imbalance = {"largest": [big, n_big], "smallest": [small, n_small], "ratio": n_small / n_big}
    p.warnings = findings(p)
    p.seconds = round(time.perf_counter() - t0, 3)
    return p


def _named(data) -> dict[str, tuple]:
    if isinstance(data, Examples):
        data = {"train": data}
    elif hasattr(data, "train_ids"):  # a Splits: skip counts in its notes, as "{split}_{reason}"
        skips: dict[str, dict[str, int]] = {name: {} for name in SPLIT_NAMES}
        for key, n in data.notes.items():
            split, _, reason = key.partition("_")
            skips.get(split, {})[reason] = n
        out = {}
        for name in SPLIT_NAMES:
            ex = getattr(data, name)
            if isinstance(ex, Examples):
                out[name] = (ex.texts, ex.labels, skips[name])
            elif ex is not None:  # a streamed train: texts on disk, label ids in memory
                out[name] = (None, [data.labels.names[i] for i in data.train_ids], skips[name])
        return out
    elif not isinstance(data, Mapping):
        data = dict(zip(SPLIT_NAMES, data, strict=False))
    return {k: (v.texts, v.labels, dict(v.skipped)) for k, v in data.items() if v is not None}


def _split(texts, labels, skipped, scan, lengths, tokenize, max_length, listed: bool) -> SplitProfile:
    p = SplitProfile(len(texts) if texts is not None else len(labels or []), dict(skipped))
    if texts is not None:
        p.language, p.script = detect_language(texts), _shares(scan[0])
        p.chars = _percentiles(np.fromiter(map(len, texts), np.int64, len(texts)))
        if lengths is None and tokenize is not None:
            lengths = [len(t) for t in tokenize(list(texts))]
    if lengths is not None and len(lengths):
        a = np.asarray(lengths, dtype=np.int64)
        p.tokens = _percentiles(a)
        if max_length:
            p.tokens["truncated"] = round(float(np.mean(a >= max_length)), 4)
    if labels is not None:
        rows = [_names(y) for y in labels]
        p.labels = dict(sorted(Counter(n for r in rows for n in r).items(), key=lambda kv: (-kv[1], kv[0])))
        if listed:
            p.labels_per_text = {str(k): v for k, v in sorted(Counter(map(len, rows)).items())}
    return p


def _against_train(p: Profile, named: dict[str, tuple]) -> None:
    """Repeats and label conflicts inside train; dev/test texts found in train (by hash)."""
    texts, labels, _ = named["train"]
    first: dict[str, int] = {}
    keys: dict[str, set] = {}  # a repeated text -> the label sets it occurs with
    extra = 0
    for i, text in enumerate(texts):
        j = first.setdefault(text, i)
        if j != i:
            extra += 1
            if labels is not None:
                keys.setdefault(text, {_key(labels[j])}).add(_key(labels[i]))
    norm = {hash(normalise(t)) for t in texts}
    p.duplicates = {"exact": extra, "normalised": len(texts) - len(norm)}
    clash = [(t, sorted(k)) for t, k in keys.items() if len(k) > 1]
    examples = [{"text": t, "labels": [" | ".join(x) for x in k]} for t, k in clash[:EXAMPLES]]
    p.conflicts = {"count": len(clash), "examples": examples}
    for name, (split_texts, _, _) in named.items():
        if name != "train" and split_texts is not None:
            exact = sum(t in first for t in split_texts)
            found = [t for t in split_texts if hash(normalise(t)) in norm]
            p.splits[name].in_train = {"exact": exact, "normalised": len(found), "examples": found[:EXAMPLES]}


def findings(p: Profile) -> list[str]:
    """One line per thing in the profile that can mislead a run (thresholds: module constants)."""
    out: list[str] = []
    for reason in dict.fromkeys(r for s in p.splits.values() for r, n in s.skipped.items() if n):
        by = [(k, s.skipped[reason]) for k, s in p.splits.items() if s.skipped.get(reason)]
        what, where = _SKIPS.get(reason, reason.replace("_", " ")), ", ".join(f"{k} {n:,}" for k, n in by)
        out.append(f"{what} were skipped: {sum(n for _, n in by):,} ({where})")
    if p.conflicts.get("count"):
        eg = "; ".join(f"{_quote(c['text'])}: {' vs '.join(c['labels'])}" for c in p.conflicts["examples"])
        n = p.conflicts["count"]
        out.append(f"{n:,} texts occur in train with different labels (e.g. {eg}); training goes on")
    train = p.splits.get("train")
    if train and train.texts and p.duplicates.get("exact", 0) / train.texts > DUPLICATE_SHARE:
        n = p.duplicates["exact"]
        out.append(f"{n / train.texts:.1%} of train texts ({n:,}) repeat an earlier train text exactly")
    for name, s in p.splits.items():
        hit = s.in_train or {}
        if s.texts and hit.get("normalised", 0) / s.texts >= LEAK_SHARE:
            share, exact = hit["normalised"] / s.texts, hit["exact"] / s.texts
            eg = ", ".join(_quote(t) for t in hit["examples"])
            out.append(
                f"{share:.1%} of {name} texts also occur in train (normalised; {exact:.1%} exactly): "
                f"{name} accuracy overstates (e.g. {eg})"
            )
        if s.unseen_labels:
            out.append(
                f"{name} has labels train never has ({_some(s.unseen_labels)}); a run skips or refuses them"
            )
    return out + (_classes(p, train) + _shifts(p, train) if train else [])


def _classes(p: Profile, train: SplitProfile) -> list[str]:
    """Small classes in train; classes a dev/test split has no text of."""
    if not train.labels:
        return []
    noun, nouns = ("label", "labels") if train.labels_per_text is not None else ("class", "classes")
    top = max(train.labels.values())
    small = [(k, n) for k, n in train.labels.items() if n < MINORITY_SHARE * top or n < MIN_CLASS_TEXTS]
    out = [f"{noun} {k!r} has {n:,} train texts, {n / top:.0%} of the largest" for k, n in small]
    if len(small) > EXAMPLES:
        few = _some(dict(small[::-1]), counts=True)
        out = [f"{len(small)} {nouns} have under {MINORITY_SHARE:.0%} of the largest's {top:,} texts: {few}"]
    for name, s in p.splits.items():
        missing = [k for k in train.labels if s.labels and k not in s.labels]
        if missing:
            out.append(f"{name} has no texts of {len(missing)} train {nouns} ({_some(missing)})")
    return out


def _shifts(p: Profile, train: SplitProfile) -> list[str]:
    """Splits unlike train in script or length; texts cut at max_length."""
    out = []
    for name, s in p.splits.items():
        if name == "train" or not (s.chars and train.chars):
            continue
        if s.language != train.language:
            cjk = f"{s.script['cjk']:.0%} vs {train.script['cjk']:.0%} CJK"
            out.append(f"{name} texts read as {s.language} but train texts as {train.language} ({cjk})")
        a, b = s.chars["p50"], train.chars["p50"]
        if a > train.chars["max"]:
            out.append(f"{name} texts are longer than every train text: p50 {a:,} vs {b:,} characters")
        elif a >= LENGTH_RATIO * b or a * LENGTH_RATIO <= b:
            how = "longer" if a > b else "shorter"
            out.append(f"{name} texts are {how} than train texts: p50 {a:,} vs {b:,} characters")
    cut = {k: s.tokens["truncated"] for k, s in p.splits.items() if s.tokens and "truncated" in s.tokens}
    if any(v >= TRUNCATED_SHARE for v in cut.values()):
        shares = ", ".join(f"{k} {v:.0%}" for k, v in cut.items())
        out.append(f"texts reach max_length ({p.max_length} {p.token_unit}) and are cut: {shares}")
    return out


def profile_run(rd: RunDir, splits, encoder, train_tokens, *, quiet: bool = False) -> Profile:
    """The run's splits into profile.json and on stderr (the table unless ``quiet``, warnings always),
    lengths in the encoder's tokens (train's: ``train_tokens`` from fit); words for TF-IDF n-grams."""
    limit = getattr(encoder, "max_length", 0) or None
    tokenize = getattr(encoder, "tokenize", encoder.encode) if limit else None
    lengths = {}
    if tokenize is not None and train_tokens is not None and not encoder.window:
        lengths["train"] = [len(t) for t in train_tokens[: len(splits.train)]]  # windowed: ask tokenize
    unit = f"{encoder.kind} tokens"
    p = profile_data(splits, tokenize=tokenize, token_lengths=lengths, token_unit=unit, max_length=limit)
    rd.write_json(PROFILE, p.to_dict())
    show_profile(p, table=not quiet)
    return p


def show_profile(p: Profile, *, file=None, table: bool = True) -> None:
    """A short table and a few lines (``table``), then the warnings, on ``file`` (stderr)."""
    from rich.console import Console
    from rich.table import Table

    console = Console(file=file or sys.stderr, highlight=False, soft_wrap=True)
    if table:
        shares = ", ".join(f"{k} {v:.0%}" for k, v in p.script.items())
        t = Table(title=f"data profile: {p.language} ({shares})", title_justify="left")
        for h in ("split", "texts", "skipped", "chars p50/p95/max", f"{p.token_unit} p50/p95/max"):
            t.add_column(h, justify="left" if h == "split" else "right")
        t.add_column("in train exact / norm.", justify="right")
        for name, s in p.splits.items():
            c, k = (_pcts(d) for d in (s.chars, s.tokens))
            hit = "-" if s.in_train is None else f"{s.in_train['exact']:,} / {s.in_train['normalised']:,}"
            t.add_row(name, f"{s.texts:,}", f"{sum(s.skipped.values()):,}", c, k, hit)
        console.print(t)
        for line in [*summary_lines(p), *p.notes, f"profiled in {p.seconds:.2f}s"]:
            console.print(line, markup=False)
    for w in p.warnings:
        console.print(f"warning: {w}", markup=False, style="yellow")


def summary_lines(p: Profile) -> list[str]:
    """What the table leaves out: class balance, labels per text, repeats and conflicts in train."""
    out, train, m = [], p.splits.get("train"), p.imbalance
    if train and m:
        (big, n_big), (small, n_small) = m["largest"], m["smallest"]
        out.append(f"{len(train.labels)} labels in train: largest {big!r} {n_big:,}, smallest {small!r} ")
        out[-1] += f"{n_small:,} (ratio {m['ratio']:.3g})"
    if train and train.labels_per_text:
        per = ", ".join(f"{k}: {v:,}" for k, v in train.labels_per_text.items())
        out.append(f"labels per train text: {per}")
    if p.duplicates:
        d, n = p.duplicates, p.conflicts.get("count", 0)
        out.append(f"train repeats: {d['exact']:,} exact, {d['normalised']:,} normalised; ")
        out[-1] += f"{n:,} texts with different labels"
    return out


def _pcts(d: dict | None) -> str:
    return " / ".join(f"{d[q]:,}" for q in ("p50", "p95", "max")) if d else "-"


def _scan(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Characters per class (other, SPACE, HAN, LATIN), and per text its whitespace words and
    non-space characters: counted by numpy over the code points of texts joined in chunks."""
    kind, counts, words, solid = _tables()[0], np.zeros(4, np.int64), [], []
    for i in range(0, len(texts), 2000):
        chunk = texts[i : i + 2000]
        # a space after every text: an empty text sums to 0 and no offset runs past the end
        cls = kind[np.frombuffer((" ".join(chunk) + " ").encode("utf-32-le", "surrogatepass"), np.uint32)]
        counts += np.bincount(cls, minlength=4)
        space = cls == SPACE
        starts = np.cumsum([0, *(len(t) + 1 for t in chunk[:-1])])
        first = ~space & np.concatenate(([True], space[:-1]))  # the first character of a word
        words.append(np.add.reduceat(first.astype(np.int64), starts))
        solid.append(np.add.reduceat((~space).astype(np.int64), starts))
    empty = np.zeros(0, np.int64)
    return counts, np.concatenate([*words, empty]), np.concatenate([*solid, empty])


def _shares(counts: np.ndarray) -> dict[str, float]:
    """CJK, Latin and other (digits, punctuation, other scripts) shares of non-space characters."""
    total = int(counts.sum() - counts[SPACE])
    cjk, latin = (round(float(counts[c] / total), 4) if total else 0.0 for c in (HAN, LATIN))
    return {"cjk": cjk, "latin": latin, "other": round(1 - cjk - latin, 4) if total else 0.0}


def _percentiles(a: np.ndarray) -> dict[str, int] | None:
    """Nearest-rank percentiles: the smallest length that p% of the texts do not exceed."""
    if not len(a):
        return None
    q = np.percentile(a, PERCENTILES, method="inverted_cdf")
    return {**{f"p{p}": int(v) for p, v in zip(PERCENTILES, q, strict=True)}, "max": int(a.max())}


def _names(label) -> list:
    return label if isinstance(label, list) else [label]


def _key(label) -> tuple:
    return tuple(sorted(set(_names(label))))


def _some(names, counts: bool = False) -> str:
    """Up to EXAMPLES names quoted (with their counts), and how many more."""
    shown = [f"{k!r} {names[k]:,}" if counts else repr(k) for k in list(names)[:EXAMPLES]]
    return ", ".join(shown) + (f" and {len(names) - EXAMPLES} more" if len(names) > EXAMPLES else "")


def _quote(text: str) -> str:
    t = " ".join(text.split())
    return repr(t if len(t) <= QUOTE_CHARS else t[: QUOTE_CHARS - 1] + "…")
