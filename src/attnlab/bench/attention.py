"""``attnlab bench attention``: dense attention backends against direct SDPA on this machine.

For each N (B=1, H=8, d=64, float32), forward and forward+backward: time of ``attend(backend=auto)``,
direct ``torch.nn.functional.scaled_dot_product_attention``, the reference oracle and the chunked
backend; the ratio of each to direct SDPA; achieved GFLOP/s (``4·B·H·N²·d`` forward, 2.5x that for
forward+backward) beside the measured matmul GFLOP/s; and, with ``--memory``, the extra peak resident
memory of one call, each measured in a fresh process.
"""

from __future__ import annotations

import argparse

from attnlab.bench.runner import add_common_arguments, run_cells

CASES = ["auto", "torch-sdpa", "reference", "chunked"]
# The oracle materialises B·H·N² scores several times; past this N it would not fit in 24 GiB.
REFERENCE_MAX_N = 8192


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_common_arguments(p, [512, 1024, 2048, 4096, 8192])
    p.add_argument(
        "--long",
        type=int,
        nargs="*",
        default=[16384],
        help="extra lengths run for chunked and SDPA only (default: 16384)",
    )


def run(args: argparse.Namespace) -> int:
    modes = ["fwd"] if args.no_backward else ["fwd", "fwd+bwd"]
    cells = []
    for n in args.sizes + [n for n in args.long if n not in args.sizes]:
        for case in CASES:
            if (case == "reference" and n > REFERENCE_MAX_N) or (
                n not in args.sizes and case in ("auto", "reference")
            ):
                continue
            cells.extend((n, case, mode) for mode in modes)
    run_cells(cells, args, baseline="torch-sdpa")
    return 0
