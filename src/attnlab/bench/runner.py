"""Runs benchmark cases over sequence lengths and prints a markdown table of times, ratios and memory."""

from __future__ import annotations

import argparse
import platform

import torch
from tqdm import tqdm

from attnlab.bench.cases import APPROXIMATE, make_step, visible_pairs
from attnlab.bench.timing import matmul_gflops, peak_memory_mb, tame_malloc, time_interleaved


def add_common_arguments(p: argparse.ArgumentParser, sizes: list[int]) -> None:
    p.add_argument(
        "--sizes", type=int, nargs="+", default=sizes, help=f"sequence lengths N (default: {sizes})"
    )
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--repeats", type=int, default=3, help="timed runs per cell (median); 1 for slow cells")
    p.add_argument(
        "--memory", action="store_true", help="also measure peak memory (one fresh process per cell)"
    )
    p.add_argument("--no-backward", action="store_true", help="forward only")


def run_cells(cells: list[tuple[int, str, str]], args: argparse.Namespace, baseline: str) -> dict:
    """Measure each (N, case, mode); print the machine line first and the table at the end."""
    tame_malloc()
    torch.manual_seed(0)
    peak = matmul_gflops()
    print(
        f"machine: {platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} threads; "
        f"measured float32 matmul: {peak:.0f} GFLOP/s; B=1, H={args.heads}, d={args.dim}, float32",
        flush=True,
    )
    results: dict[tuple, dict] = {}
    groups: dict[tuple[int, str], list[str]] = {}  # (N, mode) -> cases, timed round-robin together
    for n, case, mode in cells:
        groups.setdefault((n, mode), []).append(case)
    bar = tqdm(total=len(cells), desc="benchmark", unit="cell")
    for (n, mode), cases in groups.items():
        steps = {case: make_step(case, n, args.heads, args.dim, mode == "fwd+bwd") for case in cases}
        times = time_interleaved(steps, repeats=args.repeats)
        del steps
        for case in cases:
            row = {"ms": times[case]}
            if args.memory:
                row["mb"] = peak_memory_mb(
                    [
                        "--case",
                        case,
                        "--n",
                        str(n),
                        "--mode",
                        mode,
                        "--heads",
                        str(args.heads),
                        "--dim",
                        str(args.dim),
                    ]
                )
            results[(n, case, mode)] = row
            mb = f", {row['mb']:.0f} MiB" if row.get("mb") is not None else ""
            # Each cell is printed as soon as it is measured, so partial results survive an interruption.
            bar.write(f"  N={n} {mode} {case}: {row['ms']:.1f} ms{mb}")
            bar.update()
    bar.close()
    print(format_table(results, args, peak, baseline))
    return results


def format_table(results: dict, args, peak: float, baseline: str) -> str:
    """Markdown table. Useful GFLOP/s counts 4·B·H·d per visible (query, key) pair (×2.5 with backward):
    N² for dense attention, fewer for windows and block layouts. Approximations stand in for all N²
    pairs without computing them, so their share of matmul is not shown (it could exceed 100%)."""
    mem = getattr(args, "memory", False)
    lines = [
        f"| N | mode | case | ms | / {baseline} | useful GFLOP/s | % of matmul |"
        + (" peak MiB |" if mem else ""),
        "|---|---|---|---|---|---|---|" + ("---|" if mem else ""),
    ]
    for (n, case, mode), row in sorted(results.items(), key=lambda kv: (kv[0][0], kv[0][2])):
        base = results.get((n, baseline, mode))
        flops = 4 * args.heads * visible_pairs(case, n) * args.dim * (2.5 if mode == "fwd+bwd" else 1.0)
        gflops = flops / (row["ms"] * 1e-3) / 1e9
        ratio = f"{row['ms'] / base['ms']:.3f}" if base else "-"
        share = "approx." if case in APPROXIMATE else f"{100 * gflops / peak:.0f}%"
        line = f"| {n} | {mode} | {case} | {row['ms']:.1f} | {ratio} | {gflops:.0f} | {share} |"
        if mem:
            line += f" {row['mb']:.0f} |" if row.get("mb") is not None else " failed |"
        lines.append(line)
    return "\n".join(lines)
