"""Distillation: a classic student trained on a transformer teacher's probabilities, against the same
student trained on the labels alone, same seeds.

For each (student, teacher) pair and seed: the teacher recipe is trained with that seed (or
reused from ``--teachers DIR`` as ``DIR/{teacher}-s{seed}``), then the student recipe runs as
it is and with ``objective.name=distill objective.teacher=...``. The table shows both means ±
std, the difference, whichever way it goes, and the teachers' accuracy. Writes
benchmarks/results/distill.json.

    python benchmarks/distill.py                                    # both pairs, 3 seeds (~1 h)
    python benchmarks/distill.py --pairs sst2-textcnn:sst2-minilm --seeds 1
    python benchmarks/distill.py --teachers runs/bench                 # reuse trained teachers
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from classic import ROOT, mean_std, run_meta, run_one  # noqa: E402

PAIRS = ["sst2-textcnn:sst2-minilm", "thucnews-textcnn:thucnews-e5"]


def teacher_run(teacher: str, seed: int, out: Path, reuse: Path | None) -> tuple[Path, dict]:
    """The teacher's run directory for ``seed`` (trained here unless ``reuse`` holds it) and its row."""
    if reuse is not None and (reuse / f"{teacher}-s{seed}" / "metrics.json").is_file():
        run_dir = reuse / f"{teacher}-s{seed}"
        m = json.loads((run_dir / "metrics.json").read_text())
        row = {"recipe": teacher, "seed": seed, "accuracy": m["test"]["accuracy"], "reused": str(run_dir)}
        return run_dir, row
    row = run_one(teacher, seed, out / "teachers", [])
    return out / "teachers" / f"{teacher}-s{seed}", row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", nargs="+", default=PAIRS, help="STUDENT:TEACHER recipe names")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--teachers", type=Path, help="reuse teacher runs DIR/{teacher}-s{seed}")
    parser.add_argument("--set", dest="extra", action="append", default=[], help="extra override for distill")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench-distill")
    args = parser.parse_args()
    rows = []
    for pair in args.pairs:
        student, _, teacher = pair.partition(":")
        for seed in range(1, args.seeds + 1):
            teacher_dir, trow = teacher_run(teacher, seed, args.out, args.teachers)
            trow.update(mode="teacher", pair=pair)
            rows.append(trow)
            plain = run_one(student, seed, args.out / "ce", [])
            plain.update(mode="ce", pair=pair)
            distill = ["objective.name=distill", f"objective.teacher={teacher_dir}", *args.extra]
            kd = run_one(student, seed, args.out / "distill", distill)
            kd.update(mode="distill", pair=pair)
            for row in (plain, kd):
                print(json.dumps(row), file=sys.stderr, flush=True)
            rows += [plain, kd]
    meta = run_meta() | {"extra": args.extra}
    results = ROOT / "benchmarks" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "distill.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    print(f"date {meta['date']}; commit {meta['commit']}; extra {args.extra}\n")
    print(table(rows))


def _cell(rows: list[dict]) -> tuple[str, float | None]:
    ok = [r for r in rows if "error" not in r]
    if not ok:
        return (f"failed: {rows[0]['error']}" if rows else "not run"), None
    acc, sd = mean_std([r["accuracy"] for r in ok])
    seeds = ", ".join(f"{r['accuracy']:.4f}" for r in ok)
    return f"{acc:.4f} ± {sd:.4f} ({seeds})", acc


def table(rows: list[dict]) -> str:
    lines = [
        "| student <- teacher | teacher accuracy | student, labels only | student, distilled | difference |",
        "|---|---|---|---|---|",
    ]
    for pair in dict.fromkeys(r["pair"] for r in rows):
        mine = [r for r in rows if r["pair"] == pair]
        cells = {m: _cell([r for r in mine if r["mode"] == m]) for m in ("teacher", "ce", "distill")}
        ce, kd = cells["ce"][1], cells["distill"][1]
        diff = f"{100 * (kd - ce):+.2f} points" if ce is not None and kd is not None else ""
        student, _, teacher = pair.partition(":")
        t, c, k = (cells[m][0] for m in ("teacher", "ce", "distill"))
        lines.append(f"| {student} <- {teacher} | {t} | {c} | {k} | {diff} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
