"""One attention call in a fresh process, reporting the extra peak memory it needed (MiB).

python -m attnlab.bench.memory --backend chunked --n 16384 --mode fwd
"""

from __future__ import annotations

import argparse
import json

import torch
import torch.nn.functional as F

from attnlab.attention import attend
from attnlab.bench.timing import max_rss_mb


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--backend", required=True, help="attend backend name, or 'torch-sdpa' for a direct call")
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--mode", choices=["fwd", "fwd+bwd"], default="fwd")
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--dim", type=int, default=64)
    a = p.parse_args(argv)
    torch.set_num_threads(torch.get_num_threads())
    grad = a.mode == "fwd+bwd"
    q, k, v = (torch.randn(1, a.heads, a.n, a.dim, requires_grad=grad) for _ in range(3))
    # Warm the allocator and kernels on a tiny problem so one-off costs are not counted.
    small = [t[:, :, :64].detach() for t in (q, k, v)]
    attend(*small, backend="sdpa" if a.backend == "torch-sdpa" else a.backend)
    base = max_rss_mb()
    with torch.set_grad_enabled(grad):
        out = (
            F.scaled_dot_product_attention(q, k, v)
            if a.backend == "torch-sdpa"
            else attend(q, k, v, backend=a.backend)
        )
        if grad:
            out.sum().backward()
    print(json.dumps({"peak_mb": max_rss_mb() - base}))


if __name__ == "__main__":
    main()
