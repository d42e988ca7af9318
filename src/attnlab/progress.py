"""Progress of long work, on a terminal and in logs, and a warning when a run slows down sharply.

:func:`progress` is the one progress helper of attnlab (the trainer, the experiments' training loop,
``attnlab demo``): on a terminal it draws a tqdm bar; when stderr is not a terminal (a log file, a
pipe, CI) it writes one plain line every few seconds (``ATTNLAB_PROGRESS_SECONDS``, default 5) with
the count, the rate and the time left::

    train: 120/200 steps (60%), 8.1 steps/s, ETA 10 s; loss 0.52

It also watches the rate. The rate of the first second or so of work (after a couple of warm-up
steps) is a start-up probe of what this run can do on this machine; when a later stretch of at least
a few seconds runs below a third of it, one warning line says that another process is probably
competing for the CPUs and how many threads this process uses; a process whose threads were chosen
automatically for long training then continues with the CPUs still free (:func:`on_slowdown`), even
when its progress is quiet. Time spent inside :meth:`Progress.paused` (evaluation, checkpoints)
is not counted in any rate.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

INTERVAL_ENV = "ATTNLAB_PROGRESS_SECONDS"
WARMUP_UPDATES = 2  # the first steps allocate and warm caches: not part of the start-up probe
PROBE_SECONDS = 1.0  # how long the start-up probe measures
WINDOW_SECONDS = 3.0  # the shortest stretch judged against it
SLOWDOWN = 3.0  # warn below 1/SLOWDOWN of the start-up rate
_warned = False  # one warning per process: a busy machine stays busy for every later loop


def _interval() -> float:
    try:
        return max(0.0, float(os.environ.get(INTERVAL_ENV) or 5.0))
    except ValueError:
        return 5.0


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes} min {seconds:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


_on_slowdown: Callable[[], str] | None = None


def on_slowdown(hook: Callable[[], str] | None) -> None:
    """Run ``hook()`` once, at the first sharp slowdown of any progress of this process (quiet ones too);
    the text it returns ends the warning line. ``attnlab train`` passes
    :func:`attnlab.threads.yield_cpus`; None removes the hook."""
    global _on_slowdown
    _on_slowdown = hook


def slowdown_warning(what: str, now: float, start: float, unit: str) -> str:
    """The warning line for a rate ``now`` below a third of the start-up rate ``start``."""
    import torch

    return (
        f"attnlab: warning: {what} ran at {now:.3g} {unit}s/s, under a third of the {start:.3g} {unit}s/s "
        f"of its first seconds: another process is probably competing for the CPUs (this process uses "
        f"{torch.get_num_threads()} torch thread(s); try --threads 1 or ATTNLAB_THREADS=1)"
    )


class Progress:
    """A progress display (tqdm bar on a terminal, log lines otherwise) with a slowdown watch.

    Use it like a small tqdm: ``update(n)``, ``set_postfix(dict)``, ``write(text)``, ``close()``, or
    iterate over it when it wraps an iterable. ``quiet`` shows nothing and warns about nothing (the rate
    is still watched, so that adaptive threads can be lowered).
    """

    def __init__(
        self,
        iterable: Iterable | None = None,
        *,
        total: int | None = None,
        initial: int = 0,
        desc: str = "",
        unit: str = "step",
        quiet: bool = False,
        leave: bool = True,
        stream=None,
        interval: float | None = None,
    ) -> None:
        self.iterable, self.desc, self.unit, self.quiet, self.leave = iterable, desc, unit, quiet, leave
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)
        self.total, self.n, self.start_n = total, initial, initial
        self.stream = sys.stderr if stream is None else stream
        self.interval = _interval() if interval is None else interval
        self.postfix, self._paused_total, self._lines = "", 0.0, 0
        self.started = time.perf_counter()
        self._last_line = (self._clock(), initial)
        self._updates, self._probe, self._probe_rate, self._window = 0, None, None, None
        self.bar = None
        if not quiet and getattr(self.stream, "isatty", lambda: False)():
            from tqdm import tqdm

            self.bar = tqdm(
                total=total, initial=initial, desc=desc, unit=unit, leave=leave, file=self.stream,
                dynamic_ncols=True,
            )  # fmt: skip

    # -- time ------------------------------------------------------------------------------------
    def _clock(self) -> float:
        """Seconds of active work (wall time minus paused time)."""
        return time.perf_counter() - self._paused_total

    @contextmanager
    def paused(self):
        """Time inside this block (evaluation, a checkpoint) counts in no rate."""
        t = time.perf_counter()
        try:
            yield
        finally:
            self._paused_total += time.perf_counter() - t

    # -- the tqdm-like surface -------------------------------------------------------------------
    def __iter__(self) -> Iterator:
        for item in self.iterable:
            yield item
            self.update(1)
        self.close()

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.bar is not None:
            self.bar.update(n)
        now = self._clock()
        self._watch(now)
        if self.quiet:
            return
        if self.bar is None and self.interval >= 0 and now - self._last_line[0] >= self.interval:
            self._log_line(now)

    def set_postfix(self, values: dict | None = None, refresh: bool = False, **more) -> None:
        values = {**(values or {}), **more}
        self.set_postfix_str(", ".join(f"{k} {v}" for k, v in values.items()))

    def set_postfix_str(self, text: str, refresh: bool = False) -> None:
        self.postfix = text
        if self.bar is not None:
            self.bar.set_postfix_str(text, refresh=refresh)

    def write(self, text: str) -> None:
        """A line of output that does not break the bar (stdout)."""
        if self.bar is not None:
            self.bar.write(text, file=sys.stdout)
        else:
            print(text, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        elif not self.quiet and self._lines and self.leave:
            seconds = self._clock() - self.started
            done = self.n - self.start_n
            rate = f" ({done / seconds:.3g} {self.unit}s/s)" if seconds > 0 else ""
            self._emit(f"{self.desc}: {self.n}{self._of()} {self.unit}s in {_duration(seconds)}{rate}")
        self.quiet = True  # a closed display says nothing more

    # -- log lines and the slowdown watch --------------------------------------------------------
    def _of(self) -> str:
        return f"/{self.total}" if self.total else ""

    def _emit(self, line: str) -> None:
        print(line, file=self.stream, flush=True)
        self._lines += 1

    def _log_line(self, now: float) -> None:
        t0, n0 = self._last_line
        rate = (self.n - n0) / max(now - t0, 1e-9)
        parts = [f"{self.desc}: {self.n}{self._of()} {self.unit}s"]
        if self.total:
            parts[0] += f" ({100 * self.n / self.total:.0f}%)"
        parts.append(f"{rate:.3g} {self.unit}s/s")
        if self.total and rate > 0:
            parts.append(f"ETA {_duration((self.total - self.n) / rate)}")
        self._emit(", ".join(parts) + (f"; {self.postfix}" if self.postfix else ""))
        self._last_line = (now, self.n)

    def _watch(self, now: float) -> None:
        """Measure the start-up rate, then compare each later window of a few seconds with it."""
        global _warned, _on_slowdown
        self._updates += 1
        if self._updates == WARMUP_UPDATES:
            self._probe = (now, self.n)
        if self._probe is None or ((_warned or self.quiet) and _on_slowdown is None):
            return  # nothing left to say or do
        if self._probe_rate is None:
            t0, n0 = self._probe
            if now - t0 >= PROBE_SECONDS:
                self._probe_rate, self._window = (self.n - n0) / (now - t0), (now, self.n)
            return
        t0, n0 = self._window
        if now - t0 < WINDOW_SECONDS:
            return
        rate = (self.n - n0) / (now - t0)
        self._window = (now, self.n)
        if rate < self._probe_rate / SLOWDOWN:
            line = slowdown_warning(self.desc or "the run", rate, self._probe_rate, self.unit)
            if _on_slowdown is not None:  # once: what this process does next
                hook, _on_slowdown = _on_slowdown, None
                line += hook()
            if self.quiet or _warned:
                return
            _warned = True
            if self.bar is not None:
                self.bar.write(line, file=self.stream)
            else:
                self._emit(line)


def progress(iterable: Iterable | None = None, **kwargs) -> Progress:
    """A :class:`Progress` (see the module's docstring); keyword arguments as its constructor's."""
    return Progress(iterable, **kwargs)
