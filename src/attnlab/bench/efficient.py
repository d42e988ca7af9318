"""``attnlab bench efficient``: local, block-sparse and linear-complexity attention against dense SDPA.

For N in 1k..16k (B=1, H=8, d=64, float32), forward and forward+backward: dense SDPA, chunked (dense),
SDPA with a dense sliding-window mask, local attention (chunked, w=256, empty tiles skipped),
block-sparse, linear attention, Performer, Nyström, Linformer and int8 scores; the ratio of each to
dense SDPA, and the crossover N from which each is faster than dense SDPA.
"""

from __future__ import annotations

import argparse

from attnlab.bench.runner import add_common_arguments, run_cells

CASES = [
    "torch-sdpa",
    "chunked",
    "sdpa-local",
    "local",
    "block-sparse",
    "linear",
    "performer",
    "nystrom",
    "linformer",
    "int8",
]
INFERENCE_ONLY = {"int8"}
# int8 scores are dense (B·H·N² int32 plus their float copy): past this N they would not fit in 24 GiB.
DENSE_MAX_N = {"int8": 8192}


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_common_arguments(p, [1024, 2048, 4096, 8192, 16384])


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
    cells = [
        (n, case, mode)
        for n in args.sizes
        for case in CASES
        for mode in modes
        if not (case in INFERENCE_ONLY and mode == "fwd+bwd") and n <= DENSE_MAX_N.get(case, n)
    ]
    results = run_cells(cells, args, baseline="torch-sdpa")
    print("\ncrossover (smallest N from which the case beats dense SDPA):")
    for (case, mode), n in sorted(crossovers(results).items()):
        print(f"  {case:<13} {mode:<8} {n if n is not None else 'not within the sizes measured'}")
    return 0
