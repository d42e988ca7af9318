"""The ``attnlab`` command line.

It parses the command line and dispatches: each command's logic lives with its layer (``attnlab.app``
for list/train/eval/show/data, ``attnlab.report.commands`` for run/demo/report, ``attnlab.serve``,
``attnlab.bench``). Errors in user input end with one clear line and exit status 2, never a raw
traceback (set ``ATTNLAB_DEBUG=1`` to see one).
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback

from attnlab.app.errors import UsageError
from attnlab.data.base import DatasetUnavailable

__all__ = ["UsageError", "build_parser", "main"]


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line (``attnlab CMD: error: ...``), exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _dispatch(target: str):
    """The command ``module:function``, imported only when that command runs."""

    def command(args: argparse.Namespace) -> int:
        import importlib

        module, name = target.split(":")
        return getattr(importlib.import_module(module), name)(args)

    command.__qualname__ = command.__name__ = target.rsplit(":", 1)[1]
    return command


def cmd_bench(args: argparse.Namespace) -> int:
    import importlib

    from attnlab.threads import configure

    configure(args.threads)
    return importlib.import_module(f"attnlab.bench.{args.suite}").run(args)


THREADS_HELP = (
    "torch threads (default: $ATTNLAB_THREADS, else the CPUs this process may use, 1 when the machine "
    "is already busy); printed on stderr"
)
PROFILE_HELP = (
    "smoke (seconds, checks that it runs), quick (minutes, the demo) or full (the reference results: "
    "3 seeds, 1 thread each); default quick"
)


def add_threads_argument(p: argparse.ArgumentParser, text: str = THREADS_HELP) -> None:
    """``--threads N`` (see :mod:`attnlab.threads`)."""
    p.add_argument("--threads", type=int, default=None, metavar="N", help=text)


def _add_seed_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--seed", type=int, action="append", default=None, metavar="S",
        help="run this seed (repeatable; default: the profile's seeds, 3 for full, 1 otherwise)",
    )  # fmt: skip
    add_threads_argument(
        p,
        "torch threads per run (default: $ATTNLAB_THREADS, else 1 for full profiles of experiments that do "
        "not time the machine, else the CPUs this process may use, 1 when the machine is already busy); "
        "printed and recorded in results.json",
    )


def build_parser() -> argparse.ArgumentParser:
    from attnlab import __version__

    parser = OneLineParser(
        prog="attnlab",
        description="Attention mechanisms, implemented once, checked against an oracle, trained and shown.",
    )
    parser.add_argument("--version", action="version", version=f"attnlab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("list", help="list attention backends, masks, score mods and position encodings")
    p.set_defaults(func=_dispatch("attnlab.app.listing:run"))

    p = sub.add_parser(
        "demo", help="run every experiment's quick profile and write the report beside the reference results"
    )
    p.add_argument("--out", default="attnlab-report", help="report folder (default: attnlab-report)")
    p.add_argument("--profile", default="quick", choices=["smoke", "quick", "full"], help=PROFILE_HELP)
    _add_seed_arguments(p)
    p.add_argument(
        "--jobs", type=int, default=None, metavar="J",
        help="experiments run at once, one process each (default: the CPUs the thread choice finds free, "
        "1 thread each; 1 when --threads is given). Timing experiments run first, alone",
    )  # fmt: skip
    p.set_defaults(func=_dispatch("attnlab.report.commands:demo"))

    from attnlab.experiments import EXPERIMENTS

    p = sub.add_parser("run", help="run one experiment (a course claim) and write results.json and figures")
    p.add_argument(
        "name", choices=list(EXPERIMENTS), metavar="NAME", help=f"one of: {', '.join(EXPERIMENTS)}"
    )
    p.add_argument("--profile", default="quick", choices=["smoke", "quick", "full"], help=PROFILE_HELP)
    p.add_argument("--out", default="attnlab-runs", help="runs folder (default: attnlab-runs)")
    _add_seed_arguments(p)
    p.add_argument(
        "--force", action="store_true", help="rerun seeds already in the runs folder (default: skip them)"
    )
    p.set_defaults(func=_dispatch("attnlab.report.commands:run"))

    p = sub.add_parser(
        "report", help="build the HTML report: the reference results, and your runs next to them"
    )
    p.add_argument("--runs", default="attnlab-runs", help="runs folder (default: attnlab-runs)")
    p.add_argument("--out", default="attnlab-report", help="report folder (default: attnlab-report)")
    instead = p.add_mutually_exclusive_group()
    instead.add_argument(
        "--markdown", default=None, metavar="PATH",
        help="instead, write the Markdown page of the reference results to PATH (docs/results.md)",
    )  # fmt: skip
    instead.add_argument(
        "--record-quick", default=None, metavar="RUNS",
        help="instead, record the quick verdicts of a demo's runs folder (attnlab-report/runs) beside the "
        "reference results, for docs/results.md",
    )  # fmt: skip
    p.set_defaults(func=_dispatch("attnlab.report.commands:report"))

    _add_bench(sub)

    p = sub.add_parser("show", help="one attention map of a model on a text: PNG heatmap + terminal view")
    p.add_argument("model", help="a demo model (coffee-qa...), minilm, a checkpoint or Hugging Face folder")
    p.add_argument("text", help="the input text")
    p.add_argument("--layer", type=int, default=None, help="layer index (default: the last)")
    p.add_argument("--head", type=int, default=None, help="head index (default: the mean of all heads)")
    p.add_argument("--kind", choices=["encoder", "decoder", "cross", "pooling"], default=None)
    p.add_argument("--out", default="attnlab-out/show.png", help="PNG file (default: attnlab-out/show.png)")
    p.add_argument("--max-tokens", type=int, default=128, help="refuse longer texts (default 128)")
    p.add_argument("--models", default=None, help="a folder of runs / Hugging Face folders MODEL may name")
    p.set_defaults(func=_dispatch("attnlab.app.show:run"))

    _add_serve(sub)
    _add_optional_commands(sub)
    return parser


def _add_bench(sub) -> None:
    """``attnlab bench SUITE``: each suite module of :mod:`attnlab.bench` adds its own arguments."""
    p = sub.add_parser("bench", help="run a benchmark and print its table")
    bench_sub = p.add_subparsers(dest="suite", metavar="SUITE", required=True)
    from attnlab.bench import attention, efficient, serve

    for suite, help_text in (
        (attention, "dense backends vs direct SDPA: time, GFLOP/s, memory"),
        (efficient, "local, block-sparse, linear, Performer vs dense SDPA"),
        (serve, "the explorer under concurrent clients: errors, requests/s, p50/p99 latency"),
    ):
        b = bench_sub.add_parser(suite.__name__.rsplit(".", 1)[1], help=help_text, description=suite.__doc__)
        suite.add_arguments(b)
        add_threads_argument(b)
        b.set_defaults(func=cmd_bench)


def _add_serve(sub) -> None:
    p = sub.add_parser("serve", help="local web explorer of attention maps (http://127.0.0.1:8765)")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default: 127.0.0.1, this machine)")
    p.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 = any free port)")
    p.add_argument("--models", default=None, help="a folder of runs / Hugging Face folders to offer too")
    p.add_argument(
        "--max-tokens", type=int, default=128, help="longest text accepted (default 128, at most 512)"
    )
    p.add_argument(
        "--workers",
        type=int,
        default=8,
        help="worker threads answering requests (default 8; more wait in a queue)",
    )
    p.add_argument("--quiet", action="store_true", help="no request log on stderr")
    add_threads_argument(p)
    p.set_defaults(func=_dispatch("attnlab.serve:run"))


def _add_optional_commands(sub) -> None:
    """Commands whose parsers live with them in :mod:`attnlab.app` (each module exposes ``add_parser``)."""
    from attnlab.app import data_commands, inference, train

    data_commands.add_parser(sub)
    p = sub.add_parser("course", help="the course map: every topic, the lesson, API and command that show it")
    p.add_argument("--lang", choices=("both", "zh", "en"), default="both", help="language(s) of the map")
    p.add_argument("--markdown", metavar="PATH", help="write the map as Markdown (docs/course.md) instead")
    p.set_defaults(func=_dispatch("attnlab.report.course:run"))
    train.add_parser(sub)
    inference.add_parsers(sub)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except (UsageError, ValueError, FileNotFoundError, DatasetUnavailable) as e:
        if os.environ.get("ATTNLAB_DEBUG"):
            traceback.print_exc()
        print(f"attnlab {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `attnlab list | head`: the reader left, nothing is wrong
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as e:  # a bug: say so plainly, keep the traceback one variable away
        if os.environ.get("ATTNLAB_DEBUG"):
            raise
        print(
            f"attnlab {args.command}: internal error: {type(e).__name__}: {e}\n"
            "(run again with ATTNLAB_DEBUG=1 to see the traceback)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
