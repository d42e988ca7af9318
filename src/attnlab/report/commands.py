"""``attnlab run | demo | report``: run experiments (course claims) and build the report of their results.

These commands sit here, above :mod:`attnlab.experiments`, because they drive experiments and the
report together; the command line (:mod:`attnlab.cli`) only parses their arguments and dispatches.
"""

from __future__ import annotations

import argparse
import math
import sys

from attnlab.app.errors import UsageError


def threads(args: argparse.Namespace, exp) -> int:
    """Threads for one experiment (:mod:`attnlab.threads`): --threads, else ``ATTNLAB_THREADS``, else 1
    for full profiles (one run per core, as the reference results were made: deterministic) except for
    timing experiments, which measure what the machine's cores can do (the automatic choice)."""
    from attnlab.threads import choose

    if args.threads is not None and args.threads < 1:
        raise UsageError(f"--threads: expected >= 1, got {args.threads}")
    if args.profile == "full" and not exp.timing:
        return choose(args.threads, 1).threads
    if getattr(args, "auto_threads", None) is not None:
        return args.auto_threads  # chosen once per command: the probe is not repeated per experiment
    return choose(args.threads).threads


def announce_threads(args: argparse.Namespace) -> None:
    """Choose the count once per command and print it as one line on stderr."""
    from attnlab.threads import choose, configure

    if args.threads is not None and args.threads < 1:
        raise UsageError(f"--threads: expected >= 1, got {args.threads}")
    if args.profile != "full":
        args.auto_threads = configure(args.threads, what="torch threads per run").threads
        return
    fixed, auto = choose(args.threads, 1), choose(args.threads)
    args.auto_threads = auto.threads
    line = fixed.line("torch threads per run")
    if fixed.source == "fixed":
        line = line[:-1] + f"; timing experiments: {auto.threads}, {auto.reason or auto.source})"
    print(line, file=sys.stderr, flush=True)


def _print_result(result, label: str) -> None:
    seeds = ", ".join(map(str, result.seeds))
    print(f"{label} ({result.profile}, seeds {seeds}, {result.wall_time_s:.1f} s): {result.verdict}")
    print(result.summary.en)


def run(args: argparse.Namespace) -> int:
    """``attnlab run NAME``: one experiment's seeds into ``--out``."""
    from attnlab.experiments import get_experiment, run_experiment

    exp = get_experiment(args.name)
    announce_threads(args)
    result = run_experiment(
        exp,
        args.profile,
        args.out,
        seeds=args.seed,
        threads=threads(args, exp),
        force=args.force,
    )
    _print_result(result, args.name)
    print(f"results in {args.out}/{args.name}/")
    return 0


def report(args: argparse.Namespace) -> int:
    """``attnlab report``: the HTML report, or (``--markdown``) the reference results' Markdown page."""
    if args.record_quick:
        from .sources import record_quick

        try:
            print(f"wrote {record_quick(args.record_quick)}")
        except ValueError as err:
            raise UsageError(str(err)) from None
        return 0
    if args.markdown:
        from . import write_markdown

        print(f"wrote {write_markdown(args.markdown)}")
        return 0
    from . import build_report

    for path in build_report(args.out, args.runs):
        print(f"wrote {path}")
    return 0


def _run_one(name: str, profile: str, runs, seeds, threads: int):
    """One experiment of the demo (in a worker process): ``(result, None)`` or ``(None, why skipped)``."""
    from attnlab.data.base import DatasetUnavailable
    from attnlab.experiments import get_experiment, run_experiment

    try:
        return run_experiment(
            get_experiment(name), profile, runs, seeds=seeds, threads=threads, force=True
        ), None
    except DatasetUnavailable as err:  # the report still shows the reference result
        return None, str(err)


