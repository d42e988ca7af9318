"""One benchmark case in a fresh process, reporting the extra peak resident memory it needed (MiB).

python -m attnlab.bench.memory --case chunked --n 16384 --mode fwd
"""

from __future__ import annotations

import argparse
import json

from attnlab.bench.cases import CASES, make_step
from attnlab.bench.timing import max_rss_mb, reset_peak_rss, rss_status_mb, tame_malloc


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--case", required=True, choices=sorted(CASES))
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--mode", choices=["fwd", "fwd+bwd"], default="fwd")
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--dim", type=int, default=64)
    a = p.parse_args(argv)
    tame_malloc()
    make_step(a.case, 64, a.heads, a.dim, a.mode == "fwd+bwd")()  # load kernels on a tiny problem first
    step = make_step(a.case, a.n, a.heads, a.dim, a.mode == "fwd+bwd")
    if reset_peak_rss():  # the peak of this step alone, above what is resident before it
        base = rss_status_mb("VmRSS")
        step()
        peak = rss_status_mb("VmHWM") - base
    else:  # without clear_refs: growth of the lifetime peak (a lower bound for small steps)
        base = max_rss_mb()
        step()
        peak = max_rss_mb() - base
    print(json.dumps({"peak_mb": peak}))


if __name__ == "__main__":
    main()
