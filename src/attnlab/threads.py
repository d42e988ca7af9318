"""How many torch (OpenMP) threads a command uses: chosen deliberately, printed and recorded.

Two processes that each run an OpenMP pool as wide as the machine slow each other down far more than
twice: the threads of one pool wait at every barrier for a thread the other process has descheduled
(on a 2-core machine, 200 training steps went from 7.5 s to 635 s with one busy neighbour). So the
commands (``train``, ``run``, ``demo``, ``bench``, ``serve``) choose their thread count here:

1. ``--threads N`` on the command line, else
2. the ``ATTNLAB_THREADS`` variable, else
3. the command's own fixed default (experiments' full profiles: 1, so their results are
   deterministic), else
4. ``OMP_NUM_THREADS`` when it is set (a choice made for every OpenMP program), else
5. automatic: the CPUs this process may run on (``os.sched_getaffinity``) minus the ones the
   1-minute load average says are busy, at least 1; when that leaves more than one thread, a short
   probe (a few milliseconds of matrix products on 1 and on N threads) confirms that N threads are
   really faster, and otherwise 1 is used.

:func:`configure` applies the choice (``torch.set_num_threads``) and prints it as one line on stderr;
:class:`ThreadChoice.record` is what results and training logs store.
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass

import torch

ENV = "ATTNLAB_THREADS"
# N threads must be at least this much faster than one in the probe, or the cores are not really free.
MIN_PROBE_SPEEDUP = 1.25
PROBE_SIZE, PROBE_REPEATS = 192, 6  # ~7 MFLOP per product: a few milliseconds in all


@dataclass(frozen=True)
class ThreadChoice:
    """A thread count and why: ``source`` is ``--threads``, ``ATTNLAB_THREADS``, ``OMP_NUM_THREADS``,
    ``fixed`` (the command's own default) or ``automatic``."""

    threads: int
    source: str
    cpus: int
    load: float | None = None
    reason: str = ""

    def line(self, what: str = "torch threads") -> str:
        """One line for stderr, e.g. ``attnlab: 1 torch thread (automatic: 2 CPUs, load average 1.2 ...)``."""
        noun = what.replace("threads", "thread", 1) if self.threads == 1 else what
        why = self.reason or self.source
        hint = "" if self.source != "automatic" else f"; --threads or {ENV} to choose"
        return f"attnlab: {self.threads} {noun} ({why}{hint})"

    def record(self) -> dict:
        """What results and training logs store."""
        load = None if self.load is None else round(self.load, 2)
        return {"threads": self.threads, "source": self.source, "cpus": self.cpus, "load_average": load}


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity mask; ``os.cpu_count()`` where that is unknown)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def load_average() -> float | None:
    """The 1-minute load average (runnable processes), or None where the system has none."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def parse_threads(value, name: str) -> int:
    """``value`` as a thread count >= 1, or a ValueError naming ``name``."""
    try:
        n = int(str(value).strip())
    except ValueError:
        raise ValueError(f"{name}: expected a whole number of threads >= 1, got {value!r}") from None
    if n < 1:
        raise ValueError(f"{name}: expected a whole number of threads >= 1, got {value!r}")
    return n


def _product_seconds(threads: int) -> float:
    """Median seconds of one float32 matrix product on ``threads`` threads (the caller's count is kept)."""
    before = torch.get_num_threads()
    a = torch.randn(PROBE_SIZE, PROBE_SIZE)
    try:
        torch.set_num_threads(threads)
        a @ a  # warm the pool up
        times = []
        for _ in range(PROBE_REPEATS):
            t = time.perf_counter()
            a @ a @ a
            times.append(time.perf_counter() - t)
    finally:
        torch.set_num_threads(before)
    return sorted(times)[len(times) // 2]


def probe_speedup(threads: int) -> float:
    """How much faster ``threads`` threads multiply matrices than one, measured now (a few ms)."""
    one = _product_seconds(1)
    return one / max(_product_seconds(threads), 1e-9)


def automatic(cpus: int | None = None, load: float | None = None, probe=probe_speedup) -> ThreadChoice:
    """The automatic choice: free CPUs by the load average, confirmed by ``probe`` when above one."""
    cpus = available_cpus() if cpus is None else cpus
    busy = 0 if load is None else math.floor(load + 0.5)  # processes already running, rounded
    free = max(1, min(cpus, cpus - busy))
    where = f"{cpus} CPU{'s' if cpus != 1 else ''}" + ("" if load is None else f", load average {load:.2f}")
    if free == 1:
        busy_note = ": the machine is busy" if cpus > 1 else ""
        return ThreadChoice(1, "automatic", cpus, load, f"automatic: {where}{busy_note}")
    speedup = probe(free)
    if speedup < MIN_PROBE_SPEEDUP:
        why = f"automatic: {where}, but {free} threads were only {speedup:.2f}x faster than 1 in a probe"
        return ThreadChoice(1, "automatic", cpus, load, why)
    return ThreadChoice(free, "automatic", cpus, load, f"automatic: {where}")


def choose(requested: int | None = None, default: int | None = None, environ=None) -> ThreadChoice:
    """The thread count by the rules of this module (``default``: the command's fixed default)."""
    environ = os.environ if environ is None else environ
    cpus = available_cpus()
    if requested is not None:
        return ThreadChoice(parse_threads(requested, "--threads"), "--threads", cpus)
    if environ.get(ENV, "").strip():
        return ThreadChoice(parse_threads(environ[ENV], ENV), ENV, cpus)
    if default is not None:
        return ThreadChoice(parse_threads(default, "default"), "fixed", cpus, reason="the command's default")
    if environ.get("OMP_NUM_THREADS", "").strip():
        return ThreadChoice(
            parse_threads(environ["OMP_NUM_THREADS"], "OMP_NUM_THREADS"), "OMP_NUM_THREADS", cpus
        )
    return automatic(cpus, load_average())


def configure(
    requested: int | None = None,
    default: int | None = None,
    *,
    quiet: bool = False,
    what: str = "torch threads",
) -> ThreadChoice:
    """Choose (see :func:`choose`), apply with ``torch.set_num_threads`` and print one line on stderr."""
    choice = choose(requested, default)
    torch.set_num_threads(choice.threads)
    if not quiet:
        print(choice.line(what), file=sys.stderr, flush=True)
    return choice