def _longest_first(experiments: list) -> list:
    """``experiments`` by the quick wall time recorded in ``quick.json``, longest first (those without a
    recorded time first of all), so that the last experiments to start are short ones and no worker
    waits long for another at the end (longest-processing-time-first scheduling)."""
    from .sources import quick_record

    try:
        record = quick_record() or {"verdicts": {}}
    except (ValueError, OSError):  # an unreadable quick.json must not stop the demo: the course's order
        record = {"verdicts": {}}
    seconds = {name: entry.get("wall_time_s") for name, entry in record["verdicts"].items()}
    return sorted(experiments, key=lambda e: -(seconds.get(e.name) or math.inf))


def _demo_runs(args: argparse.Namespace, experiments: list, runs):
    """Yield ``(exp, result, skipped_reason)`` as experiments finish: timing experiments first, one at a
    time with the command's threads, then the others ``args.jobs`` at a time, 1 thread each."""
    timed = [e for e in experiments if e.timing]
    rest = [e for e in experiments if not e.timing]
    if args.jobs <= 1:
        for exp in timed + rest:
            yield (exp, *_run_one(exp.name, args.profile, runs, args.seed, threads(args, exp)))
        return
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from multiprocessing import get_context

    for exp in timed:
        yield (exp, *_run_one(exp.name, args.profile, runs, args.seed, threads(args, exp)))
    # spawn, not fork: a forked child would inherit this process's torch thread pools
    with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
        futures = {
            pool.submit(_run_one, e.name, args.profile, runs, args.seed, 1): e for e in _longest_first(rest)
        }
        for future in as_completed(futures):
            yield (futures[future], *future.result())


def demo(args: argparse.Namespace) -> int:
    """Every experiment's quick profile, run live, then the report with the reference results."""
    from pathlib import Path

    from attnlab.experiments import EXPERIMENTS
    from attnlab.progress import progress

    from . import agrees, build_report, reference_result
    from .sources import quick_tally

    announce_threads(args)
    if args.jobs is not None and args.jobs < 1:
        raise UsageError(f"--jobs: expected >= 1, got {args.jobs}")
    if args.jobs is None:
        args.jobs = 1 if args.threads is not None else args.auto_threads
    if args.jobs > 1:
        print(f"attnlab demo: {args.jobs} experiments at a time, 1 torch thread each (timing experiments "
              f"first, alone, with {args.auto_threads})", file=sys.stderr, flush=True)  # fmt: skip
    runs = Path(args.out) / "runs"
    experiments = list(EXPERIMENTS.values())
    stages = progress(
        _demo_runs(args, experiments, runs), total=len(experiments), desc="demo", unit="experiment"
    )
    verdicts, references, skipped = {}, {}, []
    for exp, result, why in stages:
        if result is None:
            skipped.append(exp.name)
            stages.write(f"[{exp.lesson}] {exp.name}: skipped: {why}")
            continue
        verdicts[exp.name] = result.verdict
        reference = reference_result(exp.name)
        if reference is None:
            note = "no reference yet"
        else:
            references[exp.name] = reference.verdict
            same = agrees(reference, result)
            note = f"reference: {reference.verdict}, {'agrees' if same else 'differs'}"
            if not same and args.profile == "quick" and exp.quick_limit:
                note += "; expected: its quick profile is too small to show all of it"
        stages.write(f"[{exp.lesson}] {exp.name} ({result.wall_time_s:.1f} s): {result.verdict} ({note})")
    pages = build_report(args.out, runs)
    tally = quick_tally(verdicts, references)
    agreeing, compared, differing = (
        len(tally["agreeing"]),
        len(tally["compared"]),
        tally["limited"] + tally["sized"],
    )
    print(f"\n{args.profile} verdicts agreeing with the reference: {agreeing} of {compared} with a reference")
    if differing and args.profile == "quick":
        print(
            f"of the {len(differing)} that differ, {len(tally['limited'])} have quick profiles too small to show "
            "all of it (the report says why); the others are sized to show it"
        )
    elif differing and args.profile != "full":
        print(f"({args.profile} profiles are too small to show the effects: a different verdict is expected)")
    if skipped:
        print(f"skipped (real data not installed; `make data` installs it): {', '.join(skipped)}")
    print(f"report: {pages[0]} (中文: {pages[1]})")
    return 0
