"""``attnlab bench efficient``: local, block-sparse and linear-complexity attention against dense SDPA.

For N in 1k..16k (B=1, H=8, d=64, float32), forward and forward+backward: dense SDPA, chunked (dense),
SDPA with a dense sliding-window mask, local attention (w=256, banded backend, non-causal and causal;
the causal one also through the chunked tile loop), a block band (banded) and a block-sparse layout
with columns (chunked), linear attention, Performer, Nyström, Linformer and int8 scores, and the peers
that are installed (extra ``peers``: lucidrains' local-attention and performer-pytorch); the ratio of
each to dense SDPA, its useful GFLOP/s (4·B·H·d per visible query-key pair) against the float32 matmul
GFLOP/s measured in the same run, the crossover N from which each beats dense SDPA, and attnlab's time
over each peer's.
"""

from __future__ import annotations

import argparse

from attnlab.bench.cases import CASES as ALL_CASES
from attnlab.bench.peers import PAIRS
from attnlab.bench.runner import add_common_arguments, run_cells

CASES = [
    "torch-sdpa",
    "chunked",
    "sdpa-local",
    "local",
    "local-causal",
    "local-causal-tiles",
    "peer-local-attention",
    "block-band",
    "block-sparse",
    "linear",
    "performer",
    "nystrom",
    "linformer",
    "int8",
    "peer-performer",
]
INFERENCE_ONLY = {"int8"}
SKIP_REASON = "not installed (pip install attnlab[peers])"
# int8 scores are dense (B·H·N² int32 plus their float copy): past this N they would not fit in 24 GiB.
DENSE_MAX_N = {"int8": 8192}


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_common_arguments(p, [1024, 2048, 4096, 8192, 16384])
    p.add_argument(
        "--cases", nargs="+", default=CASES, choices=CASES, metavar="CASE",
        help="the cases to run (default: all of them); torch-sdpa is always run as the baseline",
    )  # fmt: skip


def crossovers(results: dict, baseline: str = "torch-sdpa") -> dict[tuple[str, str], int | None]:
    """Smallest measured N from which a case stays faster than the baseline."""
    out = {}
    for case, mode in {(c, m) for (_, c, m) in results if c != baseline}:
        ns = sorted(n for (n, c, m) in results if c == case and m == mode and (n, baseline, m) in results)
        faster = [results[(n, case, mode)]["ms"] < results[(n, baseline, mode)]["ms"] for n in ns]
        out[(case, mode)] = next((n for i, n in enumerate(ns) if all(faster[i:])), None)
    return out


def run(args: argparse.Namespace) -> int:
    modes = ["fwd"] if args.no_backward else ["fwd", "fwd+bwd"]
    chosen = [c for c in CASES if c in args.cases or c == "torch-sdpa"]
    for case in chosen:
        if case not in ALL_CASES:
            print(f"{case}: {SKIP_REASON}")
    cells = [
        (n, case, mode)
        for n in args.sizes
        for case in chosen
        if case in ALL_CASES
        for mode in modes
        if not (case in INFERENCE_ONLY and mode == "fwd+bwd") and n <= DENSE_MAX_N.get(case, n)
    ]
    results = run_cells(cells, args, baseline="torch-sdpa")
    print("\ncrossover (smallest N from which the case beats dense SDPA):")
    for (case, mode), n in sorted(crossovers(results).items()):
        print(f"  {case:<20} {mode:<8} {n if n is not None else 'not within the sizes measured'}")
    print_peer_ratios(results)
    return 0


def print_peer_ratios(results: dict) -> None:
    """attnlab's time over each installed peer's at the same settings, measured in the same round."""
    lines = [
        f"  N={n:<6} {mode:<8} {ours} / {peer}: {row['ms'] / results[(n, peer, mode)]['ms']:.2f}"
        for (n, ours, mode), row in sorted(results.items())
        for o, peer in PAIRS
        if ours == o and (n, peer, mode) in results
    ]
    if lines:
        print("\npeers (attnlab time / peer time, same round; below 1 means attnlab is faster):")
        print("\n".join(lines))
