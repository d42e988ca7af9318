"""How fast this CPU runs the banded backward's products at their real shapes, against one large matmul.

Causal window 256, query blocks of 64 (windows of 320 keys), d = 64, 3 blocks per step as in
``attention/backends/banded_grad.py``; one thread. Run on an idle core:
``taskset -c 1 python benchmarks/banded_gemm_shapes.py``.
"""

import time

import torch


def rate(fn, flop: float) -> float:
    """GFLOP/s of ``fn`` (warm-up twice, then as many calls as fit in one second)."""
    fn()
    fn()
    t0, n = time.perf_counter(), 0
    while time.perf_counter() - t0 < 1.0:
        fn()
        n += 1
    return flop / ((time.perf_counter() - t0) / n) / 1e9


def bmm_rate(batch: int, m: int, k: int, n: int) -> float:
    x, y, out = torch.randn(batch, m, k), torch.randn(batch, k, n), torch.empty(batch, m, n)
    return rate(lambda: torch.bmm(x, y, out=out), 2 * batch * m * k * n)


def main() -> None:
    torch.set_num_threads(1)
    a, b, o = torch.randn(2048, 2048), torch.randn(2048, 2048), torch.empty(2048, 2048)
    big = rate(lambda: torch.mm(a, b, out=o), 2 * 2048**3)
    print(f"matmul 2048^3: {big:.0f} GFLOP/s")
    c, bs, w, d = 3, 64, 320, 64
    shapes = {  # name: (batch, m, k, n) of (batch, m, k) @ (batch, k, n)
        "S = Q K^T (c,64,64)@(c,64,320)": (c, bs, d, w),
        "dV = P^T dO (c,320,64)@(c,64,64)": (c, w, bs, d),
        "dP = dO V^T (c,64,64)@(c,64,320)": (c, bs, d, w),
        "dQ = dS K (c,64,320)@(c,320,64)": (c, bs, w, d),
        "dK = dS^T Q (c,320,64)@(c,64,64)": (c, w, bs, d),
    }
    flops = seconds = 0.0
    for name, shape in shapes.items():
        r = bmm_rate(*shape)
        flop = 2.0 * shape[0] * shape[1] * shape[2] * shape[3]
        flops, seconds = flops + flop, seconds + flop / (r * 1e9)
        print(f"{name}: {r:.0f} GFLOP/s = {100 * r / big:.0f}% of the large matmul")
    together = flops / seconds / 1e9
    print(f"the five together: {together:.0f} GFLOP/s = {100 * together / big:.0f}%")


if __name__ == "__main__":
    main()
