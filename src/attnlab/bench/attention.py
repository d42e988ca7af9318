"""``attnlab bench attention``: dense attention backends against direct SDPA on this machine.

For each N (B=1, H=8, d=64, float32), forward and forward+backward: time of ``attend(backend=auto)``,
direct ``torch.nn.functional.scaled_dot_product_attention``, the reference oracle and the chunked
backend; the ratio of each to direct SDPA; achieved GFLOP/s (``4·B·H·N²·d`` forward, 2.5x that for
forward+backward) beside the measured matmul GFLOP/s; and, with ``--memory``, the extra peak resident
memory of one call, each measured in a fresh process.
"""

from __future__ import annotations

import argparse
import platform

import torch
import torch.nn.functional as F
from tqdm import tqdm

from attnlab.attention import attend
from attnlab.bench.timing import matmul_gflops, peak_memory_mb, time_ms

BACKENDS = ["auto", "torch-sdpa", "reference", "chunked"]
# The oracle materialises B·H·N² scores several times; past this N it would not fit in 24 GiB.
REFERENCE_MAX_N = 8192


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=[512, 1024, 2048, 4096, 8192],
        help="sequence lengths N (default: 512 1024 2048 4096 8192)",
    )
    p.add_argument(
        "--long",
        type=int,
        nargs="*",
        default=[16384],
        help="extra lengths run for chunked and SDPA only (default: 16384)",
    )
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--memory", action="store_true", help="also measure peak memory (one process per cell)")
    p.add_argument("--no-backward", action="store_true", help="forward only")


def _call(backend: str, q, k, v):
    if backend == "torch-sdpa":
        return F.scaled_dot_product_attention(q, k, v)
    return attend(q, k, v, backend=backend)


def measure(backend: str, n: int, mode: str, heads: int, dim: int, repeats: int) -> float:
    grad = mode == "fwd+bwd"
    q, k, v = (torch.randn(1, heads, n, dim, requires_grad=grad) for _ in range(3))

    def step():
        with torch.set_grad_enabled(grad):
            out = _call(backend, q, k, v)
            if grad:
                out.sum().backward()

    return time_ms(step, repeats=repeats)


def run(args: argparse.Namespace) -> int:
    torch.manual_seed(0)
    modes = ["fwd"] if args.no_backward else ["fwd", "fwd+bwd"]
    peak = matmul_gflops()
    print(
        f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; measured float32 matmul: {peak:.0f} GFLOP/s"
    )
    cells = []
    for n in args.sizes + args.long:
        for backend in BACKENDS:
            if backend == "reference" and n > REFERENCE_MAX_N:
                continue
            if n in args.long and n not in args.sizes and backend not in ("torch-sdpa", "chunked"):
                continue
            cells.extend((n, backend, mode) for mode in modes)
    results: dict[tuple, dict] = {}
    for n, backend, mode in tqdm(cells, desc="bench attention", unit="cell"):
        ms = measure(backend, n, mode, args.heads, args.dim, args.repeats)
        row = {"ms": ms}
        if args.memory:
            row["mb"] = peak_memory_mb(
                "attnlab.bench.memory",
                [
                    "--backend",
                    backend,
                    "--n",
                    str(n),
                    "--mode",
                    mode,
                    "--heads",
                    str(args.heads),
                    "--dim",
                    str(args.dim),
                ],
            )
        results[(n, backend, mode)] = row
    print(format_table(results, args, peak))
    return 0


def format_table(results: dict, args, peak: float) -> str:
    lines = [
        "| N | mode | backend | ms | / SDPA | GFLOP/s | % of matmul |"
        + (" peak MiB |" if args.memory else ""),
        "|---|---|---|---|---|---|---|" + ("---|" if args.memory else ""),
    ]
    for (n, backend, mode), row in results.items():
        sdpa = results.get((n, "torch-sdpa", mode))
        flops = 4 * args.heads * n * n * args.dim * (2.5 if mode == "fwd+bwd" else 1.0)
        gflops = flops / (row["ms"] * 1e-3) / 1e9
        ratio = f"{row['ms'] / sdpa['ms']:.2f}" if sdpa else "-"
        share = f"{100 * gflops / peak:.0f}%"
        line = f"| {n} | {mode} | {backend} | {row['ms']:.1f} | {ratio} | {gflops:.0f} | {share} |"
        if args.memory:
            mb = row.get("mb")
            line += f" {mb:.0f} |" if mb is not None else " failed |"
        lines.append(line)
    return "\n".join(lines)
