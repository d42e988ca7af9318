"""Timing and peak-memory measurement: the wall-clock timer of the benchmarks and of the timing
experiments (best-of or median, functions timed in turns), and peak resident memory."""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import torch


def time_ms(
    fn: Callable[[], object],
    repeats: int = 3,
    warmup: int = 1,
    budget_s: float = 20.0,
    stat: Callable[[list[float]], float] = statistics.median,
) -> float:
    """Wall time of ``fn`` in milliseconds: ``stat`` (the median; ``min`` for best-of) of ``repeats``
    calls after ``warmup`` uncounted ones (fewer repeats when one call is slow)."""
    return time_interleaved({"fn": fn}, repeats, warmup, budget_s, stat)["fn"]


def time_interleaved(
    fns: dict[str, Callable[[], object]],
    repeats: int = 3,
    warmup: int = 1,
    budget_s: float = 20.0,
    stat: Callable[[list[float]], float] = statistics.median,
) -> dict[str, float]:
    """Wall time (ms) of each function, timed round-robin: ``stat`` of its ``repeats`` timed calls.

    ``warmup`` uncounted calls of each function come first. Then runs alternate between the functions,
    so a change in machine speed during the measurement (other processes, frequency scaling) touches
    all of them alike and their ratios stay meaningful. A function whose warm-up call takes over half
    of ``budget_s`` is timed once. ``stat`` is the median by default; ``min`` gives the best of
    ``repeats`` (the least disturbed by other processes on a shared CPU).
    """
    rounds = {}
    for name, fn in fns.items():
        for _ in range(warmup):
            start = time.perf_counter()
            fn()
            slow = time.perf_counter() - start > budget_s / 2
        rounds[name] = 1 if warmup and slow else repeats
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for r in range(max(rounds.values(), default=0)):
        for name, fn in fns.items():
            if r < rounds[name]:
                start = time.perf_counter()
                fn()
                samples[name].append((time.perf_counter() - start) * 1e3)
    return {name: stat(values) for name, values in samples.items()}


def matmul_gflops(n: int = 2048, dtype=torch.float32) -> float:
    """Measured float32 matrix-multiply throughput of this machine (GFLOP/s)."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    ms = time_ms(lambda: a @ b, repeats=5, warmup=2)
    return 2 * n**3 / (ms * 1e-3) / 1e9


def tame_malloc(threshold: int = 256 * 1024) -> bool:
    """Make glibc return large freed blocks to the system (fixed mmap threshold).

    glibc raises its mmap threshold after large blocks are freed, after which the tile buffers of a
    long attention loop are carved from the heap and fragment it: resident memory then grows far past
    what is live (seen here: 15 GB resident for 0.2 GB live at N=16384). A fixed threshold keeps
    resident memory equal to live memory. No-op off glibc. Returns whether it was applied.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        m_mmap_threshold = -3
        return bool(libc.mallopt(m_mmap_threshold, threshold))
    except (OSError, AttributeError):
        return False


def reset_peak_rss() -> bool:
    """Reset this process's resident high-water mark (Linux >= 4.0: ``echo 5 > /proc/self/clear_refs``)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def rss_status_mb(field: str) -> float | None:
    """``VmRSS`` (resident now) or ``VmHWM`` (resident peak) from /proc/self/status, in MiB."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def max_rss_mb() -> float:
    """This process's peak resident memory so far (MiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_memory_mb(
    args: list[str], module: str = "attnlab.bench.memory", timeout: float = 900
) -> float | None:
    """Run ``python -m module args`` in a fresh process; it prints JSON with ``peak_mb``.

    A fresh process is the only reliable way to read a peak on CPU: the resident high-water mark
    cannot be reset within a process. Returns None if the run fails (e.g. out of memory).
    """
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    try:
        proc = subprocess.run(
            [sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=timeout, env=env
        )
    except subprocess.TimeoutExpired:
        return None
    if proc.returncode != 0:
        return None
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line).get("peak_mb")
    return None
