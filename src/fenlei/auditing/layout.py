"""The names of what ``fenlei audit -o DIR`` writes into DIR; only the auditing package knows them."""

from __future__ import annotations

FOLDS = "folds"  # one ordinary run directory per fold: folds/1, folds/2, ...
SUSPECTS = "suspects.tsv"  # the flagged texts, most suspect first
CONFLICTS = "conflicts.tsv"  # duplicate texts (exact or near) that carry different labels
REPORT = "audit.html"
SUMMARY = "audit.json"  # the figures of the report, and what a rerun with the same command reuses
CLEANED = "train.cleaned.tsv"  # --apply: the train rows without the flagged ones
