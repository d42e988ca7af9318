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
5. automatic: the CPUs this process may run on (``os.sched_getaffinity``) minus the ones other
   processes keep busy right now (the machine's non-idle CPU time over half a second, from
   ``/proc/stat``; where that is missing, the 1-minute load average, which still counts a job for
   about a minute after it ended), at least 1; when that leaves more than one thread, a short probe
   (a few milliseconds of matrix products on 1 and on N threads) confirms that N threads are really
   faster, and otherwise 1 is used.

:func:`configure` applies the choice (``torch.set_num_threads``) and prints it as one line on stderr;
:class:`ThreadChoice.record` is what results and training logs store. A command that trains for long
(``attnlab train``) configures with ``adaptive=True``: when its rate later falls below a third of its
start-up rate (:mod:`attnlab.progress`), an automatic choice above 1 measures the busy CPUs again
and continues with the free ones, at least 1 (:func:`yield_cpus`): the machine was idle when the
choice was made and another process now competes for its cores, where a 2-thread pool beside a
1-thread neighbour ran 200 training steps 4x slower than alone, and 1 thread beside it loses little.
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
    load: float | None = None  # the 1-minute load average
    reason: str = ""
    busy: float | None = None  # CPUs busy over the half second before the choice (/proc/stat)

    def line(self, what: str = "torch threads") -> str:
        """One line for stderr, e.g. ``attnlab: 1 torch thread (automatic: 2 CPUs, 1.20 busy now ...)``."""
        noun = what.replace("threads", "thread", 1) if self.threads == 1 else what
        why = self.reason or self.source
        hint = "" if self.source != "automatic" else f"; --threads or {ENV} to choose"
        return f"attnlab: {self.threads} {noun} ({why}{hint})"

    def record(self) -> dict:
        """What results and training logs store."""
        load = None if self.load is None else round(self.load, 2)
        busy = None if self.busy is None else round(self.busy, 2)
        return {"threads": self.threads, "source": self.source, "cpus": self.cpus, "load_average": load,
                "busy_cpus": busy}  # fmt: skip


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


def cpu_jiffies(cpus: set[int] | None = None) -> tuple[int, int, int] | None:
    """(busy jiffies, all jiffies, CPUs) from /proc/stat (Linux), else None: of the whole machine, or
    of the CPUs numbered in ``cpus`` only (e.g. this process's affinity)."""
    try:
        with open("/proc/stat") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    rows = [line.split() for line in lines if line.startswith("cpu")]
    if cpus is None:
        rows = [r for r in rows if r[0] == "cpu"]
        count = sum(1 for line in lines if line.startswith("cpu") and line[3:4].isdigit())
    else:
        rows = [r for r in rows if r[0][3:].isdigit() and int(r[0][3:]) in cpus]
        count = len(rows)
    if not rows or any(len(r) < 5 for r in rows):
        return None
    busy = total = 0
    for r in rows:
        values = [int(v) for v in r[1:9]]  # user nice system idle iowait irq softirq steal (guest is in user)
        busy, total = busy + sum(values) - values[3] - values[4], total + sum(values)
    return busy, total, count


def busy_cpus(interval: float = 0.5) -> float | None:
    """How many of this process's CPUs (its affinity) other processes keep busy now: their non-idle
    time over ``interval`` seconds (/proc/stat) minus this process's own CPU time meanwhile (it sleeps,
    but idle OpenMP workers may still spin), or None without /proc/stat."""
    try:
        mine = set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        mine = None
    before, own = cpu_jiffies(mine), time.process_time()
    if before is None:
        return None
    time.sleep(interval)
    after, own = cpu_jiffies(mine), time.process_time() - own
    if after is None or after[1] <= before[1]:
        return None
    busy = (after[0] - before[0]) / (after[1] - before[1]) * (after[2] or 1)
    return max(0.0, busy - own / interval)


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


def _free_cpus(cpus: int, busy: float | None) -> int:
    """``cpus`` minus the ``busy`` ones (rounded; None: none busy), at least 1."""
    taken = 0 if busy is None else math.floor(busy + 0.5)
    return max(1, min(cpus, cpus - taken))


def automatic(
    cpus: int | None = None, load: float | None = None, probe=probe_speedup, busy: float | None = None
) -> ThreadChoice:
    """The automatic choice: free CPUs by ``busy`` (CPUs busy now) or, without it, by the load average,
    confirmed by ``probe`` when above one."""
    cpus = available_cpus() if cpus is None else cpus
    free = _free_cpus(cpus, busy if busy is not None else load)
    where = f"{cpus} CPU{'s' if cpus != 1 else ''}"
    if busy is not None:
        where += f", {busy:.2f} busy now"
    elif load is not None:
        where += f", load average {load:.2f}"
    if free == 1:
        busy_note = ": the machine is busy" if cpus > 1 else ""
        return ThreadChoice(1, "automatic", cpus, load, f"automatic: {where}{busy_note}", busy)
    speedup = probe(free)
    if speedup < MIN_PROBE_SPEEDUP:
        why = f"automatic: {where}, but {free} threads were only {speedup:.2f}x faster than 1 in a probe"
        return ThreadChoice(1, "automatic", cpus, load, why, busy)
    return ThreadChoice(free, "automatic", cpus, load, f"automatic: {where}", busy)


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
    return automatic(cpus, load_average(), busy=busy_cpus())


_adaptive: ThreadChoice | None = None  # an automatic choice above 1 thread that may still be lowered


def configure(
    requested: int | None = None,
    default: int | None = None,
    *,
    quiet: bool = False,
    what: str = "torch threads",
    adaptive: bool = False,
) -> ThreadChoice:
    """Choose (see :func:`choose`), apply with ``torch.set_num_threads`` and print one line on stderr;
    ``adaptive``: an automatic choice above 1 may later be lowered (:func:`yield_cpus`)."""
    global _adaptive
    choice = choose(requested, default)
    torch.set_num_threads(choice.threads)
    _adaptive = choice if adaptive and choice.source == "automatic" and choice.threads > 1 else None
    if not quiet:
        print(choice.line(what), file=sys.stderr, flush=True)
    return choice


def yield_cpus() -> str:
    """After a sharp slowdown (once): an adaptive automatic choice measures again the CPUs other
    processes keep busy and continues with the free ones (at least 1; all of them busy or nothing to
    measure with: 1), and says so for the warning line; "" when it keeps its threads, or when they were
    chosen otherwise (a measurement's threads never change)."""
    global _adaptive
    if _adaptive is None:
        return ""
    choice, _adaptive = _adaptive, None
    busy = busy_cpus()
    free = 1 if busy is None else _free_cpus(choice.cpus, busy)
    if free >= torch.get_num_threads():
        return ""
    torch.set_num_threads(free)
    return f"; its threads were chosen automatically, so it continues with {free}"
