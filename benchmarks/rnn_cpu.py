"""Why the recurrent families skip packing on CPU: a training step of the same BiLSTM, packed
(``pack_padded_sequence``, what cuDNN wants) against the unpacked path fenlei runs on CPU
(``fenlei.models.rnn_unpacked``: fused kernel over the padded batch, the backward direction
reversed within each length). Both are timed alternately in one process, so the ratio holds
on a noisy machine; the outputs are checked equal first.

    python benchmarks/rnn_cpu.py                      # 64 texts, lengths 100 / 250 / 500
    python benchmarks/rnn_cpu.py --threads 1 --lengths 500
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))
from classic import ROOT, merge_results, run_meta  # noqa: E402

from fenlei.models.rnn import make_rnn  # noqa: E402
from fenlei.models.rnn_unpacked import run_rnn_unpacked  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "rnn_cpu.json"


def packed(rnn, x, lengths):
    """The packed computation (what run_rnn does on CUDA)."""
    out, hidden = rnn(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
    out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
    return out, hidden[0]


def step_seconds(fn, rnn, x, lengths, repeats: int) -> list[float]:
    """Wall seconds of forward + backward, ``repeats`` times."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out, hidden = fn(rnn, x, lengths)
        (out.sum() + hidden.sum()).backward()
        times.append(time.perf_counter() - t0)
    return times


def measure(length: int, batch: int, hidden: int, embed: int, repeats: int) -> dict:
    """Median step time of both paths on one batch whose lengths spread over [length/4, length]."""
    torch.manual_seed(0)
    rnn = make_rnn("lstm", embed, hidden, 2, True, dropout=0.0)
    x = torch.randn(batch, length, embed, requires_grad=True)
    lengths = torch.randint(length // 4, length + 1, (batch,))
    lengths[0] = length
    with torch.no_grad():
        a, b = packed(rnn, x, lengths), run_rnn_unpacked(rnn, x, lengths)
    assert torch.allclose(a[0], b[0], atol=1e-5) and torch.allclose(a[1], b[1], atol=1e-5)
    step_seconds(run_rnn_unpacked, rnn, x, lengths, 1)  # warm-up
    times = {"packed": [], "unpacked": []}
    for _ in range(repeats):  # alternate so drift on a shared machine hits both alike
        times["packed"] += step_seconds(packed, rnn, x, lengths, 1)
        times["unpacked"] += step_seconds(run_rnn_unpacked, rnn, x, lengths, 1)
    med = {k: statistics.median(v) for k, v in times.items()}
    return {
        "length": length,
        "packed_seconds": round(med["packed"], 3),
        "unpacked_seconds": round(med["unpacked"], 3),
        "speedup": round(med["packed"] / med["unpacked"], 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lengths", type=int, nargs="+", default=[100, 250, 500])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--hidden", type=int, default=128, help="textrnn's default")
    ap.add_argument("--embed", type=int, default=128, help="fenlei's default embedding width")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = []
    for length in args.lengths:
        row = measure(length, args.batch, args.hidden, args.embed, args.repeats)
        row.update(batch=args.batch, hidden=args.hidden, embed=args.embed, threads=torch.get_num_threads())
        print(json.dumps(row), flush=True)
        rows.append(row)
    rows = merge_results(RESULTS, rows, run_meta(), ("length", "batch", "hidden", "embed", "threads"))
    print("\n| tokens | threads | packed s/step | unpacked s/step | speedup |\n|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['length']} | {r['threads']} | {r['packed_seconds']} | {r['unpacked_seconds']} | "
            f"{r['speedup']}x |"
        )


if __name__ == "__main__":
    main()
