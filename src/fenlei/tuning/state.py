"""DIR/tune.json: the seconds one search's worker has used, so a resumed command keeps its budget
(and its seed confirmations, confirm.py)."""

from __future__ import annotations

import json
from pathlib import Path

STATE = "tune.json"


def read_state(out: Path) -> dict:
    """The state of the search in ``out``; a new search has used no seconds."""
    path = Path(out) / STATE
    if path.is_file():
        return json.loads(path.read_text())
    return {"seconds_used": 0.0}


def write_state(out: Path, state: dict) -> None:
    """Save ``state`` as ``out``/tune.json."""
    (Path(out) / STATE).write_text(json.dumps(state) + "\n")


def seconds_used(out: Path) -> float:
    """The seconds a search in ``out`` has spent so far (0 for none): what a longer --time adds to."""
    return float(read_state(out)["seconds_used"]) if Path(out).is_dir() else 0.0
