"""Integer against float32 matrix products at attention shapes, and the int8 backend against SDPA.

    taskset -c 1 env OMP_NUM_THREADS=1 python benchmarks/int8_matmul.py

Part 1 times ``torch._int_mm`` (int8 x int8 -> int32; oneDNN/VNNI on x86) against a float32 ``@`` of
the same shape, round-robin, and prints GOP/s and the ratio. Part 2 times whole attention (B=1, H=8,
d=64, no mask, forward): SDPA's fused float32 kernel, the ``int8`` backend, and the same blocked
algorithm with its integer products done in float32 (the emulation the backend falls back to).
"""

from __future__ import annotations

import statistics
import sys

import torch
import torch.nn.functional as F

from attnlab.attention import attend
from attnlab.attention.backends import int8
from attnlab.bench.timing import matmul_gflops, tame_malloc, time_interleaved

# (rows, inner, cols): QKᵀ of one head for a 256-row query block against N keys, the shape of a
# 2048 matmul, and a whole head's scores
SHAPES = [(256, 64, 1024), (256, 64, 4096), (256, 64, 16384), (2048, 2048, 2048), (4096, 64, 4096)]


def products() -> None:
    print("| m x k x n | float32 ms | int8 ms | float32 GFLOP/s | int8 GOP/s | int8 / float32 time |")
    print("|---|---|---|---|---|---|")
    for m, k, n in SHAPES:
        a, b = torch.randn(m, k), torch.randn(k, n)
        ai = torch.randint(-127, 128, (m, k), dtype=torch.int8)
        bi = torch.randint(-127, 128, (k, n), dtype=torch.int8)
        t = time_interleaved(
            {"f": lambda a=a, b=b: a @ b, "i": lambda ai=ai, bi=bi: torch._int_mm(ai, bi)},
            repeats=7,
            stat=min,
        )
        ops = 2 * m * k * n / 1e6
        print(f"| {m} x {k} x {n} | {t['f']:.2f} | {t['i']:.2f} | {ops / t['f']:.0f} | {ops / t['i']:.0f} "
              f"| {t['i'] / t['f']:.2f} |")  # fmt: skip


def attention(sizes=(1024, 2048, 4096)) -> None:
    print("\n| N | SDPA float32 ms | int8 backend ms | same, products in float32 ms | int8 / SDPA |")
    print("|---|---|---|---|---|")
    for n in sizes:
        q, k, v = (torch.randn(1, 8, n, 64) for _ in range(3))

        def float_products(q=q, k=k, v=v):
            real = int8.has_int_mm
            int8.has_int_mm = lambda device_type: False
            try:
                return attend(q, k, v, backend="int8")
            finally:
                int8.has_int_mm = real

        t = time_interleaved(
            {
                "sdpa": lambda q=q, k=k, v=v: F.scaled_dot_product_attention(q, k, v),
                "int8": lambda q=q, k=k, v=v: attend(q, k, v, backend="int8"),
                "emu": float_products,
            },
            repeats=5,
            stat=min,
        )
        print(f"| {n} | {t['sdpa']:.1f} | {t['int8']:.1f} | {t['emu']:.1f} | {t['int8'] / t['sdpa']:.2f} |")


def main() -> int:
    tame_malloc()
    probes = [matmul_gflops() for _ in range(3)]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), CPU capability "
          f"{torch.backends.cpu.get_cpu_capability()}, _int_mm available: {int8.has_int_mm('cpu')}; "
          f"float32 matmul probe {statistics.median(probes):.0f} GFLOP/s\n")  # fmt: skip
    products()
    attention()
    return 0


if __name__ == "__main__":
    sys.exit(main())
